// Options → effective configuration. Explicit options win over environment
// variables; the PLT_WORLD_* names are accepted so apps configured for
// @platformatic/workflow can switch without renaming their env.

import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TOKEN_FILE } from './auth.js';
import { resolveLine } from './line.js';

/**
 * @typedef {object} WorldOptions
 * @property {string} [serviceUrl] base URL of the pg-workflow service
 * @property {string} [appId] application id (default "default")
 * @property {string} [deploymentId] this deployment's version (default "local")
 * @property {string} [appUrl] this app's own base URL, for handler registration
 * @property {string} [podId] registration id of this process (used as given)
 * @property {string} [tokenFile] the service-account token sent to pg-workflow, projected for its audience
 *   (env WORKFLOW_SERVICE_TOKEN_FILE; default /var/run/secrets/pg-workflow/token)
 * @property {string} [serviceAccountDir] a directory whose `token` is sent instead, when no token file is named
 *   (env K8S_SERVICE_ACCOUNT_DIR; e.g. the automounted one when the service's audience is the API server's)
 * @property {number} [requestTimeoutMs] per-request deadline (default 60 s)
 * @property {number} [maxSockets] keep-alive pool size (default 64)
 * @property {number} [streamFlushIntervalMs] override the runtime's stream write batching
 * @property {boolean} [autoStart] register handlers when the runtime first builds a queue handler (default true)
 * @property {boolean} [eventMessages] send the runtime's next queue message with the event that makes it
 *   necessary (default true; env PGW_WORLD_EVENT_MESSAGES=0 turns it off, e.g. to measure its effect)
 * @property {boolean} [runSnapshots] take the run_started answer delivered with a workflow message instead of
 *   asking the service (default true; env PGW_WORLD_RUN_SNAPSHOTS=0 turns it off)
 * @property {boolean} [encryption] implement getEncryptionKeyForRun: runs of an app with an encryption secret are
 *   encrypted by the runtime (default true; env PGW_WORLD_ENCRYPTION=0 turns it off)
 * @property {boolean} [eventBatches] DevKit 5 line: offer events.createBatch (default true; env
 *   PGW_WORLD_EVENT_BATCHES=0 turns it off, e.g. to measure its effect)
 * @property {boolean} [queueBatches] DevKit 5 line: offer queueBatch (POST /queue-batches; default true; env
 *   PGW_WORLD_QUEUE_BATCHES=0 turns it off)
 * @property {boolean} [writeSessions] DevKit 5 line: offer streams.createWriteSession (default true; env
 *   PGW_WORLD_WRITE_SESSIONS=0 turns it off)
 * @property {boolean} [eventDeltas] DevKit 5 line: pass core's event-delta write options (sinceCursor,
 *   skipPreload, preloadEvents) to the service (default true; env PGW_WORLD_EVENT_DELTAS=0 leaves them out, so
 *   the service answers as to a World without them, e.g. to measure their effect)
 * @property {4 | 5} [line] the DevKit line to serve (env PGW_WORLD_LINE; default: the major version of the
 *   @workflow/core, else `workflow`, installed where `cwd` resolves packages, else 4; see line.js)
 * @property {string} [cwd] where to look for the app's @workflow/core (default process.cwd())
 * @property {NodeJS.ProcessEnv} [env] environment to read (default process.env)
 */

const WELL_KNOWN = '/.well-known/workflow/v1';

/** @param {...(string | undefined)} values */
function firstSet(...values) {
  return values.find((v) => v !== undefined && v !== '');
}

/** @param {string} url */
function withoutTrailingSlash(url) {
  return url.replace(/\/+$/, '');
}

/**
 * The three endpoints the service delivers to, under the app's base URL
 * (which may carry a base path, e.g. http://app:3000/docs).
 * @param {string} appUrl
 */
