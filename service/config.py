"""Every setting of pg-workflow, declared once (SPEC section 2).

``OPTIONS`` is the single source of truth: each environment variable's name,
default, type and help. ``Settings`` (the service) and the dispatcher's
settings are read from it, ``pg-workflow --help`` lists it, and a test checks
that README's configuration table says the same. An invalid value is a
``ConfigError`` naming the variable, which the CLI turns into exit status 2.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """An environment variable or option has a value we cannot use."""


def _default_data_dir() -> Path:
    # When run as root the embedded cluster runs as user postgres, which
    # cannot enter /root: keep its data under /var/lib instead.
    if os.geteuid() == 0:
        return Path("/var/lib/pg-workflow")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pg-workflow"


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _parse_list(raw: str) -> tuple[str, ...]:
    """A comma- or space-separated list."""
    return tuple(part for part in raw.replace(",", " ").split() if part)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "list": _parse_list,
    "str": str,
    "int": int,
    "float": float,
    "bool": _parse_bool,
    "path": Path,
}


@dataclass(frozen=True)
class Option:
    """One environment variable: ``field`` is its attribute on the settings object of ``section``."""

    env: str
    field: str
    kind: str  # str | int | float | bool | path | list (comma or space separated)
    default: Any  # None: unset (or computed, see default_text); a callable: computed at start
    help: str
    section: str = "service"  # service | dispatcher | retention
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False  # strictly greater than zero
    choices: tuple[str, ...] | None = None
    default_text: str | None = None  # how README and --help show a computed or unset default

    def show_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        if self.default is None or self.default == ():
            return "none"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, float) and self.default.is_integer():
            return str(int(self.default))
        return str(self.default)

    def parse(self, raw: str) -> Any:
        try:
            value = _PARSERS[self.kind](raw.strip() if self.kind != "str" else raw)
        except ValueError:
            raise ConfigError(f"{self.env}={raw!r} is not a valid {self.kind}") from None
        if self.choices is not None and str(value).lower() not in self.choices:
            raise ConfigError(f"{self.env}={raw!r}: expected one of {', '.join(self.choices)}")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"{self.env}={raw!r}: must be at least {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"{self.env}={raw!r}: must be at most {self.maximum:g}")
        if self.positive and value <= 0:
            raise ConfigError(f"{self.env}={raw!r}: must be greater than 0")
        return value.lower() if self.choices is not None else value

    def value(self, env: Mapping[str, str]) -> Any:
        raw = env.get(self.env, "")
        if raw == "":
            return self.default() if callable(self.default) else self.default
        return self.parse(raw)


_LEVELS = ("critical", "error", "warning", "info", "debug")

OPTIONS: tuple[Option, ...] = (
    # -- where to listen and which database ---------------------------------
    Option("DATABASE_URL", "database_url", "str", None,
           "PostgreSQL URL (or libpq key=value string). Without it a private cluster is started with the system "
           "initdb/pg_ctl, listening only on a unix socket in its data directory.",
           default_text="none → embedded"),
    Option("PGW_DATA_DIR", "data_dir", "path", _default_data_dir, "data directory of the embedded cluster",
           default_text="/var/lib/pg-workflow (root), ~/.local/share/pg-workflow"),
    Option("HOST", "host", "str", "0.0.0.0", "listen address"),
    Option("PORT", "port", "int", 3042, "listen port", minimum=0),
    Option("WF_DEFAULT_APP_ID", "default_app_id", "str", "default",
           "the implicit application of single-tenant mode, created at start"),
    Option("WF_ENABLE_POLLER", "enable_poller", "bool", True, "run the queue dispatcher in this replica"),
    # -- limits and timeouts (SPEC section 14) ------------------------------
    Option("WF_MAX_BODY_BYTES", "max_body_bytes", "int", 32 * 1024 * 1024,
           "largest request body; larger ones get 413 WF_PAYLOAD_TOO_LARGE", minimum=1),
    Option("WF_DB_POOL_MIN", "pool_min_size", "int", 2, "database connections kept open", minimum=0),
    Option("WF_DB_POOL_MAX", "pool_max_size", "int", 20, "most database connections for API requests", minimum=1),
    Option("WF_DB_POOL_TIMEOUT_SECONDS", "pool_timeout", "float", 5.0,
           "longest wait for a free database connection; then 503 WF_BUSY", positive=True),
    Option("WF_DB_CONNECT_TIMEOUT_SECONDS", "connect_timeout", "int", 5,
           "longest wait for PostgreSQL to accept a new connection", minimum=1),
    Option("WF_DB_STATEMENT_TIMEOUT_SECONDS", "statement_timeout", "float", 15.0,
           "longest API statement; then 503 WF_BUSY (0 = no limit)", minimum=0),
    Option("WF_DB_LOCK_TIMEOUT_SECONDS", "lock_timeout", "float", 2.0,
           "longest wait of an API statement for a row lock (e.g. a busy run); then 503 WF_BUSY (0 = no limit)",
           minimum=0),
    # -- per-app capacity (issue 16, quota maxConcurrentRequests) --
    Option("WF_APP_MAX_CONCURRENT_REQUESTS", "app_max_concurrent_requests", "int", None,
           "requests of one app that may use the database at once in this replica, for apps whose quota "
           "maxConcurrentRequests is 0; more get 429 WF_QUOTA_EXCEEDED at once (0 = no cap)", minimum=0,
           default_text="WF_DB_POOL_MAX / 2 (multi-tenant), 0 (single-tenant)"),
    Option("WF_APP_QUOTA_CACHE_SECONDS", "app_quota_cache_seconds", "float", 5.0,
           "each replica reloads the apps' maxConcurrentRequests quotas this often: a change applies within it",
           positive=True),
    Option("WF_HTTP_HEADER_TIMEOUT_SECONDS", "header_timeout", "float", 10.0,
           "a client must send a request's whole header block within this time, else the connection is closed",
           positive=True),
    Option("WF_HTTP_BODY_TIMEOUT_SECONDS", "body_timeout", "float", 30.0,
           "a client must send a request's whole body within this time, else 408 and the connection is closed",
           positive=True),
    # -- observability -------------------------------------------------------
    Option("WF_ACCESS_LOG", "access_log", "bool", True, "log one line per HTTP request"),
    Option("LOG_LEVEL", "log_level", "str", "info", "Python log level", choices=_LEVELS),
    Option("WF_LOG_FORMAT", "log_format", "str", "text", "log line format: text or json (one object per line)",
           choices=("text", "json")),
    Option("WF_METRICS_CACHE_SECONDS", "metrics_cache_seconds", "float", 5.0,
           "/metrics reads queue depth and active runs from the database at most this often", minimum=0),
    Option("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", "path", None,
           "set when several processes serve one port: /metrics then sums their counters (prometheus-client "
           "multiprocess mode)"),
    # -- Kubernetes (multi-tenant mode) ---------------------------------------
    Option("K8S_API_SERVER", "k8s_api_server", "str", "https://kubernetes.default.svc",
           "where TokenReviews go (multi-tenant mode)"),
    Option("K8S_ADMIN_SERVICE_ACCOUNT", "k8s_admin_service_account", "str", None,
           "namespace:name of the service account that may call the admin API and act for every app"),
    Option("K8S_SERVICE_ACCOUNT_DIR", "k8s_service_account_dir", "path",
           Path("/var/run/secrets/kubernetes.io/serviceaccount"),
           "the service's own token there signs the TokenReviews (re-read for each one; with WF_MODE=auto its "
           "presence means multi-tenant mode) and ca.crt there verifies the API server"),
    Option("WF_MODE", "mode", "str", "auto",
           "single-tenant (no authentication), multi-tenant (TokenReview) or auto: multi-tenant when the token file "
           "exists, else single-tenant — except in Kubernetes, where auto without a token refuses to start",
           choices=("auto", "single-tenant", "multi-tenant")),
    Option("WF_TOKEN_AUDIENCE", "token_audiences", "list", ("pg-workflow",),
           "callers' tokens must be issued for this audience (TokenReview spec.audiences, checked in its "
           "status.audiences); clients project such a token (README, Multi-tenant mode). Several (comma "
           "separated) accept a token for any of them, e.g. while apps move to projected tokens",
           default_text="pg-workflow"),
    Option("KUBERNETES_SERVICE_HOST", "kubernetes_service_host", "str", None,
           "set by Kubernetes in every pod; read only to tell that the service runs in Kubernetes (WF_MODE=auto)"),
    Option("K8S_TOKEN_REVIEW_TIMEOUT_SECONDS", "k8s_review_timeout", "float", 5.0,
           "a TokenReview not answered in time is a 503", positive=True),
    Option("WF_AUTH_CACHE_SECONDS", "auth_cache_seconds", "float", 300.0,
           "how long a successful review is trusted (never past the token's own exp; a revoked token must stop "
           "working soon, so at most 300)", minimum=0, maximum=300),
    Option("WF_AUTH_CACHE_ENTRIES", "auth_cache_entries", "int", 10_000,
           "for how many tokens a successful review is trusted", minimum=1),
    # -- outbound policy for deliveries (service/outbound.py) -----------------
    Option("WF_HANDLER_ALLOW_NETWORKS", "handler_allow_networks", "list", (),
           "CIDRs (comma or space separated) deliveries may also reach, bypassing the multi-tenant loopback and "
           "own-address rules: keep them narrow, e.g. 10.20.30.40/32 for a shared ingress, or 127.0.0.0/8 for local "
           "testing"),
    Option("WF_HANDLER_DENY_NETWORKS", "handler_deny_networks", "list", (),
           "CIDRs deliveries never reach (wins over the allow list)"),
    # -- DevKit 5 runs.waitForTerminalStatus long polls (service/run_waiters.py) --
    Option("WF_RUN_WAIT_MAX_SECONDS", "run_wait_max_seconds", "float", 50.0,
           "longest a terminal-status long poll is held (a longer timeoutMs is clamped to it); then the run's "
           "current snapshot is answered", positive=True, maximum=300),
    Option("WF_RUN_WAITERS_PER_APP", "run_waiters_per_app", "int", 100,
           "terminal-status long polls one app may hold open on one replica; beyond it 429 WF_TOO_MANY_WAITERS",
           minimum=1),
    # -- queue dispatcher (SPEC section 6) -----------------------------------
    Option("WF_QUEUE_CONCURRENCY", "concurrency", "int", 100,
           "deliveries in flight per replica (HTTP connection pool size)", "dispatcher", minimum=1),
    Option("WF_QUEUE_BATCH_SIZE", "batch_size", "int", 100, "messages claimed per claim transaction",
           "dispatcher", minimum=1),
    Option("WF_QUEUE_HANDLER_TIMEOUT_SECONDS", "handler_timeout", "float", 300.0,
           "a whole delivery (name lookup, connection, answer) must finish within this time, else it is a failed "
           "attempt", "dispatcher", positive=True),
    Option("WF_QUEUE_LEASE_SECONDS", "lease_seconds", "float", None,
           "claim lease: the backstop for a replica that hangs while still connected (a dead one's claims come "
           "back through its session)", "dispatcher", positive=True, default_text="handler timeout + 30"),
    Option("WF_QUEUE_SESSION_GRACE_SECONDS", "session_grace", "float", 5.0,
           "a dispatcher session whose connection is gone this long has its claims handed back (its owner may "
           "resume it sooner)", "dispatcher", minimum=0),
    Option("WF_QUEUE_SESSION_CHECK_SECONDS", "session_check", "float", 1.0,
           "how often each replica looks for dead sessions", "dispatcher", positive=True),
    Option("WF_REPLICA_NAME", "replica_name", "str", None,
           "the replica's session name: a restart under the same name takes its dead predecessor's claims at once",
           default_text="<hostname>:<port>"),
    Option("WF_QUEUE_MAX_ATTEMPTS", "max_attempts", "int", 50,
           "failed deliveries before a message is dead-lettered", "dispatcher", minimum=1),
    Option("WF_QUEUE_RETRY_BASE_SECONDS", "retry_base", "float", 1.0,
           "retry backoff: doubles per failure up to the cap, ±20 % jitter", "dispatcher", minimum=0),
    Option("WF_QUEUE_RETRY_MAX_SECONDS", "retry_max", "float", 300.0, "cap of the retry backoff",
           "dispatcher", minimum=0),
    Option("WF_HANDLER_COOLDOWN_SECONDS", "cooldown", "float", 5.0,
           "a pod that refused a connection gets no deliveries for this long", "dispatcher", minimum=0),
    Option("WF_HANDLER_GRACE_SECONDS", "grace", "float", 60.0,
           "a pod refusing connections for longer than this is no longer live", "dispatcher", minimum=0),
    Option("WF_QUEUE_RETENTION_SECONDS", "retention", "float", 3600.0,
           "delivered messages are kept this long so idempotency keys still deduplicate (purged by the retention "
           "job)", "dispatcher", minimum=0),
    # -- retention job (SPEC section 14) ---------------------------------------
    Option("WF_RETENTION_INTERVAL_SECONDS", "interval", "float", 300.0,
           "how often this replica runs the retention job; 0: never", "retention", minimum=0),
    Option("WF_RETENTION_RUN_DAYS", "run_days", "float", 30.0,
           "terminal runs (with their events, steps, hooks, waits, streams) are purged this long after they ended; "
           "0: kept", "retention", minimum=0),
    Option("WF_RETENTION_DEAD_LETTER_DAYS", "dead_letter_days", "float", 14.0,
           "dead letters are purged this long after they died; 0: kept", "retention", minimum=0),
    Option("WF_RETENTION_HEALTH_CHECK_SECONDS", "health_checks", "float", 3600.0,
           "__health_check__* streams are purged this long after they were written; 0: kept", "retention",
           minimum=0),
    Option("WF_RETENTION_BATCH", "batch", "int", 500, "rows per purge transaction", "retention",
           minimum=1, maximum=100000),
    Option("WF_QUEUE_DRAIN_SECONDS", "drain", "float", 5.0,
           "on shutdown, wait this long for deliveries in flight, then release the rest", "dispatcher", minimum=0),
    # -- bounded outbound I/O of deliveries (service/delivery.py, service/resolver.py) --
    Option("WF_QUEUE_MAX_ANSWER_BYTES", "max_answer_bytes", "int", 64 * 1024,
           "most bytes read of a handler's 2xx answer (never decompressed); a larger or content-encoded answer is "
           "a failed attempt", "dispatcher", minimum=256, maximum=16 * 1024 * 1024),
    Option("WF_QUEUE_RESOLVE_TIMEOUT_SECONDS", "resolve_timeout", "float", 5.0,
           "longest name lookup of a handler host, slot wait included (and never past the handler timeout, which "
           "covers the lookup); a failed or timed-out lookup is a failed attempt", "dispatcher", positive=True),
    Option("WF_QUEUE_RESOLVE_CONCURRENCY", "resolve_concurrency", "int", 64,
           "name lookups in flight per replica, all apps together", "dispatcher", minimum=1),
    Option("WF_QUEUE_RESOLVE_CONCURRENCY_PER_APP", "resolve_concurrency_per_app", "int", 8,
           "name lookups in flight per replica for one app", "dispatcher", minimum=1),
    # -- noisy neighbours: fair, bounded claims and registration leases (docs/operations.md) --
    Option("WF_QUEUE_APP_CONCURRENCY", "app_concurrency", "int", None,
           "most deliveries of one app in flight per replica, so one app's slow handlers cannot hold every slot",
           "dispatcher", minimum=1, default_text="WF_QUEUE_CONCURRENCY / 4"),
    Option("WF_QUEUE_BATCH_BYTES", "batch_bytes", "int", 4 * 1024 * 1024,
           "most message bytes per claim (at least one message); a larger message is dead-lettered", "dispatcher",
           minimum=1),
    Option("WF_QUEUE_SNAPSHOT_MAX_BYTES", "snapshot_max_bytes", "int", 1024 * 1024,
           "a larger run snapshot is left out of the delivery (the runtime asks for run_started itself)",
           "dispatcher", minimum=0),
    Option("WF_QUEUE_MIN_REDELIVERY_SECONDS", "min_redelivery", "float", 0.1,
           "floor of a {\"timeoutSeconds\": n} answer's delay (each such redelivery also counts against the "
           "app's maxQueuePerMinute)", "dispatcher", minimum=0, maximum=60),
    Option("WF_QUEUE_ASYNC_COMMIT", "async_commit", "bool", True,
           "claims and acks commit without waiting for the WAL flush (synchronous_commit = off for those "
           "transactions only): a PostgreSQL crash can lose those of its last 3 wal_writer_delay periods (0.6 s "
           "by default), which only redelivers those messages (counted in wf_deliveries_repeated); false: the "
           "server's setting", "dispatcher"),
    Option("WF_QUEUE_ACKS_WITH_CLAIMS", "acks_with_claims", "bool", False,
           "true: delivery results waiting to be settled when the dispatcher claims are settled in the claim's "
           "transaction (workflow.settle_and_claim: one transaction and round trip instead of two; no gain "
           "measured with PostgreSQL on the same host, see bench/RESULTS.md); false: every ack batch on its own",
           "dispatcher"),
    Option("WF_HANDLER_TTL_SECONDS", "handler_ttl", "float", 60.0,
           "a handler registration expires this long after it was made unless renewed (the client World renews "
           "it); 0: never", minimum=0, maximum=86400),
    Option("WF_SERVICE_STATEMENT_TIMEOUT_SECONDS", "service_statement_timeout", "float", 60.0,
           "longest statement on the service's own connections (dispatcher, retention, metrics; 0 = no limit)",
           minimum=0),
    Option("WF_SERVICE_LOCK_TIMEOUT_SECONDS", "service_lock_timeout", "float", 5.0,
           "longest lock wait on the service's own connections (0 = no limit)", minimum=0),
)

BY_ENV: dict[str, Option] = {option.env: option for option in OPTIONS}


def read_section(section: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The values of one section's options (field name → value) from ``env`` (default: the process's)."""
    source = os.environ if env is None else env
    return {option.field: option.value(source) for option in OPTIONS if option.section == section}


