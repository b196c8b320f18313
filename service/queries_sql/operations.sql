-- Operations: what /metrics reads (SPEC section 9). The service's own connection.

-- name: metrics_snapshot
SELECT workflow.metrics_snapshot()::text;
