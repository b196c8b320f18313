// Queue half of the World over SPEC §6.
//
// Sending is one POST /queue. Receiving reuses @workflow/world-local's
// createQueueHandler: the service delivers with exactly the protocol that
// handler speaks (x-vqs-queue-name / x-vqs-message-id / x-vqs-message-attempt
// headers, JSON body with tagged binaries, a 2xx {timeoutSeconds} asking for
// redelivery), so the runtime's handlers run unmodified.

import { createLocalWorld } from '@workflow/world-local';

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {{ appBasePath: string, deploymentId: string }} config
 */
export function createQueue(transport, { appBasePath, deploymentId }) {
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
      const body = {
        queueName,
        message,
        // Continuations and step messages carry no deploymentId: they belong
        // to the deployment that is running them, i.e. this one.
        deploymentId: opts?.deploymentId ?? deploymentId,
        ...(opts?.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
        ...(opts?.delaySeconds ? { delaySeconds: opts.delaySeconds } : {}),
      };
      const answer = await transport.request('POST', `${appBasePath}/queue`, {
        body,
        // The service de-duplicates by idempotency key, so a keyed message
        // may be resent after a stale-socket reset.
        idempotent: Boolean(opts?.idempotencyKey),
      });
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
      return localWorld.createQueueHandler(queueNamePrefix, handler);
    },

    async close() {
      await localWorld?.close?.();
      localWorld = undefined;
    },
  };
}
