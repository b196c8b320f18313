// Queue half of the World over SPEC §6.
//
// Sending is one POST /queue. Receiving reuses @workflow/world-local's
// createQueueHandler: the service delivers with exactly the protocol that
// handler speaks (x-vqs-queue-name / x-vqs-message-id / x-vqs-message-attempt
// headers, JSON body with tagged binaries, a 2xx {timeoutSeconds} asking for
// redelivery), so the runtime's handlers run unmodified.

import { WorkflowWorldError } from '@workflow/errors';
import { createLocalWorld } from '@workflow/world-local';
import { trace, traceNow, tracing } from './trace.js';

/**
 * Why a message cannot be queued by a World that does not know where the app
 * lives: it would wait for a registration that never comes. Not retryable
 * (code NO_APP_URL), so start() and the runtime report it at once.
 * @param {string} queueName
 * @param {string} [pending]  why the URL is not known yet
 */
export function noAppUrlError(queueName, pending) {
  return new WorkflowWorldError(
    `pg-workflow-world: cannot queue ${queueName}: pg-workflow does not know where to deliver it` +
      `${pending ? ` (${pending})` : ''}. ` +
      'Set WORKFLOW_APP_URL to the URL at which the service reaches this app (or PORT, for http://localhost:$PORT), ' +
      'in the app and in every process that starts workflows.',
    { code: 'NO_APP_URL' }
  );
}

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {{ appBasePath: string, deploymentId: string, locate: ReturnType<typeof import('./config.js').createLocator>,
 *   onLocated?: () => void }} config
 * @param {ReturnType<typeof import('./prequeue.js').createPrequeue>} [prequeue]  messages sent with their events
 * @param {ReturnType<typeof import('./run-snapshots.js').createRunSnapshots>} [snapshots]  run_started answers delivered with messages
 */
export function createQueue(transport, { appBasePath, deploymentId, locate, onLocated }, prequeue, snapshots) {
  /** @type {ReturnType<typeof createLocalWorld> | undefined} */
  let localWorld;

  return {
    async getDeploymentId() {
      return deploymentId;
    },

    /**
     * @param {string} queueName  e.g. __wkf_workflow_<name>, __wkf_step_<name>
     * @param {unknown} message
     * @param {{ deploymentId?: string, idempotencyKey?: string, delaySeconds?: number, headers?: Record<string,string>, specVersion?: number }} [opts]
     */
    async queue(queueName, message, opts) {
      // The app URL is looked up now, not when the World was made (the server may have set PORT since).
      const where = locate();
      if (!where.appUrl) throw noAppUrlError(queueName, where.pending);
      onLocated?.();
      // Already queued with the event that made it necessary, in the same transaction.
      const queuedWithEvent = prequeue?.take(queueName, message, opts);
      if (queuedWithEvent) return { messageId: queuedWithEvent };
      const body = {
        queueName,
        message,
        // Continuations and step messages carry no deploymentId: they belong
        // to the deployment that is running them, i.e. this one.
        deploymentId: opts?.deploymentId ?? deploymentId,
        ...(opts?.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
        ...(opts?.delaySeconds ? { delaySeconds: opts.delaySeconds } : {}),
      };
      const start = tracing ? traceNow() : 0;
      const answer = await transport.request('POST', `${appBasePath}/queue`, {
        body,
        // The service de-duplicates by idempotency key, so a keyed message
        // may be resent after a stale-socket reset.
        idempotent: Boolean(opts?.idempotencyKey),
      });
      if (tracing) trace('queued', start, queueName, answer?.messageId);
      return { messageId: answer?.messageId ?? null };
    },

    /**
     * @param {string} queueNamePrefix
     * @param {(message: unknown, meta: { attempt: number, queueName: string, messageId: string }) => Promise<void | { timeoutSeconds: number }>} handler
     */
    createQueueHandler(queueNamePrefix, handler) {
      // Only the handler of the local world is used: building it allocates
      // an idle undici agent and touches no disk; recovery is switched off.
      localWorld ??= createLocalWorld({ recoverActiveRuns: false });
      const inContext = prequeue
        ? (/** @type {any} */ message, /** @type {any} */ meta) =>
            prequeue.runDelivery(meta?.queueName, message, () => handler(message, meta))
        : handler;
      const local = localWorld.createQueueHandler(queueNamePrefix, inContext);
      const handle = snapshots ? snapshots.wrap(local) : local;
      if (!tracing) return handle;
      return async (/** @type {Request} */ req) => {
        const start = traceNow();
        let status = 'ERR';
        try {
          const res = await handle(req);
          status = String(res.status);
          return res;
        } finally {
          const h = (/** @type {string} */ name) => req.headers.get(name);
          trace('deliver', start, h('x-vqs-queue-name'), h('x-vqs-message-id'), h('x-vqs-message-attempt'), status);
        }
      };
    },

    async close() {
      await localWorld?.close?.();
      localWorld = undefined;
    },
  };
}