export function handlerEndpoints(appUrl) {
  let base = withoutTrailingSlash(appUrl);
  if (base.endsWith(WELL_KNOWN)) base = base.slice(0, -WELL_KNOWN.length);
  return {
    workflow: `${base}${WELL_KNOWN}/flow`,
    step: `${base}${WELL_KNOWN}/step`,
    webhook: `${base}${WELL_KNOWN}/webhook`,
  };
}

/**
 * Where the service reaches this app, and which setting said so. Like
 * world-local and world-postgres, an app that only sets PORT is reached at
 * http://localhost:$PORT (WORKFLOW_LOCAL_BASE_URL, their override, is honoured
 * too), so switching from those Worlds needs no new variable. PORT=0 means the
 * port is still being chosen (a server listening on port 0 sets PORT once it
 * listens): not known yet, `pending` says why.
 * @param {WorldOptions} options
 * @param {NodeJS.ProcessEnv} env
 * @returns {{ appUrl?: string, appUrlSource?: string, pending?: string }}
 */
function resolveAppUrl(options, env) {
  const named = [
    ['appUrl option', options.appUrl],
    ['WORKFLOW_APP_URL', env.WORKFLOW_APP_URL],
    ['PLT_WORLD_APP_URL', env.PLT_WORLD_APP_URL],
    ['WORKFLOW_LOCAL_BASE_URL', env.WORKFLOW_LOCAL_BASE_URL],
  ];
  for (const [source, value] of named) {
    if (value !== undefined && value !== '') return { appUrl: withoutTrailingSlash(value), appUrlSource: source };
  }
  const port = env.PORT;
  if (port !== undefined && port !== '') {
    if (port === '0') return { pending: 'PORT is 0 (the server has not set the port it listens on yet)' };
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      throw new Error(`pg-workflow-world: invalid PORT ${JSON.stringify(port)} (used for the app URL http://localhost:$PORT)`);
    }
    return { appUrl: `http://localhost:${port}`, appUrlSource: 'PORT' };
  }
  return {};
}

/**
 * This app's location, looked up when first needed (registration, the first
 * queue call) rather than when the World is created: the runtime creates the
 * World at import, possibly before the server knows its port. Once an app URL
 * is found it is kept (with the podId made from it), so the registration and
 * its removal always name the same pod.
 * @param {WorldOptions} options
 * @param {NodeJS.ProcessEnv} env
 * @returns {() => { appUrl?: string, appUrlSource?: string, podId?: string, pending?: string }}
 */
export function createLocator(options, env) {
  /** @type {{ appUrl?: string, appUrlSource?: string, podId?: string } | undefined} */
  let found;
  return function locate() {
    if (found) return found;
    const where = resolveAppUrl(options, env);
    const podId = firstSet(options.podId) ?? processPodId(firstSet(env.WORKFLOW_POD_ID), where.appUrl);
    if (!where.appUrl) return { ...where, podId };
    found = { appUrl: where.appUrl, appUrlSource: where.appUrlSource, podId };
    return found;
  };
}

/**
 * The registration id of this process. Every process gets its own (the
 * process id is part of it): a CLI or script that inherits the app's
 * environment must never own, and so never remove, the app's registration.
 * Stable across restarts of a container (same hostname, same pid), so a
 * restarted app replaces its own registration. No slashes: it is a path
 * segment of DELETE /handlers/:podId.
 * @param {string | undefined} base  WORKFLOW_POD_ID
 * @param {string | undefined} appUrl
 * @param {number} pid
 */
export function processPodId(base, appUrl, pid = process.pid) {
  if (!base && !appUrl) return undefined;
  const prefix = base || `${hostname()}-${createHash('sha256').update(String(appUrl)).digest('hex').slice(0, 10)}`;
  return `${prefix.replaceAll('/', '_')}-${pid}`;
}

/**
 * The token file sent as `Authorization: Bearer …` (when it exists): a named file first, then a named
 * service-account directory's `token`, else the projected path of the README's recipe.
 * @param {WorldOptions} options
 * @param {NodeJS.ProcessEnv} env
 */
