// pg-workflow-world: the Workflow DevKit `World` backed by the pg-workflow
// HTTP service, for both DevKit lines: 4.x (interface @workflow/world 4.5,
// spec version 3) and 5.x (@workflow/world 5.x, spec 6/7: lib/line5.js).
// Which one a World serves is decided when it is created (lib/line.js: the
// `line` option or PGW_WORLD_LINE, else the major version of the app's
// installed @workflow/core).
//
// The runtime loads it with WORKFLOW_TARGET_WORLD=pg-workflow-world: core 4
// calls the default export, core 5 calls createWorld(), both without
// arguments, so everything is configurable by environment; createWorld(options)
// takes the same settings explicitly.

import { resolveConfig } from './lib/config.js';
import { createEncryption } from './lib/encryption.js';
import { createTransport } from './lib/http.js';
import { resolveLine } from './lib/line.js';
import { createWorld5 } from './lib/line5.js';
import { createPrequeue } from './lib/prequeue.js';
import { createRunSnapshots } from './lib/run-snapshots.js';
import { createQueue } from './lib/queue.js';
import { createRegistration } from './lib/registration.js';
import { createStorage } from './lib/storage.js';
import { createStreamer } from './lib/streamer.js';

/** Highest @workflow/world spec version this World implements on the DevKit 4 line. */
export const SPEC_VERSION = 3;

/** Queue prefix of the runtime's workflow (flow) handler, optionally namespaced. */
const WORKFLOW_HANDLER_PREFIX = /^__(?:[a-z][a-z0-9]*_)?wkf_workflow_$/;

/**
 * A new World from explicit settings. Without arguments on the DevKit 5 line
 * it is the process's World from the environment (the default export): core 5
 * calls createWorld() for each of its World caches, and they must share one
 * connection pool and one registration.
 * @param {import('./lib/config.js').WorldOptions} [options]
 * @returns {import('./index.js').PgWorkflowWorld}
 */
export function createWorld(options) {
  if (options === undefined && resolveLine({}, process.env).line === 5) return createWorldFromEnv();
  return buildWorld(options);
}

/**
 * @param {import('./lib/config.js').WorldOptions} [options]
 * @returns {import('./index.js').PgWorkflowWorld}
 */
function buildWorld(options) {
  const config = resolveConfig(options);
  const transport = createTransport(config);
  if (config.line === 5) return withLifecycle(config, transport, createWorld5(config, transport));
  /** The app URL if it is known by now (never throws: an invalid PORT is reported where the URL is needed). */
  const knownAppUrl = () => {
    try {
      return config.locate().appUrl;
    } catch {
      return undefined;
    }
  };
  // Without an app URL nothing is queued at all (queue() refuses), so nothing rides on events either.
  const prequeue = createPrequeue({
    deploymentId: config.deploymentId,
    enabled: () => config.eventMessages && Boolean(knownAppUrl()),
  });
  const snapshots = createRunSnapshots({ enabled: config.runSnapshots });
  const storage = createStorage(transport, config.appBasePath, prequeue, snapshots);
  const streamer = createStreamer(transport, config.appBasePath);
  const registration = createRegistration(transport, { ...config, features: snapshots.features });
  const queue = createQueue(
    transport,
    // The first queue call that finds the app URL registers this process if a registration was waiting for it.
    { ...config, onLocated: config.autoStart ? registration.nudge : undefined },
    prequeue,
    snapshots
  );
  const encryption = config.encryption ? createEncryption(transport, config.appBasePath) : undefined;
  let closed = false;

  return {
    specVersion: SPEC_VERSION,
    ...(config.streamFlushIntervalMs !== undefined ? { streamFlushIntervalMs: config.streamFlushIntervalMs } : {}),
    ...storage,
    ...streamer,
    getDeploymentId: queue.getDeploymentId,
    queue: queue.queue,
    ...(encryption ? { getEncryptionKeyForRun: encryption.getEncryptionKeyForRun } : {}),

    createQueueHandler(prefix, handler) {
      // Frameworks that never call world.start() still get their endpoints
      // registered when the flow route loads: the runtime builds its
      // workflow handler only there, so this process serves deliveries.
      // (It builds the step handler whenever @workflow/core/runtime is
      // imported — by the CLI and by scripts that only start runs, too.)
      if (config.autoStart && WORKFLOW_HANDLER_PREFIX.test(prefix)) registration.registerInBackground();
      return queue.createQueueHandler(prefix, handler);
    },

    /** Registers this process's workflow/step/webhook endpoints when an app URL is configured. */
    async start() {
      await registration.ensureRegistered();
    },

    /** Unregisters the endpoints and releases the connection pools. Idempotent. */
    async close() {
      if (closed) return;
      closed = true;
      try {
        await registration.unregister();
      } catch (err) {
        console.warn('[pg-workflow-world] handler unregistration failed:', err?.message ?? err);
      }
      await queue.close();
      transport.close();
    },

    /** True once close() was called. */
    get closed() {
      return closed;
    },

    /** The effective configuration (read-only copy), handy for diagnostics; the app URL as known by now. */
    get config() {
      const { locate, env, ...rest } = config;
      let where = {};
      try {
        where = locate();
      } catch {
        // an invalid PORT: reported where the URL is needed
      }
      const { appUrl, appUrlSource, podId } = /** @type {any} */ (where);
      return { ...rest, appUrl, appUrlSource, podId };
    },
  };
}

/**
 * The DevKit 5 World with start/close and the diagnostics getters (as the 4.x one has).
 * @param {ReturnType<typeof resolveConfig>} config
 * @param {ReturnType<typeof createTransport>} transport
 * @param {ReturnType<typeof createWorld5>} parts
 */
function withLifecycle(config, transport, parts) {
  const { registration, closeQueue, ...world } = parts;
  let closed = false;
  return Object.defineProperties(
    {
      ...world,
      /** Registers this process's endpoints when an app URL is configured. */
      async start() {
        await registration.ensureRegistered();
      },
      /** Unregisters the endpoints and releases the connection pools. Idempotent. */
      async close() {
        if (closed) return;
        closed = true;
        try {
          await registration.unregister();
        } catch (err) {
          console.warn('[pg-workflow-world] handler unregistration failed:', err?.message ?? err);
        }
        await closeQueue();
        transport.close();
      },
    },
    {
      closed: { get: () => closed, enumerable: true },
      config: {
        enumerable: true,
        get() {
          const { locate, env, ...rest } = config;
          let where = {};
          try {
            where = locate();
          } catch {
            // an invalid PORT: reported where the URL is needed
          }
          const { appUrl, appUrlSource, podId } = /** @type {any} */ (where);
          return { ...rest, appUrl, appUrlSource, podId };
        },
      },
    }
  );
}

/** @type {ReturnType<typeof buildWorld> | undefined} */
let envWorld;

/**
 * What WORKFLOW_TARGET_WORLD loads. The runtime calls it more than once per
 * process (once for its queue handlers, once for storage); configured from
 * the same environment, those calls share one World — one connection pool,
 * one handler registration. Explicit options always build a new World.
 * @param {import('./lib/config.js').WorldOptions} [options]
 */
export default function createWorldFromEnv(options) {
  if (options !== undefined) return buildWorld(options);
  if (!envWorld || envWorld.closed) envWorld = buildWorld();
  return envWorld;
}
