// getEncryptionKeyForRun: one request per run (then cached), "no secret" →
// undefined (remembered app-wide for a while), failures thrown, never taken
// for "not encrypted".
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createWorld } from '../index.js';
import { createEncryption, NO_SECRET_TTL_MS } from '../lib/encryption.js';
import { createTransport } from '../lib/http.js';
import { resolveConfig } from '../lib/config.js';
import { json, startServer } from './helpers.js';

let srv;
/** app id → how /encryption-key answers */
const mode = new Map();
const KEY = Buffer.alloc(32, 7);

before(async () => {
  srv = await startServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const app = decodeURIComponent(url.pathname.split('/')[4]);
    const runId = url.searchParams.get('runId');
    const how = mode.get(app) ?? 'key';
    if (how === 'none') {
      return json(res, 404, { statusCode: 404, error: 'Not Found', code: 'WF_NO_ENCRYPTION_SECRET', message: 'no secret', meta: {} });
    }
    if (how === 'broken') return json(res, 500, { statusCode: 500, error: 'x', code: 'WF_INTERNAL', message: 'boom', meta: {} });
    if (how === 'short') return json(res, 200, { runId, key: Buffer.alloc(16).toString('base64'), keyVersion: 1 });
    const key = Buffer.from(KEY);
    key[0] = runId.length; // differs per run id length, enough to tell runs apart below
    return json(res, 200, { runId, key: key.toString('base64'), keyVersion: 1 });
  });
});
after(() => srv.close());
beforeEach(() => {
  srv.requests.length = 0;
  mode.clear();
});

const keyRequests = () => srv.requests.filter((r) => r.url.includes('/encryption-key'));

test('a run key is asked once per run, as GET /apps/:appId/encryption-key?runId=, and is 32 bytes', async () => {
  const w = createWorld({ serviceUrl: srv.url, appId: 'enc app', env: {} });
  const key = await w.getEncryptionKeyForRun('wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV');
  assert.ok(key instanceof Uint8Array);
  assert.equal(key.byteLength, 32);
  assert.equal(keyRequests()[0].url, '/api/v1/apps/enc%20app/encryption-key?runId=wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV');
  // The run entity form (core passes the run once it exists) and the (runId, context) form share the cache.
  const again = await w.getEncryptionKeyForRun({ runId: 'wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV', status: 'running' });
  const withContext = await w.getEncryptionKeyForRun('wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV', { deploymentId: 'd' });
  assert.deepEqual([again, withContext], [key, key]);
  assert.equal(keyRequests().length, 1);
  const [a, b] = await Promise.all([w.getEncryptionKeyForRun('wrun_x'), w.getEncryptionKeyForRun('wrun_x')]);
  assert.deepEqual(a, b);
  assert.equal(keyRequests().length, 2, 'concurrent asks for one run share one request');
  await w.close();
});

test('an app without a secret: undefined (the runtime does not encrypt), remembered app-wide for a while', async () => {
  mode.set('plain', 'none');
  let now = 1_000_000;
  const config = resolveConfig({ serviceUrl: srv.url, appId: 'plain', env: {} });
  const transport = createTransport(config);
  const enc = createEncryption(transport, config.appBasePath, { now: () => now });
  assert.equal(await enc.getEncryptionKeyForRun('wrun_a'), undefined);
  assert.equal(await enc.getEncryptionKeyForRun('wrun_b'), undefined);
  assert.equal(keyRequests().length, 1, 'one request while the answer is fresh');
  mode.set('plain', 'key'); // a secret is provisioned
  now += NO_SECRET_TTL_MS + 1;
  assert.equal((await enc.getEncryptionKeyForRun('wrun_b')).byteLength, 32, 'then runs get keys');
  transport.close();
});

test('failures are thrown, not taken for "no encryption", and not cached', async () => {
  mode.set('bad', 'broken');
  const w = createWorld({ serviceUrl: srv.url, appId: 'bad', env: {} });
  await assert.rejects(w.getEncryptionKeyForRun('wrun_a'), (err) => err.status === 500);
  mode.set('bad', 'short');
  await assert.rejects(w.getEncryptionKeyForRun('wrun_a'), /16-byte key/);
  mode.set('bad', 'key');
  assert.equal((await w.getEncryptionKeyForRun('wrun_a')).byteLength, 32);
  assert.equal(keyRequests().length, 3);
  await w.close();
});

test('encryption: false (or PGW_WORLD_ENCRYPTION=0) leaves the method out, so the runtime never encrypts', async () => {
  const off = createWorld({ serviceUrl: srv.url, encryption: false, env: {} });
  assert.equal(off.getEncryptionKeyForRun, undefined);
  const envOff = createWorld({ serviceUrl: srv.url, env: { PGW_WORLD_ENCRYPTION: '0' } });
  assert.equal(envOff.getEncryptionKeyForRun, undefined);
  const on = createWorld({ serviceUrl: srv.url, env: {} });
  assert.equal(typeof on.getEncryptionKeyForRun, 'function');
  await Promise.all([off.close(), envOff.close(), on.close()]);
});
