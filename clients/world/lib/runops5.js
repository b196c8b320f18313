// Run operations of the DevKit 5 line (@workflow/world 5.x Storage.runs,
// all optional in the interface: their presence is the capability):
//   - getMany: one POST /run-batches/get per 1000 ids (the route's bound),
//     answers in request order, null for a run the app does not have;
//   - cancelMany: one POST /run-batches/cancel, the service's per-run
//     outcomes and summary as they are (the interface's shape);
//   - waitForTerminalStatus: GET /runs/:runId/terminal-status, a long poll the
//     service answers from LISTEN/NOTIFY the moment the run ends, or with the
//     run's current snapshot when its wait runs out. The service clamps one
//     wait (WF_RUN_WAIT_MAX_SECONDS) and this transport's idle deadline
//     (requestTimeoutMs) bounds one request, so the caller's timeoutMs is
//     spent in as many waits as it takes; a timeout is a normal answer (the
//     latest snapshot), never an error.

import { ThrottleError } from '@workflow/errors';
import { reviveEntity } from './codec.js';
import { queryString } from './http.js';

const seg = encodeURIComponent;

/** The route's bound on ids per getMany request. */
export const GET_MANY_CHUNK = 1000;
/** Statuses a run never leaves (@workflow/world TERMINAL_WORKFLOW_RUN_STATUSES). */
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
// Room left between one wait's budget and the request's idle deadline, so the
// budget ends as an answer (a snapshot), not as a client-side TIMEOUT.
const DEADLINE_HEADROOM_MS = 10_000;
// A wait that comes back non-terminal sooner than this (a service shutting
// down, a service cap of 0) is not repeated at once: the loop never spins.
const MIN_WAIT_SPACING_MS = 1_000;
// Pause after a 429 that carries no Retry-After.
const DEFAULT_RETRY_AFTER_MS = 1_000;

/**
 * The longest one wait request may ask for: requestTimeoutMs less some headroom (the default 60 s gives
 * 50 s, the service's default cap), never less than half of it.
 * @param {number} requestTimeoutMs
 */
export function waitBudgetMs(requestTimeoutMs) {
  if (!(requestTimeoutMs > 0)) return 50_000;
  return Math.max(requestTimeoutMs - DEADLINE_HEADROOM_MS, Math.floor(requestTimeoutMs / 2));
}

/** Sleep `ms`, or reject with the signal's reason when it aborts first. */
function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(undefined);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {string} appBasePath
 * @param {{ requestTimeoutMs: number }} config
 */
export function createRunOps5(transport, appBasePath, { requestTimeoutMs }) {
  const { request } = transport;
  const p = (/** @type {string} */ path) => appBasePath + path;
  const budgetMs = waitBudgetMs(requestTimeoutMs);

  /**
   * Several runs as one snapshot (per 1000 ids), in the order asked, null for unknown ids.
   * @param {readonly string[]} ids
   * @param {{ resolveData?: 'none' | 'all' }} [params]
   */
  async function getMany(ids, params) {
    const out = [];
    for (let i = 0; i < ids.length; i += GET_MANY_CHUNK) {
      const body = {
        runIds: ids.slice(i, i + GET_MANY_CHUNK),
        ...(params?.resolveData !== undefined ? { resolveData: params.resolveData } : {}),
      };
      // A read: safe to re-send on a reused socket the service had closed.
      const answer = await request('POST', p('/run-batches/get'), { body, idempotent: true });
      for (const run of Array.isArray(answer?.data) ? answer.data : []) out.push(run ? reviveEntity(run) : null);
    }
    return out;
  }

  /**
   * Cancel 1–500 distinct runs; an outcome each, in order, and a summary. Never re-sent.
   * @param {{ runIds: readonly string[], cancelReason?: string }} req
   */
  async function cancelMany(req) {
    const body = {
      runIds: req.runIds,
      ...(req.cancelReason !== undefined ? { cancelReason: req.cancelReason } : {}),
    };
    return request('POST', p('/run-batches/cancel'), { body });
  }

  /**
   * The run once it is completed, failed or cancelled; when params.timeoutMs (default: one wait's
   * budget) runs out first, its latest snapshot. Throws what runs.get throws (WorkflowRunNotFoundError
   * for an unknown run), and the signal's reason when params.signal aborts.
   * @param {string} runId
   * @param {{ resolveData?: 'none' | 'all', timeoutMs?: number, signal?: AbortSignal }} [params]
   */
  async function waitForTerminalStatus(runId, params) {
    const signal = params?.signal;
    signal?.throwIfAborted();
    const asked = Number(params?.timeoutMs);
    const deadline = Date.now() + (Number.isFinite(asked) ? Math.max(0, asked) : budgetMs);
    const resolveData = params?.resolveData;
    const notFound = /** @type {const} */ ({ kind: 'run', runId });
    /** A read that fails like runs.get, or with the signal's reason once it aborted. */
    const get = async (/** @type {string} */ path) => {
      try {
        return await request('GET', p(path), { notFound, signal });
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        throw err;
      }
    };
    for (;;) {
      const startedAt = Date.now();
      const timeoutMs = Math.min(Math.max(0, Math.ceil(deadline - startedAt)), budgetMs);
      const query = queryString({ timeoutMs, resolveData });
      let run;
      try {
        run = await get(`/runs/${seg(runId)}/terminal-status${query}`);
      } catch (err) {
        if (!ThrottleError.is(err)) throw err;
        // Too many open waits for this app on that replica: come back when the service says, but the
        // caller's deadline still holds (then one plain read answers the snapshot).
        const left = deadline - Date.now();
        if (left <= 0) return reviveEntity(await get(`/runs/${seg(runId)}${queryString({ resolveData })}`));
        const retryAfter = /** @type {any} */ (err).retryAfter;
        await pause(Math.min(retryAfter === undefined ? DEFAULT_RETRY_AFTER_MS : retryAfter * 1000, left), signal);
        continue;
      }
      const left = deadline - Date.now();
      if (TERMINAL.has(run?.status) || left <= 0) return reviveEntity(run);
      const spent = Date.now() - startedAt;
      if (spent < MIN_WAIT_SPACING_MS) await pause(Math.min(MIN_WAIT_SPACING_MS - spent, left), signal);
    }
  }

  return { getMany, cancelMany, waitForTerminalStatus };
}
