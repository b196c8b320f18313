// Storage half of the World (runs, steps, events, hooks) over SPEC §4.
//
// Every state change is one POST /runs/:runId/events; the answer carries the
// affected entity, and for run_started the whole event log, so the runtime's
// replay needs no separate events.list call.

import { reviveEntity, reviveEvent, revivePage } from './codec.js';
import { queryString } from './http.js';
import { trace, traceNow, tracing } from './trace.js';

const seg = encodeURIComponent;

/** @param {{ limit?: number, cursor?: string, sortOrder?: string } | undefined} pagination */
function pageParams(pagination) {
  return {
    limit: pagination?.limit,
    cursor: pagination?.cursor,
    sortOrder: pagination?.sortOrder,
  };
}

/** Decode an events.create answer in place. */
function reviveEventResult(result) {
  if (!result || typeof result !== 'object') return result;
  reviveEvent(result.event);
  reviveEntity(result.run);
  reviveEntity(result.step);
  reviveEntity(result.hook);
  reviveEntity(result.wait);
  if (Array.isArray(result.events)) result.events.forEach(reviveEvent);
  return result;
}

// A 404 on these events means the hook is gone (already disposed / never
// created); the runtime expects HookNotFoundError for it.
const HOOK_EVENTS = new Set(['hook_received', 'hook_disposed']);

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {string} appBasePath  "/api/v1/apps/<appId>"
 * @param {ReturnType<typeof import('./prequeue.js').createPrequeue>} [prequeue]  messages sent with their events
 * @param {ReturnType<typeof import('./run-snapshots.js').createRunSnapshots>} [snapshots]  run_started answers delivered with messages
 */
export function createStorage(transport, appBasePath, prequeue, snapshots) {
  const { request } = transport;
  const p = (path) => appBasePath + path;

  const runs = {
    async get(runId, params) {
      const run = await request('GET', p(`/runs/${seg(runId)}${queryString({ resolveData: params?.resolveData })}`), {
        notFound: { kind: 'run', runId },
      });
      return reviveEntity(run);
    },
    async list(params) {
      const query = queryString({
        workflowName: params?.workflowName,
        status: params?.status,
        deploymentId: params?.deploymentId,
        resolveData: params?.resolveData,
        ...pageParams(params?.pagination),
      });
      return revivePage(await request('GET', p(`/runs${query}`)), reviveEntity);
    },
  };

  const steps = {
    async get(runId, stepId, params) {
      if (!runId) {
        throw new TypeError('pg-workflow-world: steps.get needs the runId (steps are addressed per run)');
      }
      const query = queryString({ resolveData: params?.resolveData });
      return reviveEntity(await request('GET', p(`/runs/${seg(runId)}/steps/${seg(stepId)}${query}`)));
    },
    async list(params) {
      const query = queryString({ resolveData: params?.resolveData, ...pageParams(params?.pagination) });
      return revivePage(await request('GET', p(`/runs/${seg(params.runId)}/steps${query}`)), reviveEntity);
    },
  };

  const events = {
    /**
     * @param {string | null} runId  null only for run_created (server makes the id)
     * @param {any} data  the event request {eventType, correlationId?, specVersion?, eventData?}
     * @param {{ resolveData?: string, requestId?: string, stateUpdatedAt?: number, v1Compat?: boolean }} [params]
     */
    async create(runId, data, params) {
      // A running run's run_started answer may have come with this delivery (see run-snapshots.js).
      const delivered = snapshots?.take(runId, data, params);
      if (delivered) {
        if (tracing) trace('snapshot', traceNow(), 'run_started', runId);
        const result = reviveEventResult(delivered);
        prequeue?.noteResult(runId, data, undefined, result);
        return result;
      }
      const query = queryString({ resolveData: params?.resolveData });
      const path = p(`/runs/${runId === null || runId === undefined ? 'null' : seg(runId)}/events${query}`);
      // The runtime's optimistic-concurrency snapshot (epoch ms of the latest
      // event it loaded) travels with the event; a stale one answers 412,
      // which errors.js turns into the runtime's PreconditionFailedError.
      let body = params?.stateUpdatedAt === undefined ? data : { ...data, stateUpdatedAt: params.stateUpdatedAt };
      // The queue message the runtime will send after this event, queued by the
      // service in the event's transaction (see prequeue.js).
      const enqueue = prequeue ? await prequeue.messageFor(runId, data) : undefined;
      if (enqueue) body = { ...body, enqueue };
      const notFound =
        HOOK_EVENTS.has(data?.eventType) && data.correlationId
          ? /** @type {const} */ ({ kind: 'hook', token: data.correlationId })
          : undefined;
      const headers = params?.requestId ? { 'x-request-id': params.requestId } : undefined;
      const start = tracing ? traceNow() : 0;
      const result = reviveEventResult(await request('POST', path, { body, headers, notFound }));
      if (tracing && result?.queued?.messageId) trace('queued', start, enqueue?.queueName, result.queued.messageId);
      prequeue?.noteResult(runId, data, enqueue, result);
      return result;
    },
    async get(runId, eventId, params) {
      const query = queryString({ resolveData: params?.resolveData });
      return reviveEvent(await request('GET', p(`/runs/${seg(runId)}/events/${seg(eventId)}${query}`)));
    },
    async list(params) {
      const query = queryString({ resolveData: params?.resolveData, ...pageParams(params?.pagination) });
      return revivePage(await request('GET', p(`/runs/${seg(params.runId)}/events${query}`)), reviveEvent);
    },
    async listByCorrelationId(params) {
      const query = queryString({
        correlationId: params.correlationId,
        runId: params.runId,
        resolveData: params.resolveData,
        ...pageParams(params.pagination),
      });
      return revivePage(await request('GET', p(`/events${query}`)), reviveEvent);
    },
  };

  const hooks = {
    async get(hookId, params) {
      const query = queryString({ resolveData: params?.resolveData });
      return reviveEntity(
        await request('GET', p(`/hooks/${seg(hookId)}${query}`), { notFound: { kind: 'hook', token: hookId } })
      );
    },
    async getByToken(token, params) {
      const query = queryString({ resolveData: params?.resolveData });
      return reviveEntity(
        await request('GET', p(`/hooks/by-token/${seg(token)}${query}`), { notFound: { kind: 'hook', token } })
      );
    },
    async list(params) {
      const query = queryString({
        runId: params?.runId,
        resolveData: params?.resolveData,
        ...pageParams(params?.pagination),
      });
      return revivePage(await request('GET', p(`/hooks${query}`)), reviveEntity);
    },
  };

  return { runs, steps, events, hooks };
}
