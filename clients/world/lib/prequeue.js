// Messages queued together with the event that makes them necessary.
//
// The runtime (@workflow/core 4.8.9) follows some events with a queue() call
// whose message it fully determines:
//   - in a workflow delivery, step_created(s) → queue('__wkf_step_<stepName>',
//     {workflowName, workflowRunId, workflowStartedAt, stepId: s, traceCarrier,
//     requestedAt}, {idempotencyKey: s});
//   - in the step delivery of step s, step_completed(s) / step_failed(s) →
//     queue(<workflow queue>, {runId, traceCarrier, requestedAt}).
// (step_retrying is followed by no queue() — the step message is redelivered —
// so nothing rides on it.) The World sends that message with the event; the
// service queues it in the event's transaction (SQL change event_messages) and
// answers its messageId. The runtime's queue() that follows is then answered
// from here without a request, if it asks for exactly the predicted message
// (requestedAt aside: the predicted one carries the event's time). Anything
// else — a different message, an event that was refused, a queue() with no
// event before it — goes over HTTP as before. A crash between the two calls
// loses nothing: the message committed with the event. Predictions live in
// the delivery's own async context, so only the runtime's call that follows
// the event in the same delivery can be answered by it (never, say, another
// step's wake-up, whose event the queued message may predate).

import { AsyncLocalStorage } from 'node:async_hooks';
import { encodeJson } from './codec.js';

const WORKFLOW_PREFIX = /^__(?:[a-z][a-z0-9]*_)?wkf_workflow_/;
const STEP_PREFIX = /^__(?:[a-z][a-z0-9]*_)?wkf_step_/;
/** The queue delivery the current async context is handling. */
const delivery = new AsyncLocalStorage();

/** @type {Promise<any> | undefined} */
let otelApi;

/** The trace carrier exactly as the runtime serialises it (empty without OpenTelemetry). */
async function traceCarrier() {
  otelApi ??= import('@opentelemetry/api').catch(() => null);
  const otel = await otelApi;
  if (!otel) return {};
  const carrier = {};
  otel.propagation.inject(otel.context.active(), carrier);
  return carrier;
}

/** The message without requestedAt, as it goes on the wire, keys sorted. */
function comparable(message) {
  if (!message || typeof message !== 'object') return undefined;
  const entries = Object.entries(message)
    .filter(([key, value]) => key !== 'requestedAt' && value !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return encodeJson(Object.fromEntries(entries));
}

/** @param {string} queueName @param {any} message */
function keyOf(queueName, message) {
  return `${queueName}\u0000${message?.runId ?? message?.workflowRunId ?? ''}\u0000${message?.stepId ?? ''}`;
}

/**
 * @param {{ deploymentId: string, enabled: boolean | (() => boolean) }} options  (a function: asked per delivery)
 */
export function createPrequeue({ deploymentId, enabled }) {
  return {
    /**
     * Runs a queue handler with its delivery as the async context.
     * @template T
     * @param {string} queueName @param {any} message @param {() => T} fn
     */
    runDelivery(queueName, message, fn) {
      if (!(typeof enabled === 'function' ? enabled() : enabled)) return fn();
      // pending: key → the message queued with an event in this delivery
      return delivery.run({ queueName, message, startedAt: undefined, pending: new Map() }, fn);
    },

    /**
     * The message the runtime will queue after this event, or undefined.
     * @param {string | null | undefined} runId @param {any} data
     */
    async messageFor(runId, data) {
      const ctx = delivery.getStore();
      if (!ctx || !runId || !data || typeof data.correlationId !== 'string') return undefined;
      const delivered = ctx.message;
      if (data.eventType === 'step_created') {
        const prefix = WORKFLOW_PREFIX.exec(ctx.queueName)?.[0];
        const stepName = data.eventData?.stepName;
        if (!prefix || delivered?.runId !== runId || typeof stepName !== 'string' || ctx.startedAt === undefined) {
          return undefined;
        }
        return {
          queueName: `__wkf_step_${stepName}`,
          deploymentId,
          idempotencyKey: data.correlationId,
          message: {
            workflowName: ctx.queueName.slice(prefix.length),
            workflowRunId: runId,
            workflowStartedAt: ctx.startedAt,
            stepId: data.correlationId,
            traceCarrier: await traceCarrier(),
            requestedAt: new Date(),
          },
        };
      }
      if (data.eventType === 'step_completed' || data.eventType === 'step_failed') {
        if (!STEP_PREFIX.test(ctx.queueName) || delivered?.workflowRunId !== runId ||
            delivered?.stepId !== data.correlationId || typeof delivered?.workflowName !== 'string') {
          return undefined;
        }
        const namespace = process.env.WORKFLOW_QUEUE_NAMESPACE;
        const prefix = namespace === undefined ? '__wkf_workflow_' : `__${namespace}_wkf_workflow_`;
        return {
          queueName: prefix + delivered.workflowName,
          deploymentId,
          message: { runId, traceCarrier: await traceCarrier(), requestedAt: new Date() },
        };
      }
      return undefined;
    },

    /**
     * Takes note of an event's answer: the run's start time (for step messages
     * in this delivery) and a message queued with the event.
     * @param {string | null | undefined} runId @param {any} data @param {any} enqueue @param {any} result
     */
    noteResult(runId, data, enqueue, result) {
      const ctx = delivery.getStore();
      if (ctx && data?.eventType === 'run_started' && result?.run?.startedAt instanceof Date &&
          ctx.message?.runId === runId) {
        ctx.startedAt = +result.run.startedAt;
      }
      const messageId = result?.queued?.messageId;
      if (result && typeof result === 'object') delete result.queued;
      if (!ctx || !enqueue || typeof messageId !== 'string') return;
      ctx.pending.set(keyOf(enqueue.queueName, enqueue.message), {
        body: comparable(enqueue.message),
        deploymentId: enqueue.deploymentId,
        idempotencyKey: enqueue.idempotencyKey,
        messageId,
      });
    },

    /**
     * The messageId of this exact message if it was already queued with its event
     * (then forgotten: one queue() per queued message), else undefined.
     * @param {string} queueName @param {any} message @param {any} opts
     */
    take(queueName, message, opts) {
      const pending = delivery.getStore()?.pending;
      if (!pending || pending.size === 0) return undefined;
      const key = keyOf(queueName, message);
      const entry = pending.get(key);
      if (!entry) return undefined;
      // Whatever the answer, the runtime's call for this message has come: the prediction is spent.
      pending.delete(key);
      const matches =
        !opts?.delaySeconds &&
        entry.body === comparable(message) &&
        entry.deploymentId === (opts?.deploymentId ?? deploymentId) &&
        entry.idempotencyKey === (opts?.idempotencyKey || undefined);
      return matches ? entry.messageId : undefined;
    },
  };
}
