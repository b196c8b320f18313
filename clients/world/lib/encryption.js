// Run encryption: World.getEncryptionKeyForRun (@workflow/world 4.5 and 5.x).
//
// When it answers a 32-byte key, the runtime encrypts the run's payloads
// (inputs, outputs, step results, hook payloads, stream chunks) with AES-256-GCM
// before they reach the service; when it answers undefined, nothing is
// encrypted. The service derives the key from the app's secret (HKDF-SHA256,
// salt = runId, info = "workflow-encryption") inside PostgreSQL, so this side
// only asks GET /encryption-key?runId= and keeps the answers:
//   - a run's key never changes, so it is cached per run (bounded);
//   - 404 WF_NO_ENCRYPTION_SECRET (the app has no secret) is remembered for
//     the whole app for a short while, so an app without encryption pays one
//     request per NO_SECRET_TTL_MS, not one per run. A secret provisioned
//     meanwhile is used from then on (the runtime reads unencrypted and
//     encrypted payloads alike).
// Any other failure is thrown, never taken for "not encrypted": a step must
// not write plaintext for a run whose earlier payloads are encrypted.

const KEY_BYTES = 32;
const MAX_CACHED_RUNS = 1024;
export const NO_SECRET_TTL_MS = 30_000;

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {string} appBasePath
 * @param {{ now?: () => number }} [clock]
 */
export function createEncryption(transport, appBasePath, { now = Date.now } = {}) {
  /** runId → its key (insertion order = age: the oldest is evicted first) */
  /** @type {Map<string, Promise<Uint8Array | undefined>>} */
  const keys = new Map();
  let noSecretUntil = 0;

  /** @param {string} runId @returns {Promise<Uint8Array | undefined>} */
  async function fetchKey(runId) {
    let answer;
    try {
      answer = await transport.request('GET', `${appBasePath}/encryption-key?runId=${encodeURIComponent(runId)}`);
    } catch (err) {
      if (/** @type {any} */ (err)?.status === 404 && /** @type {any} */ (err)?.code === 'WF_NO_ENCRYPTION_SECRET') {
        noSecretUntil = now() + NO_SECRET_TTL_MS;
        return undefined;
      }
      throw err;
    }
    const key = Buffer.from(String(answer?.key ?? ''), 'base64');
    if (key.byteLength !== KEY_BYTES) {
      throw new Error(`pg-workflow-world: the service answered a ${key.byteLength}-byte key for ${runId}, not 32`);
    }
    return new Uint8Array(key);
  }

  return {
    /**
     * @param {string | { runId: string }} runOrId  the run, or its id (before it exists, e.g. in start())
     * @param {Record<string, unknown>} [_context]  world-specific context (unused: keys depend on app and run only)
     * @returns {Promise<Uint8Array | undefined>}
     */
    async getEncryptionKeyForRun(runOrId, _context) {
      const runId = typeof runOrId === 'string' ? runOrId : runOrId?.runId;
      if (typeof runId !== 'string' || runId === '') return undefined;
      const cached = keys.get(runId);
      if (cached) return cached;
      if (now() < noSecretUntil) return undefined;
      const pending = fetchKey(runId);
      keys.set(runId, pending);
      if (keys.size > MAX_CACHED_RUNS) keys.delete(/** @type {string} */ (keys.keys().next().value));
      try {
        const key = await pending;
        // "No secret" is remembered app-wide (above), not per run: the run may be encrypted once one exists.
        if (key === undefined) keys.delete(runId);
        return key;
      } catch (err) {
        keys.delete(runId); // failures are not remembered
        throw err;
      }
    },
  };
}