def log_level(name: str) -> int:
    return logging.getLevelNamesMapping()[name.upper()]


def _default(env: str) -> Any:
    """An option's default as a dataclass default, so Settings(...) in code and tests needs no copy of it."""
    option = BY_ENV[env]
    if callable(option.default):
        return field(default_factory=option.default)
    return option.default


@dataclass(frozen=True)
class Settings:
    """The service's settings (the ``service`` section of OPTIONS); every default comes from there."""

    database_url: str | None = _default("DATABASE_URL")
    data_dir: Path = _default("PGW_DATA_DIR")  # noqa: RUF009 (Paths are immutable)
    host: str = _default("HOST")
    port: int = _default("PORT")
    default_app_id: str = _default("WF_DEFAULT_APP_ID")
    enable_poller: bool = _default("WF_ENABLE_POLLER")
    max_body_bytes: int = _default("WF_MAX_BODY_BYTES")
    pool_min_size: int = _default("WF_DB_POOL_MIN")
    pool_max_size: int = _default("WF_DB_POOL_MAX")
    pool_timeout: float = _default("WF_DB_POOL_TIMEOUT_SECONDS")
    connect_timeout: int = _default("WF_DB_CONNECT_TIMEOUT_SECONDS")
    statement_timeout: float = _default("WF_DB_STATEMENT_TIMEOUT_SECONDS")
    lock_timeout: float = _default("WF_DB_LOCK_TIMEOUT_SECONDS")
    header_timeout: float = _default("WF_HTTP_HEADER_TIMEOUT_SECONDS")
    body_timeout: float = _default("WF_HTTP_BODY_TIMEOUT_SECONDS")
    access_log: bool = _default("WF_ACCESS_LOG")
    log_level: str = _default("LOG_LEVEL")
    log_format: str = _default("WF_LOG_FORMAT")
    metrics_cache_seconds: float = _default("WF_METRICS_CACHE_SECONDS")
    prometheus_multiproc_dir: Path | None = _default("PROMETHEUS_MULTIPROC_DIR")  # noqa: RUF009 (Paths are immutable)
    k8s_api_server: str = _default("K8S_API_SERVER")
    k8s_admin_service_account: str | None = _default("K8S_ADMIN_SERVICE_ACCOUNT")
    k8s_service_account_dir: Path = _default("K8S_SERVICE_ACCOUNT_DIR")  # noqa: RUF009 (Paths are immutable)
    mode: str = _default("WF_MODE")
    token_audiences: tuple[str, ...] = _default("WF_TOKEN_AUDIENCE")
    kubernetes_service_host: str | None = _default("KUBERNETES_SERVICE_HOST")
    k8s_review_timeout: float = _default("K8S_TOKEN_REVIEW_TIMEOUT_SECONDS")
    auth_cache_seconds: float = _default("WF_AUTH_CACHE_SECONDS")
    auth_cache_entries: int = _default("WF_AUTH_CACHE_ENTRIES")
    handler_allow_networks: tuple[str, ...] = _default("WF_HANDLER_ALLOW_NETWORKS")
    handler_deny_networks: tuple[str, ...] = _default("WF_HANDLER_DENY_NETWORKS")
    run_wait_max_seconds: float = _default("WF_RUN_WAIT_MAX_SECONDS")
    run_waiters_per_app: int = _default("WF_RUN_WAITERS_PER_APP")
    replica_name: str | None = _default("WF_REPLICA_NAME")
    app_max_concurrent_requests: int | None = _default("WF_APP_MAX_CONCURRENT_REQUESTS")
    app_quota_cache_seconds: float = _default("WF_APP_QUOTA_CACHE_SECONDS")
    handler_ttl: float = _default("WF_HANDLER_TTL_SECONDS")
    service_statement_timeout: float = _default("WF_SERVICE_STATEMENT_TIMEOUT_SECONDS")
    service_lock_timeout: float = _default("WF_SERVICE_LOCK_TIMEOUT_SECONDS")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from the environment; ``overrides`` (command-line options) win when not None."""
        values = read_section("service", env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        if settings.pool_min_size > settings.pool_max_size:
            raise ConfigError(f"WF_DB_POOL_MIN ({settings.pool_min_size}) exceeds WF_DB_POOL_MAX "
                              f"({settings.pool_max_size})")
        return settings

    @property
    def app_request_cap(self) -> int:
        """The default per-app cap (0: none): with one tenant there is no neighbour to keep a share for."""
        if self.app_max_concurrent_requests is not None:
            return self.app_max_concurrent_requests
        return max(1, self.pool_max_size // 2) if self.multi_tenant else 0

    @property
    def multi_tenant(self) -> bool:
        """Whether requests are authenticated (the mode ``tenancy`` settles on)."""
        return self.tenancy().mode == MULTI_TENANT

    def tenancy(self) -> Tenancy:
        """The mode this service runs in and why, or ConfigError when WF_MODE contradicts the environment.

        The danger is a multi-tenant deployment that silently runs open: a
        missing token mount must not give an unauthenticated service with open
        admin routes. So without a token, Kubernetes (KUBERNETES_SERVICE_HOST,
        set in every pod) runs single-tenant only when WF_MODE says so by name.
        """
        token = self.k8s_service_account_dir / "token"
        has_token = token.exists()
        if self.mode == SINGLE_TENANT:
            why = "WF_MODE=single-tenant"
            if has_token:
                why += f" (the service-account token in {token} is not used: requests are not authenticated)"
            return Tenancy(SINGLE_TENANT, why)
        if self.mode == MULTI_TENANT:
            if not has_token:
                raise ConfigError(
                    f"WF_MODE=multi-tenant but there is no service-account token at {token} "
                    "(K8S_SERVICE_ACCOUNT_DIR): mount the pod's token (automountServiceAccountToken: true), "
                    "or set WF_MODE=single-tenant to run without authentication")
            return Tenancy(MULTI_TENANT, f"WF_MODE=multi-tenant, service-account token at {token}")
        if has_token:
            return Tenancy(MULTI_TENANT, f"WF_MODE=auto and a service-account token at {token}")
        if self.kubernetes_service_host:
            raise ConfigError(
                f"running in Kubernetes (KUBERNETES_SERVICE_HOST is set) with no service-account token at {token} "
                "(K8S_SERVICE_ACCOUNT_DIR) and WF_MODE=auto: refusing to start without authentication. Mount the "
                "token for multi-tenant mode (WF_MODE=multi-tenant), or set WF_MODE=single-tenant to run "
                "unauthenticated on purpose")
        return Tenancy(SINGLE_TENANT, f"WF_MODE=auto, no service-account token at {token} and not in Kubernetes "
                                      "(KUBERNETES_SERVICE_HOST unset)")


SINGLE_TENANT = "single-tenant"
MULTI_TENANT = "multi-tenant"


@dataclass(frozen=True)
class Tenancy:
    """The mode the service runs in (single-tenant | multi-tenant) and the settings that decided it."""

    mode: str
    reason: str


_DAY = 86400.0


@dataclass(frozen=True)
class RetentionSettings:
    """The retention job's settings (README, Retention): ages in seconds; 0 keeps that kind of data forever."""

    interval: float = _default("WF_RETENTION_INTERVAL_SECONDS")  # 0: no retention job on this replica
    runs: float = _default("WF_RETENTION_RUN_DAYS") * _DAY
    dead_letters: float = _default("WF_RETENTION_DEAD_LETTER_DAYS") * _DAY
    delivered: float = _default("WF_QUEUE_RETENTION_SECONDS")  # the idempotency window
    health_checks: float = _default("WF_RETENTION_HEALTH_CHECK_SECONDS")
    batch: int = _default("WF_RETENTION_BATCH")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetentionSettings:
        """The ``retention`` section of OPTIONS (days become seconds) and the dispatcher's idempotency window."""
        source = os.environ if env is None else env
        values = read_section("retention", source)
        return cls(
            interval=values["interval"],
            runs=values["run_days"] * _DAY,
            dead_letters=values["dead_letter_days"] * _DAY,
            delivered=BY_ENV["WF_QUEUE_RETENTION_SECONDS"].value(source),
            health_checks=values["health_checks"],
            batch=values["batch"],
        )


def help_text() -> str:
    """The environment part of ``pg-workflow --help``."""
    width = max(len(option.env) for option in OPTIONS)
    lines = ["environment variables (default in brackets):"]
    for option in OPTIONS:
        lines.append(f"  {option.env:<{width}}  {option.help} [{option.show_default()}]")
    return "\n".join(lines)
