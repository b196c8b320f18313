// Registers this process's /.well-known/workflow/v1/{flow,step,webhook}
// endpoints with the service (POST /handlers), so the dispatcher knows where
// to deliver this deployment's messages. Registration is an upsert keyed by
// this process's own podId; the service keeps it until DELETE
// /handlers/:podId (sent by close(), and only for a registration this process
// made), the version is expired, the endpoints keep refusing connections, or
// its lease ends: the service answers {registered, ttlSeconds} and forgets a
// registration not renewed within ttlSeconds (SPEC section 14), so this
// module renews it on an unref'd timer at a third of the TTL, retrying a
// failed renewal sooner, until unregister().

import { handlerEndpoints } from './config.js';

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {{ appBasePath: string, locate: ReturnType<typeof import('./config.js').createLocator>,
 *   deploymentId: string, features?: string[], endpointsFor?: (appUrl: string) => Record<string, string> }} config
 *   (endpointsFor: the endpoints registered for an app URL; default handlerEndpoints)
 */
export function createRegistration(
  transport,
  { appBasePath, locate, deploymentId, features, endpointsFor = handlerEndpoints }
) {
  /** @type {Promise<void> | undefined} */
  let registering;
  let registered = false;
  /** The podId this process registered under (the one close() removes). */
  let registeredPodId;
  let warned = false;
  let stopped = false;
  /** This process serves deliveries (its workflow handler was built, or start() was called). */
  let wanted = false;
  /** @type {NodeJS.Timeout | undefined} */
  let retryTimer;
  /** @type {NodeJS.Timeout | undefined} */
  let renewTimer;
  /** @type {Promise<void> | undefined} */
  let renewing;

  /** @param {{ appUrl: string, podId?: string }} where */
  async function register({ appUrl, podId }) {
    const answer = await transport.request('POST', `${appBasePath}/handlers`, {
      body: {
        podId,
        deploymentVersion: deploymentId,
        endpoints: endpointsFor(appUrl),
        ...(features?.length ? { features } : {}),
      },
      idempotent: true,
    });
    registered = true;
    registeredPodId = podId;
    scheduleRenewal({ appUrl, podId }, answer?.ttlSeconds);
  }

  /**
   * Renew the lease at a third of its TTL, so a renewal or two may fail
   * before it ends; after a failure, sooner (capped backoff, never later than
   * the normal period). No TTL in the answer: the registration does not expire.
   * @param {{ appUrl: string, podId?: string }} where
   * @param {unknown} ttlSeconds
   */
  function scheduleRenewal(where, ttlSeconds, failures = 0) {
    clearTimeout(renewTimer);
    renewTimer = undefined;
    if (stopped || typeof ttlSeconds !== 'number' || !(ttlSeconds > 0)) return;
    const period = (ttlSeconds * 1000) / 3;
    const delay = failures === 0 ? period : Math.min(RETRY_MIN_MS * 2 ** (failures - 1), RETRY_MAX_MS, period);
    renewTimer = setTimeout(() => {
      renewTimer = undefined;
      if (stopped) return;
      renewing = register(where)
        .catch((err) => {
          if (stopped) return;
          console.error(
            `[pg-workflow-world] renewing the handler registration failed (retrying in ${Math.round(
              Math.min(RETRY_MIN_MS * 2 ** failures, RETRY_MAX_MS, period)
            )}ms):`,
            err?.message ?? err
          );
          scheduleRenewal(where, ttlSeconds, failures + 1);
        })
        .finally(() => {
          renewing = undefined;
        });
    }, delay);
    renewTimer.unref();
  }

  /** Register once; concurrent and repeated calls share the attempt. A failure can be retried. */
  function ensureRegistered() {
    wanted = true;
    const where = locate(); // an invalid PORT throws here, to the caller of start()
    if (!where.appUrl) {
      if (!warned) {
        warned = true;
        console.warn(
          `[pg-workflow-world] no app URL ${where.pending ? `yet: ${where.pending}` : 'configured'} ` +
            '(WORKFLOW_APP_URL, or PORT for http://localhost:$PORT); not registering handlers — ' +
            'queueing a message will fail until one is set'
        );
      }
      // PORT=0: the server is about to listen; register once it set the port.
      if (where.pending && !retryTimer && !stopped) retryLater(RETRY_MIN_MS);
      return Promise.resolve();
    }
    registering ??= register(/** @type {{ appUrl: string, podId?: string }} */ (where)).catch((err) => {
      registering = undefined;
      throw err;
    });
    return registering;
  }

  /** @param {number} delayMs */
  function retryLater(delayMs) {
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      registerInBackground(Math.min(delayMs * 2, RETRY_MAX_MS));
    }, delayMs);
    retryTimer.unref();
  }

  /**
   * Register without making the caller wait or fail: used when the runtime
   * loads its handlers, where nobody could handle the error. Retries with
   * capped backoff until it succeeds (the service may start after the app,
   * the server may not know its port yet).
   */
  function registerInBackground(delayMs = RETRY_MIN_MS) {
    wanted = true;
    if (registered || retryTimer || stopped) return;
    let where;
    try {
      where = locate();
    } catch (err) {
      console.error('[pg-workflow-world] not registering handlers:', /** @type {Error} */ (err).message);
      return;
    }
    if (!where.appUrl) {
      if (where.pending) retryLater(delayMs); // PORT=0: look again once the server listens
      return;
    }
    ensureRegistered().catch((err) => {
      if (stopped || retryTimer) return; // another caller already scheduled the retry
      console.error(
        `[pg-workflow-world] handler registration failed (retrying in ${delayMs / 1000}s):`,
        err?.message ?? err
      );
      retryLater(delayMs);
    });
  }

  return {
    ensureRegistered,
    registerInBackground,

    /**
     * Register now if this process serves deliveries and its registration was
     * only waiting (e.g. for the app URL, which the first queue call found).
     * A process that only starts runs (a script, a CLI) never registers.
     */
    nudge() {
      if (!wanted || registered || stopped || registering) return;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      registerInBackground();
    },

    async unregister() {
      stopped = true;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      clearTimeout(renewTimer);
      renewTimer = undefined;
      // A renewal on the wire would otherwise land after the DELETE and register again.
      await renewing;
      if (!registered) return;
      registered = false;
      registering = undefined;
      await transport.request('DELETE', `${appBasePath}/handlers/${encodeURIComponent(String(registeredPodId))}`);
    },
  };
}
