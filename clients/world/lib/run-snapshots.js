// The run_started answer delivered with a workflow message.
//
// The runtime (@workflow/core 4.8.9) opens every workflow delivery with
// events.create(runId, run_started). For a run that is already running that
// call changes nothing and answers {run, events, cursor, hasMore, maxEvents}.
// This World registers the feature "run-started", so the service reads that
// answer in the transaction that claims the message (the run's workflow
// messages are delivered one at a time) and sends it after the message: the
// header x-pgw-run-started gives the message's length in bytes, the rest of
// the body is the answer. The handler gets the message alone; the runtime's
// run_started in this delivery is answered from the snapshot, once, if it is
// for the same run. Anything else — a pending run (no snapshot is sent), a
// second call, other parameters — goes to the service as before.

import { AsyncLocalStorage } from 'node:async_hooks';
import { decodeJson } from './codec.js';

export const RUN_STARTED_HEADER = 'x-pgw-run-started';
export const RUN_STARTED_FEATURE = 'run-started';

/** @type {AsyncLocalStorage<{ text: string, used: boolean }>} */
const current = new AsyncLocalStorage();

/** @param {{ enabled: boolean }} options */
export function createRunSnapshots({ enabled }) {
  return {
    /** Features to register with the handlers. */
    features: enabled ? [RUN_STARTED_FEATURE] : [],

    /**
     * Wraps a queue handler (Request → Response): a framed delivery is split,
     * the handler sees the message alone, the answer waits in the async context.
     * (Always on, so a framed delivery can never reach the handler unsplit.)
     * @param {(req: Request) => Promise<Response>} handle
     */
    wrap(handle) {
      return async (/** @type {Request} */ req) => {
        const header = req.headers.get(RUN_STARTED_HEADER);
        if (header === null) return handle(req);
        const bytes = new Uint8Array(await req.arrayBuffer());
        const length = Number(header);
        if (!/^\d+$/.test(header) || length > bytes.byteLength) {
          return Response.json({ error: `bad ${RUN_STARTED_HEADER} header ${JSON.stringify(header)}` }, { status: 400 });
        }
        const headers = new Headers(req.headers);
        headers.delete(RUN_STARTED_HEADER);
        headers.delete('content-length');
        const message = new Request(req.url, { method: req.method, headers, body: bytes.subarray(0, length) });
        const snapshot = { text: Buffer.from(bytes.subarray(length)).toString('utf8'), used: false };
        return current.run(snapshot, () => handle(message));
      };
    },

    /**
     * The delivered run_started answer if this call can take it (once per delivery), else undefined.
     * @param {string | null | undefined} runId @param {any} data
     * @param {{ resolveData?: string, stateUpdatedAt?: number } | undefined} params
     */
    take(runId, data, params) {
      const snapshot = enabled ? current.getStore() : undefined;
      if (!snapshot || snapshot.used || data?.eventType !== 'run_started') return undefined;
      if (params?.stateUpdatedAt !== undefined || (params?.resolveData ?? 'all') !== 'all') return undefined;
      snapshot.used = true;
      let answer;
      try {
        answer = decodeJson(snapshot.text);
      } catch {
        return undefined;
      }
      return answer?.run?.runId === runId && answer.run.status === 'running' ? answer : undefined;
    },
  };
}
