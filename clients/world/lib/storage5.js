// Storage for the DevKit 5 line (@workflow/world 5.x, runs of spec 6/7).
//
// The reads are the 4.x ones (same routes, same answers). What differs:
//   - events.create sends the 5.x write options in the body (eventCount,
//     sinceCursor, skipPreload, resumeId, resumePayloadDigest, preloadEvents;
//     docs/devkit5.md "The HTTP shape for the client World"), never the 4.x
//     stateUpdatedAt guard nor a message to queue with the event (the event
//     messages and run snapshots predict what core 4.8.9 does next; core 5
//     does other things). The answer may carry events/cursor/hasMore (the
//     bump-and-report, a sinceCursor delta, a preload) and stepCreated: all
//     passed through as the service gives them;
//   - events.createBatch (optional in the interface: its presence is the
//     capability) is one POST /runs/:runId/event-batches;
//   - errors (run.error, step.error, failure events) are the runtime's
//     serialised bytes and attributes plain strings: both pass through as
//     they are, like any other payload;
//   - hooks carry tokenRetentionUntil, a time, revived as a Date.
//   - runs.list asks for pageInfo (the 5.x page member) and takes a status
//     list;
//   - runs.getMany / cancelMany / waitForTerminalStatus: runops5.js.

import { reviveEntity, reviveEvent, revivePage } from './codec.js';
import { revivePageInfo } from './analytics5.js';
import { queryString } from './http.js';
import { createRunOps5 } from './runops5.js';
import { createStorage } from './storage.js';

const seg = encodeURIComponent;

/** Write options of CreateEventParams that travel in the event's body. */
const WRITE_OPTIONS = ['eventCount', 'sinceCursor', 'skipPreload', 'resumeId', 'resumePayloadDigest', 'preloadEvents'];
/**
 * The ones that only save round trips (an inline delta, the run_started preload left out, the hook_received
 * preload): all optional for a World, so leaving them out (eventDeltas: false) is a World without them, and
 * core falls back to reading the log itself. eventCount and the resume dedup fields are the protocol's.
 */
const DELTA_OPTIONS = new Set(['sinceCursor', 'skipPreload', 'preloadEvents']);

// A 404 on these events means the hook is gone; the runtime expects HookNotFoundError.
const HOOK_EVENTS = new Set(['hook_received', 'hook_disposed']);

/** @param {any} value */
function reviveTime(value) {
  return typeof value === 'string' || typeof value === 'number' ? new Date(value) : value;
}

/** A hook from the wire, in place. */
export function reviveHook5(hook) {
  if (!hook || typeof hook !== 'object') return hook;
  reviveEntity(hook);
  if (hook.tokenRetentionUntil !== undefined) hook.tokenRetentionUntil = reviveTime(hook.tokenRetentionUntil);
  return hook;
}

/** An event from the wire, in place. */
export function reviveEvent5(event) {
  if (!event || typeof event !== 'object') return event;
  reviveEvent(event);
  const data = event.eventData;
  if (data && typeof data === 'object' && data.tokenRetentionUntil !== undefined) {
    data.tokenRetentionUntil = reviveTime(data.tokenRetentionUntil);
  }
  return event;
}

/** An events.create answer (or one success of a batch), in place. */
function reviveResult5(result) {
  if (!result || typeof result !== 'object') return result;
  reviveEvent5(result.event);
  reviveEntity(result.run);
  reviveEntity(result.step);
  reviveHook5(result.hook);
  reviveEntity(result.wait);
  if (Array.isArray(result.events)) result.events.forEach(reviveEvent5);
  return result;
}

/** @param {Record<string, any> | undefined} params @param {boolean} deltas */
function writeOptions(params, deltas) {
  /** @type {Record<string, unknown>} */
  const options = {};
  for (const name of WRITE_OPTIONS) {
    if (!deltas && DELTA_OPTIONS.has(name)) continue;
    if (params?.[name] !== undefined && params[name] !== null) options[name] = params[name];
  }
  return options;
}

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {string} appBasePath
 * @param {{ eventBatches?: boolean, eventDeltas?: boolean, requestTimeoutMs?: number }} [features]
 */
