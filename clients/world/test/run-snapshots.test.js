import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createWorld } from '../index.js';
import { json, startServer } from './helpers.js';

const T = '2024-05-06T07:08:09.010Z';
let srv;

before(async () => {
  srv = await startServer((req, res) => {
    if (req.method === 'POST' && req.url.endsWith('/handlers')) return json(res, 201, { registered: true });
    if (req.method === 'DELETE') return json(res, 200, {});
    const ev = { eventId: 'wevt_01HZZZZZZZZZZZZZZZZZZZZZZZ', runId: 'wrun_1', createdAt: T, ...req.json };
    return json(res, 200, { event: ev, run: { runId: 'wrun_1', status: 'running', createdAt: T, startedAt: T },
                            events: [ev], hasMore: false, cursor: 'http' });
  });
});
after(() => srv.close());

const worldFor = (options = {}) =>
  createWorld({ serviceUrl: srv.url, appId: 'a', deploymentId: 'v1', autoStart: false, ...options });

/** The answer the service reads in the claim (as workflow.run_started_snapshot makes it). */
const snapshot = (status = 'running', runId = 'wrun_1') => ({
  run: { runId, status, createdAt: T, startedAt: T, input: { __type: 'Uint8Array', data: 'AAE=' } },
  maxEvents: 1000, hasMore: false, cursor: '3',
  events: [{ eventId: 'wevt_1', runId, eventType: 'run_created', createdAt: T }],
});

/** A workflow delivery framed as the service sends it: message, then the answer; the header says where it splits. */
function framed(message, answer, header) {
  const head = Buffer.from(JSON.stringify(message));
  return new Request('http://app/.well-known/workflow/v1/flow', {
    method: 'POST',
    headers: { 'x-vqs-queue-name': '__wkf_workflow_wf', 'x-vqs-message-id': 'msg_1', 'x-vqs-message-attempt': '1',
               'x-pgw-run-started': header ?? String(head.byteLength) },
    body: Buffer.concat([head, Buffer.from(JSON.stringify(answer))]),
  });
}

const calls = () => srv.requests.filter((r) => r.method === 'POST' && r.url.endsWith('/events')).length;

test('the delivered run_started answer is used once, and only for its running run', async () => {
  const w = worldFor();
  const seen = [];
  const handler = w.createQueueHandler('__wkf_workflow_', async (message) => {
    const before = calls();
    const first = await w.events.create('wrun_1', { eventType: 'run_started', specVersion: 2 });
    seen.push({ message, first, local: calls() === before });
    const second = await w.events.create('wrun_1', { eventType: 'run_started', specVersion: 2 });
    seen.push({ second, http: second.cursor === 'http' });
  });
  const res = await handler(framed({ runId: 'wrun_1', x: 'é' }, snapshot()));
  assert.equal(res.status, 200);
  assert.deepEqual(seen[0].message, { runId: 'wrun_1', x: 'é' }, 'the handler gets the message alone');
  assert.equal(seen[0].local, true, 'run_started answered without a request');
  assert.equal(seen[0].first.cursor, '3');
  assert.ok(seen[0].first.run.startedAt instanceof Date, 'revived as an HTTP answer would be');
  assert.deepEqual([...seen[0].first.run.input], [0, 1]);
  assert.equal(seen[1].http, true, 'a second run_started goes to the service');
  await w.close();
});

test('another run, a pending run or other parameters go to the service', async () => {
  const w = worldFor();
  const answers = [];
  const handler = w.createQueueHandler('__wkf_workflow_', async (message) => {
    const params = message.params ?? undefined;
    answers.push((await w.events.create(message.runId, { eventType: 'run_started' }, params)).cursor);
  });
  await handler(framed({ runId: 'wrun_1' }, snapshot('running', 'wrun_2')));
  await handler(framed({ runId: 'wrun_1' }, snapshot('pending')));
  await handler(framed({ runId: 'wrun_1', params: { resolveData: 'none' } }, snapshot()));
  assert.deepEqual(answers, ['http', 'http', 'http']);
  await w.close();
});

test('runSnapshots: false (PGW_WORLD_RUN_SNAPSHOTS=0) registers no feature and asks the service', async () => {
  const w = worldFor({ runSnapshots: false, appUrl: 'http://127.0.0.1:9', podId: 'p0' });
  assert.equal(createWorld({ serviceUrl: srv.url, env: { PGW_WORLD_RUN_SNAPSHOTS: '0' } }).config.runSnapshots, false);
  await w.start();
  const registration = srv.requests.filter((r) => r.url.endsWith('/handlers')).at(-1);
  assert.equal('features' in registration.json, false);
  let cursor;
  const handler = w.createQueueHandler('__wkf_workflow_', async (message) => {
    cursor = (await w.events.create('wrun_1', { eventType: 'run_started' })).cursor;
    assert.deepEqual(message, { runId: 'wrun_1' }, 'a framed delivery is still split');
  });
  assert.equal((await handler(framed({ runId: 'wrun_1' }, snapshot()))).status, 200);
  assert.equal(cursor, 'http');
  await w.close();
});

test('a malformed frame is refused (400) before the handler runs', async () => {
  const w = worldFor();
  let ran = false;
  const handler = w.createQueueHandler('__wkf_workflow_', async () => {
    ran = true;
  });
  assert.equal((await handler(framed({ runId: 'wrun_1' }, snapshot(), '99999'))).status, 400);
  assert.equal((await handler(framed({ runId: 'wrun_1' }, snapshot(), '-1'))).status, 400);
  assert.equal(ran, false);
  await w.close();
});
