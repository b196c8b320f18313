-- Deploy pg-workflow:dead_letters
-- Messages that could not be delivered: listed for operators, and retried
-- on demand.
BEGIN;

CREATE FUNCTION workflow.message_json(m workflow.messages) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT workflow.jsonb_drop_nulls(jsonb_build_object(
           'messageId', m.message_id, 'queueName', m.queue_name, 'status', m.status,
           'deploymentId', m.deployment_id, 'runId', m.run_id, 'idempotencyKey', m.idempotency_key,
           'attempt', m.attempt, 'failures', m.failures, 'lastError', m.last_error,
           'dueAt', workflow.iso(m.due_at), 'createdAt', workflow.iso(m.created_at),
           'updatedAt', workflow.iso(m.updated_at), 'deliveredAt', workflow.iso(m.delivered_at),
           'deadAt', workflow.iso(m.dead_at), 'message', m.payload))
$$;
COMMENT ON FUNCTION workflow.message_json(workflow.messages) IS 'A queue message as the API returns it (camelCase, with its payload as message).';

CREATE FUNCTION workflow.list_dead_letters(
  p_app_id text, p_limit integer DEFAULT NULL, p_cursor text DEFAULT NULL, p_sort_order text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit integer := workflow.check_limit(p_limit, 100);
  v_sort text := workflow.check_sort(p_sort_order, 'desc');
  v_after bigint := workflow.check_cursor(p_cursor);
BEGIN
  PERFORM workflow.require_app(p_app_id);
  RETURN workflow.page_of(format(
    'SELECT workflow.message_json(m) AS item, m.message_seq AS seq FROM workflow.messages m'
    ' WHERE m.app_id = %L AND m.status = ''dead''%s',
    p_app_id, workflow.page_clause('m.message_seq', v_after, v_sort, v_limit)), v_limit, p_cursor);
END $$;
COMMENT ON FUNCTION workflow.list_dead_letters(text, integer, text, text) IS
  'Dead-lettered messages of an app, newest first by default: {data, cursor, hasMore}.';

CREATE FUNCTION workflow.retry_dead_letter(p_app_id text, p_message_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  m workflow.messages;
BEGIN
  PERFORM workflow.require_app(p_app_id);
  SELECT * INTO m FROM workflow.messages WHERE app_id = p_app_id AND message_id = p_message_id FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM workflow.refuse('PW404', 'WF_MESSAGE_NOT_FOUND', format('message %s not found', p_message_id),
                            jsonb_build_object('messageId', p_message_id));
  END IF;
  IF m.status <> 'dead' THEN
    PERFORM workflow.refuse('PW409', 'WF_MESSAGE_NOT_DEAD',
      format('message %s is %s, not dead-lettered', p_message_id, m.status),
      jsonb_build_object('messageId', p_message_id, 'status', m.status));
  END IF;
  IF EXISTS (SELECT 1 FROM workflow.deployment_versions
              WHERE app_id = p_app_id AND deployment_id = m.deployment_id AND expired_at IS NOT NULL) THEN
    PERFORM workflow.refuse('PW410', 'WF_DEPLOYMENT_EXPIRED',
      format('deployment %s has been expired: message %s cannot be delivered', m.deployment_id, p_message_id),
      jsonb_build_object('messageId', p_message_id, 'deploymentId', m.deployment_id));
  END IF;
  UPDATE workflow.messages SET status = 'queued', attempt = 0, failures = 0, due_at = v_now, dead_at = NULL,
                               updated_at = v_now
   WHERE message_seq = m.message_seq RETURNING * INTO m;
  PERFORM workflow.notify_queue(m.due_at);
  RETURN workflow.message_json(m);
END $$;
COMMENT ON FUNCTION workflow.retry_dead_letter(text, text) IS
  'Puts a dead-lettered message back in the queue, due now, with its attempt count reset; 404 unknown, 409 not dead, '
  '410 its version was expired. Returns the message.';

GRANT EXECUTE ON FUNCTION workflow.message_json(workflow.messages),
                         workflow.list_dead_letters(text, integer, text, text),
                         workflow.retry_dead_letter(text, text) TO pgw_tenant;

COMMIT;
