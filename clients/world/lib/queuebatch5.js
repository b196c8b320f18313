// queueBatch for the DevKit 5 line: a fan-out's step messages in one request
// (POST /queue-batches), queued by the service in one transaction, all or none.
//
// The interface (@workflow/world 5 `Queue.queueBatch`) wants one result per
// message in input order, per-entry failures reported rather than thrown, and
// a rejection only when no entry's outcome is known. The service's answer is
// all or nothing, so:
//   - 2xx: a messageId for every entry;
//   - a refusal (4xx, or 503: the service did nothing) is known to have queued
//     none of the request's entries: each gets `error`, `retryable` for 429
//     (a quota that frees up) and 503, not for a bad message;
//   - no answer (transport failure, time-out) or another 5xx: the outcome is
//     unknown, so it rejects (core republishes the batch under the same keys).
// More messages than the route takes are sent in several requests, in order.

import { noAppUrlError } from './queue.js';

/** The most messages POST /queue-batches takes (workflow.enqueue_batch). */
export const QUEUE_BATCH_MAX = 1000;

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {{ appBasePath: string, deploymentId?: string, locate: () => { appUrl?: string, pending?: string }, onLocated?: () => void }} config
 */
export function createQueueBatch(transport, { appBasePath, deploymentId, locate, onLocated }) {
  /**
   * @param {string} queueName
   * @param {readonly { message: unknown, opts?: { deploymentId?: string, idempotencyKey?: string, delaySeconds?: number } }[]} messages
   */
  return async function queueBatch(queueName, messages) {
    if (messages.length === 0) return [];
    const where = locate();
    if (!where.appUrl) throw noAppUrlError(queueName, where.pending);
    onLocated?.();
    const results = [];
    for (let i = 0; i < messages.length; i += QUEUE_BATCH_MAX) {
      const chunk = messages.slice(i, i + QUEUE_BATCH_MAX);
      const body = {
        messages: chunk.map(({ message, opts }) => ({
          queueName,
          message,
          deploymentId: opts?.deploymentId ?? deploymentId,
          ...(opts?.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
          ...(opts?.delaySeconds ? { delaySeconds: opts.delaySeconds } : {}),
        })),
      };
      let answer;
      try {
        answer = await transport.request('POST', `${appBasePath}/queue-batches`, {
          body,
          // Resent after a stale-socket reset only when every entry is de-duplicated by its key.
          idempotent: chunk.every(({ opts }) => Boolean(opts?.idempotencyKey)),
        });
      } catch (err) {
        const status = /** @type {any} */ (err)?.status;
        if (typeof status !== 'number' || !(status < 500 || status === 503)) throw err;
        const retryable = status === 429 || status === 503;
        const error = /** @type {Error} */ (err).message;
        for (let j = 0; j < chunk.length; j++) results.push({ messageId: null, error, retryable });
        continue;
      }
      const answered = Array.isArray(answer?.results) ? answer.results : [];
      if (answered.length !== chunk.length) {
        throw Object.assign(new Error(`POST /queue-batches answered ${answered.length} results for ${chunk.length} messages`), {
          retryable: true,
        });
      }
      for (const r of answered) results.push({ messageId: r?.messageId ?? null });
    }
    return results;
  };
}
