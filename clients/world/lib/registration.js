// Registers this process's /.well-known/workflow/v1/{flow,step,webhook}
// endpoints with the service (POST /handlers), so the dispatcher knows where
// to deliver this deployment's messages. Registration is an upsert; the
// service keeps it until DELETE /handlers/:podId (sent by close()), the
// version is expired, or the endpoints keep refusing connections.

import { handlerEndpoints } from './config.js';

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {{ appBasePath: string, appUrl?: string, podId?: string, deploymentId: string }} config
 */
export function createRegistration(transport, { appBasePath, appUrl, podId, deploymentId }) {
  /** @type {Promise<void> | undefined} */
  let registering;
  let registered = false;
  let warned = false;

  async function register() {
    await transport.request('POST', `${appBasePath}/handlers`, {
      body: { podId, deploymentVersion: deploymentId, endpoints: handlerEndpoints(/** @type {string} */ (appUrl)) },
      idempotent: true,
    });
    registered = true;
  }

  return {
    configured: Boolean(appUrl),

    /** Register once; concurrent and repeated calls share the attempt. A failure can be retried. */
    ensureRegistered() {
      if (!appUrl) {
        if (!warned) {
          warned = true;
          console.warn(
            '[pg-workflow-world] no app URL configured (WORKFLOW_APP_URL); not registering handlers — ' +
              'messages are delivered only to endpoints registered by another process'
          );
        }
        return Promise.resolve();
      }
      registering ??= register().catch((err) => {
        registering = undefined;
        throw err;
      });
      return registering;
    },

    async unregister() {
      if (!registered) return;
      registered = false;
      registering = undefined;
      await transport.request('DELETE', `${appBasePath}/handlers/${encodeURIComponent(/** @type {string} */ (podId))}`);
    },
  };
}