function resolveTokenFile(options, env) {
  const file = firstSet(options.tokenFile, env.WORKFLOW_SERVICE_TOKEN_FILE);
  if (file) return file;
  const dir = firstSet(options.serviceAccountDir, env.K8S_SERVICE_ACCOUNT_DIR);
  return dir ? join(dir, 'token') : DEFAULT_TOKEN_FILE;
}

/** @param {WorldOptions} [options] */
export function resolveConfig(options = {}) {
  const env = options.env ?? process.env;
  const serviceUrl = firstSet(options.serviceUrl, env.WORKFLOW_SERVICE_URL, env.PLT_WORLD_SERVICE_URL);
  if (!serviceUrl) {
    throw new Error(
      'pg-workflow-world: the service URL is not configured; set WORKFLOW_SERVICE_URL (or pass { serviceUrl })'
    );
  }
  let parsed;
  try {
    parsed = new URL(serviceUrl);
  } catch {
    throw new Error(`pg-workflow-world: invalid service URL ${JSON.stringify(serviceUrl)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`pg-workflow-world: service URL must be http(s), got ${parsed.protocol}`);
  }
  const appId = firstSet(options.appId, env.WORKFLOW_APP_ID, env.PLT_WORLD_APP_ID) ?? 'default';
  const numberOption = (value, name, fallback) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new Error(`pg-workflow-world: invalid ${name}: ${value}`);
    return n;
  };
  const { line, source: lineSource } = resolveLine(options, env, options.cwd);
  return {
    /** The DevKit line served (4 or 5) and what decided it. */
    line,
    lineSource,
    serviceUrl: withoutTrailingSlash(parsed.toString()),
    appId,
    /** Prefix of every app-scoped path. */
    appBasePath: `/api/v1/apps/${encodeURIComponent(appId)}`,
    deploymentId:
      firstSet(options.deploymentId, env.WORKFLOW_DEPLOYMENT_ID, env.PLT_WORLD_DEPLOYMENT_VERSION) ?? 'local',
    /**
     * Where the service reaches this app: { appUrl, appUrlSource (which setting gave it), podId, pending (why
     * not known yet) }, looked up on each call until found, then fixed. Throws on an invalid PORT.
     */
    locate: createLocator(options, env),
    tokenFile: resolveTokenFile(options, env),
    requestTimeoutMs: numberOption(options.requestTimeoutMs, 'requestTimeoutMs', 60_000),
    maxSockets: numberOption(options.maxSockets, 'maxSockets', 64),
    streamFlushIntervalMs:
      options.streamFlushIntervalMs === undefined
        ? undefined
        : numberOption(options.streamFlushIntervalMs, 'streamFlushIntervalMs', undefined),
    autoStart: options.autoStart ?? true,
    // Both predict what core 4.8.9 does next: the DevKit 5 line never uses them.
    eventMessages: line === 5 ? false : (options.eventMessages ?? env.PGW_WORLD_EVENT_MESSAGES !== '0'),
    runSnapshots: line === 5 ? false : (options.runSnapshots ?? env.PGW_WORLD_RUN_SNAPSHOTS !== '0'),
    encryption: options.encryption ?? env.PGW_WORLD_ENCRYPTION !== '0',
    eventBatches: line === 5 && (options.eventBatches ?? env.PGW_WORLD_EVENT_BATCHES !== '0'),
    queueBatches: line === 5 && (options.queueBatches ?? env.PGW_WORLD_QUEUE_BATCHES !== '0'),
    writeSessions: line === 5 && (options.writeSessions ?? env.PGW_WORLD_WRITE_SESSIONS !== '0'),
    eventDeltas: line === 5 && (options.eventDeltas ?? env.PGW_WORLD_EVENT_DELTAS !== '0'),
    /** The environment read (DevKit 5: WORKFLOW_SEALED_LOG picks the spec version). */
    env,
  };
}
