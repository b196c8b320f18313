// The DevKit 5 checks, runnable by hand against a running app5 (server.mjs) and its pg-workflow service:
//   node smoke.mjs http://127.0.0.1:3098 http://127.0.0.1:3099 [appId]
// Each check starts a run through /control and asserts its outcome; exits non-zero on the first failure.
// (tests/e2e/test_devkit5_e2e.py drives the same routes under pytest: tests/e2e/README.md.)
import assert from 'node:assert/strict';

const [appUrl = 'http://127.0.0.1:3000', serviceUrl = 'http://127.0.0.1:3042', appId = 'default'] = process.argv.slice(2);

async function call(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
const control = (method, path, body) => call(method, `${appUrl}/control/${path}`, body);
const start = async (workflow, args = [], options) => (await control('POST', 'start', { workflow, args, options })).runId;
const outcome = (runId, waitMs = 30_000) => control('GET', `runs/${runId}?waitMs=${waitMs}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function completed(runId) {
  const out = await outcome(runId);
  assert.equal(out.status, 'completed', JSON.stringify(out));
  assert.ok(out.specVersion >= 6, `a DevKit 5 run (spec ${out.specVersion})`);
  return out;
}
async function hooksOf(runId) {
  for (let i = 0; i < 100; i++) {
    const { hooks } = await control('GET', `runs/${runId}/hooks`);
    if (hooks.length) return hooks;
    await sleep(100);
  }
  throw new Error(`no hook on ${runId}`);
}

const checks = {
  async world() {
    const world = await control('GET', 'world');
    assert.equal(world.config.line, 5);
    assert.ok([6, 7].includes(world.specVersion));
  },
  async sequentialAndParallel() {
    assert.deepEqual((await completed(await start('multiStep', [2, 3]))).result, { sum: 5, product: 15, text: 'sum=5 product=15' });
    assert.deepEqual((await completed(await start('sequentialSteps', [4]))).result, [0, 1, 2, 3]);
    assert.deepEqual((await completed(await start('parallelSteps', [5]))).result, [0, 1, 2, 3, 4]);
    const events = (await control('GET', `runs/${await start('multiStep', [1, 1])}/events`)).events;
    for (const [i, event] of events.entries()) assert.equal(event.eventId, `evnt_${String(i + 1).padStart(26, '0')}`);
  },
  async sleep() {
    const { result } = await completed(await start('sleepThenReport', [1000]));
    assert.ok(result.after - result.before >= 1000, JSON.stringify(result));
  },
  async hooksAndWebhooks() {
    const token = `smoke-${Date.now()}`;
    const runId = await start('hookCollector', [token, 2]);
    await hooksOf(runId);
    await control('POST', 'hooks/resume', { token, payload: { n: 1 } });
    await control('POST', 'hooks/resume', { token, payload: { n: 2 } });
    assert.deepEqual((await completed(runId)).result, { conflict: false, payloads: [{ n: 1 }, { n: 2 }] });
    const hookRun = await start('webhookOnce');
    const [webhook] = await hooksOf(hookRun);
    const res = await fetch(`${appUrl}/.well-known/workflow/v1/webhook/${encodeURIComponent(webhook.token)}`, { method: 'POST', body: 'hello' });
    assert.ok(res.status < 300, `webhook answered ${res.status}`);
    assert.deepEqual((await completed(hookRun)).result, { method: 'POST', body: 'hello' });
  },
  async retriesAndFatal() {
    const { result } = await completed(await start('retryThenCatchFatal', [`k-${Date.now()}`, 300]));
    assert.equal(result.flaky.attempt, 2);
    assert.deepEqual(result.fatal, { caught: true, name: 'FatalError', message: 'fatal on purpose' });
    const failed = await outcome(await start('failsFatally', ['boom']));
    assert.equal(failed.status, 'failed');
    assert.equal(failed.errorCode, 'USER_ERROR');
    assert.match(failed.error.message, /boom/); // hydrated from the stored error bytes
  },
  async streams() {
    const runId = await start('streamValues', [3]);
    const { values } = await control('GET', `runs/${runId}/stream?timeoutMs=15000`);
    assert.deepEqual(values, [0, 1, 2].map((i) => ({ i, text: `chunk-${i}` })));
    await completed(runId);
  },
  async childRunsWithAttributes() {
    const parentId = await start('parentWithChild', [7]);
    const parent = await completed(parentId);
    assert.equal(parent.result.childResult, 21);
    assert.deepEqual(parent.attributes, { phase: 'done' });
    const child = await completed(parent.result.childRunId);
    assert.deepEqual(child.attributes, {
      role: 'child', input: '7', phase: 'child-running', $rootRunId: parentId, $parentRunId: parentId,
    });
    const seeded = await completed(await start('multiStep', [1, 2], { attributes: { customer: 'acme' } }));
    assert.deepEqual(seeded.attributes, { customer: 'acme' });
  },
  async cancelAndReplay() {
    const sleeping = await start('sleepAnHour', ['x']);
    await sleep(1000);
    await control('POST', `runs/${sleeping}/cancel`, { reason: 'smoke' });
    assert.equal((await outcome(sleeping, 10_000)).status, 'cancelled');
    const original = await start('multiStep', [4, 5]);
    await completed(original);
    const replay = await call('POST', `${serviceUrl}/api/v1/apps/${appId}/runs/${original}/replay`, {});
    assert.deepEqual((await completed(replay.runId)).result, { sum: 9, product: 45, text: 'sum=9 product=45' });
  },
  async binaryPayloads() {
    const { result } = await completed(await start('binaryRoundTrip', [{ __type: 'Uint8Array', data: 'AAEC' }]));
    assert.deepEqual(result.reversed, { __type: 'Uint8Array', data: 'AgEA' });
  },
};

for (const [name, check] of Object.entries(checks)) {
  const t0 = Date.now();
  await check();
  console.log(`ok ${name} (${Date.now() - t0} ms)`);
}
