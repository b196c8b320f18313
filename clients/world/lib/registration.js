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
 * @param {{ appBasePath: string, appUrl?: string, podId?: string, deploymentId: string, features?: string[] }} config
 */
export function createRegistration(transport, { appBasePath, appUrl, podId, deploymentId, features }) {
  /** @type {Promise<void> | undefined} */
  let registering;
  let registered = false;
  let warned = false;
  let stopped = false;
  /** @type {NodeJS.Timeout | undefined} */
  let retryTimer;
  /** @type {NodeJS.Timeout | undefined} */
  let renewTimer;
  /** @type {Promise<void> | undefined} */
  let renewing;

  async function register() {
    const answer = await transport.request('POST', `${appBasePath}/handlers`, {
      body: {
        podId,
        deploymentVersion: deploymentId,
        endpoints: handlerEndpoints(/** @type {string} */ (appUrl)),
        ...(features?.length ? { features } : {}),
      },
      idempotent: true,
    });
    registered = true;
    scheduleRenewal(answer?.ttlSeconds);
  }

  /**
   * Renew the lease at a third of its TTL, so a renewal or two may fail
   * before it ends; after a failure, sooner (capped backoff, never later than
   * the normal period). No TTL in the answer: the registration does not expire.
   * @param {unknown} ttlSeconds
   */
  function scheduleRenewal(ttlSeconds, failures = 0) {
    clearTimeout(renewTimer);
    renewTimer = undefined;
    if (stopped || typeof ttlSeconds !== 'number' || !(ttlSeconds > 0)) return;
    const period = (ttlSeconds * 1000) / 3;
    const delay = failures === 0 ? period : Math.min(RETRY_MIN_MS * 2 ** (failures - 1), RETRY_MAX_MS, period);
    renewTimer = setTimeout(() => {
      renewTimer = undefined;
      if (stopped) return;
      renewing = register()
        .catch((err) => {
          if (stopped) return;
          console.error(
            `[pg-workflow-world] renewing the handler registration failed (retrying in ${Math.round(
              Math.min(RETRY_MIN_MS * 2 ** failures, RETRY_MAX_MS, period)
            )}ms):`,
            err?.message ?? err
          );
          scheduleRenewal(ttlSeconds, failures + 1);
        })
        .finally(() => {
          renewing = undefined;
        });
    }, delay);
    renewTimer.unref();
  }

  /** Register once; concurrent and repeated calls share the attempt. A failure can be retried. */
  function ensureRegistered() {
    if (!appUrl) {
      if (!warned) {
        warned = true;
        console.warn(
          '[pg-workflow-world] no app URL configured (WORKFLOW_APP_URL, or PORT for http://localhost:$PORT); ' +
            'not registering handlers — queueing a message will fail until one is set'
        );
      }
      return Promise.resolve();
    }
    registering ??= register().catch((err) => {
      registering = undefined;
      throw err;
    });
    return registering;
  }

  /**
   * Register without making the caller wait or fail: used when the runtime
   * loads its handlers, where nobody could handle the error. Retries with
   * capped backoff until it succeeds (the service may start after the app).
   */
  function registerInBackground(delayMs = RETRY_MIN_MS) {
    if (!appUrl || registered || retryTimer || stopped) return;
    ensureRegistered().catch((err) => {
      if (stopped || retryTimer) return; // another caller already scheduled the retry
      console.error(
        `[pg-workflow-world] handler registration failed (retrying in ${delayMs / 1000}s):`,
        err?.message ?? err
      );
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        registerInBackground(Math.min(delayMs * 2, RETRY_MAX_MS));
      }, delayMs);
      retryTimer.unref();
    });
  }

  return {
    configured: Boolean(appUrl),
    ensureRegistered,
    registerInBackground,

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
      await transport.request('DELETE', `${appBasePath}/handlers/${encodeURIComponent(/** @type {string} */ (podId))}`);
    },
  };
}
