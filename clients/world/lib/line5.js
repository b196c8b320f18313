// The World for the DevKit 5 line (`workflow` 5.x, @workflow/world 5.x).
//
// What differs from the 4.x World (index.js), and why:
//   - specVersion 7 (the sealed log), or 6 when WORKFLOW_SEALED_LOG is off, as
//     @workflow/world's mintedSpecVersion() decides: core 5 accepts 6..7 and
//     stamps this on every run it creates; the service routes each run by it
//     (spec >= 6: slot event ids, eventCount bump-and-report, lazy step start,
//     error bytes, attributes). The service keeps the sealed-log contract by
//     allocating positions at commit, so 6 and 7 behave alike there;
//   - storage and streams: storage5.js (with the run operations of
//     runops5.js), streams5.js; the analytics namespace: analytics5.js;
//   - the queue: there is only the workflow queue. A step travels on
//     __wkf_workflow_<name> with stepId/stepName/runContext and is delivered
//     to the flow route like any workflow message, so the handler is the same
//     delivery protocol as 4.x (x-vqs-* headers, JSON with tagged binaries, a
//     {timeoutSeconds} answer asking for redelivery). The flow route serves
//     steps too, so it is also registered as the step endpoint: a service
//     that still asks for one gets an address that works, and no 5.x message
//     goes to a step queue anyway;
//   - queueBatch (queuebatch5.js): a fan-out's step messages in one request,
//     one transaction on the service;
//   - nothing rides on events or deliveries (PGW_WORLD_EVENT_MESSAGES and
//     PGW_WORLD_RUN_SNAPSHOTS are 4.8.9 predictions): no features registered;
//   - registration: core 5 builds its flow handler on the first delivery, not
//     when the route loads, so it cannot trigger the registration the way core
//     4 did; the app registers with world.start() (as every recipe does), and a
//     process that called start() before its port was known registers on its
//     first queue() once the URL is known (as in 4.x);
//   - capabilities: hookRetention (the service keeps a hook's token until its
//     tokenRetentionUntil). hookResumeDedup is not declared statically: the
//     service attests it per hook (resumeCapabilities on by-token lookups of
//     spec >= 6 hooks), which core accepts as well and which fails closed on
//     an older service.
// Run encryption (getEncryptionKeyForRun) and the lazily resolved app URL are
// the 4.x ones.

import { handlerEndpoints } from './config.js';
import { createAnalytics5 } from './analytics5.js';
import { createEncryption } from './encryption.js';
import { createQueue } from './queue.js';
import { createQueueBatch } from './queuebatch5.js';
import { createRegistration } from './registration.js';
import { createStorage5 } from './storage5.js';
import { createStreams5 } from './streams5.js';

export const SPEC_VERSION_SLOT_IDENTITY = 6;
export const SPEC_VERSION_SEALED_LOG = 7;

/**
 * The spec version stamped on new runs: 7 unless WORKFLOW_SEALED_LOG is 0/false (same reading as
 * @workflow/world's envFlag: anything else keeps the default).
 * @param {NodeJS.ProcessEnv} env
 */
export function specVersionFor(env) {
  const raw = (env.WORKFLOW_SEALED_LOG ?? '').toLowerCase();
  return raw === '0' || raw === 'false' ? SPEC_VERSION_SLOT_IDENTITY : SPEC_VERSION_SEALED_LOG;
}

/**
 * The endpoints a 5.x app registers: the flow route serves workflow and step messages.
 * @param {string} appUrl
 */
export function endpoints5(appUrl) {
  const { workflow, webhook } = handlerEndpoints(appUrl);
  return { workflow, step: workflow, webhook };
}

/**
 * @param {ReturnType<typeof import('./config.js').resolveConfig>} config
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 */
export function createWorld5(config, transport) {
  const storage = createStorage5(transport, config.appBasePath, {
    eventBatches: config.eventBatches,
    eventDeltas: config.eventDeltas,
    requestTimeoutMs: config.requestTimeoutMs,
  });
  const registration = createRegistration(transport, { ...config, features: [], endpointsFor: endpoints5 });
  const onLocated = config.autoStart ? registration.nudge : undefined;
  const queue = createQueue(transport, { ...config, onLocated });
  const encryption = config.encryption ? createEncryption(transport, config.appBasePath) : undefined;

  return {
    specVersion: specVersionFor(config.env),
    capabilities: { hookRetention: { active: true } },
    ...(config.streamFlushIntervalMs !== undefined ? { streamFlushIntervalMs: config.streamFlushIntervalMs } : {}),
    ...storage,
    analytics: createAnalytics5(transport, config.appBasePath),
    streams: createStreams5(transport, config.appBasePath, { writeSessions: config.writeSessions }),
    getDeploymentId: queue.getDeploymentId,
    queue: queue.queue,
    // A fan-out's step messages in one request (core falls back to queue() per message without it).
    ...(config.queueBatches ? { queueBatch: createQueueBatch(transport, { ...config, onLocated }) } : {}),
    ...(encryption ? { getEncryptionKeyForRun: encryption.getEncryptionKeyForRun } : {}),
    /** @param {string} prefix @param {(message: unknown, meta: any) => Promise<unknown>} handler */
    createQueueHandler(prefix, handler) {
      // Built on the first delivery, so the process is registered already; this keeps a registration that
      // failed (the service was down at start()) retrying in the background.
      if (config.autoStart) registration.registerInBackground();
      return queue.createQueueHandler(prefix, handler);
    },
    registration,
    closeQueue: queue.close,
  };
}