export function createStorage5(
  transport,
  appBasePath,
  { eventBatches = true, eventDeltas = true, requestTimeoutMs = 60_000 } = {}
) {
  const { request } = transport;
  const p = (/** @type {string} */ path) => appBasePath + path;
  const base = createStorage(transport, appBasePath);
  const ops = createRunOps5(transport, appBasePath, { requestTimeoutMs });

  const runs = {
    get: base.runs.get,
    /**
     * With pageInfo (?pageInfo=true). status may be a list in 5.x: none matches nothing (no request), one
     * is the single filter, several repeat the parameter.
     */
    async list(params) {
      const status = params?.status;
      if (Array.isArray(status) && status.length === 0) return { data: [], cursor: null, hasMore: false };
      const single = Array.isArray(status) ? (status.length === 1 ? status[0] : undefined) : status;
      const query = new URLSearchParams(queryString(listParams(params, single)).slice(1));
      if (Array.isArray(status) && status.length > 1) for (const s of status) query.append('status', s);
      query.append('pageInfo', 'true');
      return revivePageInfo(revivePage(await request('GET', p(`/runs?${query}`)), reviveEntity));
    },
    getMany: ops.getMany,
    cancelMany: ops.cancelMany,
    waitForTerminalStatus: ops.waitForTerminalStatus,
  };

  const events = {
    /**
     * @param {string | null} runId  null only for run_created (the service makes the id)
     * @param {any} data
     * @param {Record<string, any>} [params]  CreateEventParams (5.x)
     */
    async create(runId, data, params) {
      const query = queryString({ resolveData: params?.resolveData });
      const path = p(`/runs/${runId === null || runId === undefined ? 'null' : seg(runId)}/events${query}`);
      const body = { ...data, ...writeOptions(params, eventDeltas) };
      const notFound =
        HOOK_EVENTS.has(data?.eventType) && data.correlationId
          ? /** @type {const} */ ({ kind: 'hook', token: data.correlationId })
          : undefined;
      const headers = params?.requestId ? { 'x-request-id': params.requestId } : undefined;
      return reviveResult5(await request('POST', path, { body, headers, notFound }));
    },
    async get(runId, eventId, params) {
      return reviveEvent5(await base.events.get(runId, eventId, params));
    },
    async list(params) {
      const page = await base.events.list(params);
      page.data.forEach(reviveEvent5);
      return page;
    },
    async listByCorrelationId(params) {
      const page = await base.events.listByCorrelationId(params);
      page.data.forEach(reviveEvent5);
      return page;
    },
  };

  if (eventBatches) {
    /**
     * One request, one transaction: an outcome per event, in order ({status: 200, event, …} or
     * {status, error, message}). Never re-sent (a batch may start a step).
     * @param {string} runId
     * @param {{ event: any, occurredAt?: Date, computeInstanceId?: string }[]} items
     * @param {{ resolveData?: string, requestId?: string }} [params]
     */
    events.createBatch = async (runId, items, params) => {
      const body = {
        events: items.map(({ event, occurredAt, computeInstanceId }) => ({
          event,
          ...(occurredAt !== undefined ? { occurredAt } : {}),
          ...(computeInstanceId !== undefined ? { computeInstanceId } : {}),
        })),
        ...(params?.resolveData !== undefined ? { resolveData: params.resolveData } : {}),
      };
      const headers = params?.requestId ? { 'x-request-id': params.requestId } : undefined;
      const answer = await request('POST', p(`/runs/${seg(runId)}/event-batches`), { body, headers });
      const results = Array.isArray(answer?.results) ? answer.results : [];
      for (const result of results) if (result?.status === 200) reviveResult5(result);
      return { results };
    };
  }

  const hooks = {
    get: async (hookId, params) => reviveHook5(await base.hooks.get(hookId, params)),
    getByToken: async (token, params) => reviveHook5(await base.hooks.getByToken(token, params)),
    async list(params) {
      const page = await base.hooks.list(params);
      page.data.forEach(reviveHook5);
      return page;
    },
  };

  return { runs, steps: base.steps, events, hooks };
}

/** runs.list parameters in the 4.x list's order, with one status or none. */
function listParams(params, status) {
  return {
    workflowName: params?.workflowName,
    status,
    deploymentId: params?.deploymentId,
    resolveData: params?.resolveData,
    limit: params?.pagination?.limit,
    cursor: params?.pagination?.cursor,
    sortOrder: params?.pagination?.sortOrder,
  };
}
