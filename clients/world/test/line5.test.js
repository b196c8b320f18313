// The DevKit 5 line: how the World picks its line, and the 5.x surface
// against the scripted server (the HTTP shape of docs/devkit5.md).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createWorld } from '../index.js';
import { detectLine, installedVersion, resolveLine } from '../lib/line.js';
import { json, startServer } from './helpers.js';

const T = '2026-12-06T20:00:00.000Z';
const BYTES = { __type: 'Uint8Array', data: 'AAEC' };
const slot = (n) => `evnt_${String(n).padStart(26, '0')}`;
let srv;
/** @type {(req: any, res: any) => boolean} */
let override = () => false;

before(async () => {
  srv = await startServer((req, res) => {
    if (override(req, res)) return;
    const url = new URL(req.url, 'http://x');
    if (req.method === 'POST' && url.pathname.endsWith('/event-batches')) {
      return json(res, 200, {
        results: req.json.events.map(({ event }, i) =>
          i === 0
            ? { status: 200, event: { ...event, eventId: slot(5), runId: 'wrun_1', createdAt: T }, step: { stepId: 's', createdAt: T, updatedAt: T } }
            : { status: 409, error: 'WF_STEP_EXISTS', message: 'step exists' }
        ),
      });
    }
    if (req.method === 'POST' && url.pathname.endsWith('/events')) {
      const event = { eventId: slot(3), runId: 'wrun_1', createdAt: T, ...req.json };
      return json(res, 200, {
        event,
        step: { stepId: 'step_1', status: 'running', createdAt: T, updatedAt: T, startedAt: T, error: BYTES },
        stepCreated: req.json.eventType === 'step_started' ? true : undefined,
        events: [{ eventId: slot(2), eventType: 'hook_created', createdAt: T, eventData: { token: 't', tokenRetentionUntil: T } }],
        cursor: '2',
        hasMore: false,
      });
    }
    if (req.method === 'POST' && url.pathname.endsWith('/handlers')) return json(res, 201, { registered: true });
    if (req.method === 'POST' && url.pathname.endsWith('/queue')) return json(res, 201, { messageId: 'msg_1' });
    if (req.method === 'DELETE' || req.method === 'PUT') return json(res, 200, {});
    if (url.pathname.endsWith('/info')) return json(res, 200, { tailIndex: 2, done: false });
    if (url.pathname.endsWith('/chunks')) {
      return json(res, 200, { data: [{ index: 0, data: BYTES }], cursor: null, hasMore: false, done: true });
    }
    if (url.pathname.endsWith('/streams')) return json(res, 200, ['strm_a_user']);
    if (url.pathname.includes('/streams/')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return res.end(Buffer.from([7, 8]));
    }
    if (url.pathname.includes('/hooks/')) {
      return json(res, 200, { hookId: 'hook_1', token: 't', createdAt: T, tokenRetentionUntil: T, isSystem: false });
    }
    return json(res, 200, { data: [], cursor: null, hasMore: false });
  });
});
after(() => srv.close());

const last = () => srv.requests.at(-1);
const world5 = (extra = {}) =>
  createWorld({ serviceUrl: srv.url, appId: 'a', deploymentId: 'dpl_5', appUrl: 'http://127.0.0.1:9', env: {}, line: 5, ...extra });

/** A directory whose node_modules hold the given package versions. */
function appDir(packages) {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-line-'));
  for (const [name, version] of Object.entries(packages)) {
    mkdirSync(join(dir, 'node_modules', name), { recursive: true });
    writeFileSync(join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, version }));
  }
  return dir;
}

test('line: the option, then PGW_WORLD_LINE, then the installed @workflow/core, then workflow, else 4', () => {
  const core5 = appDir({ '@workflow/core': '5.0.0-beta.55', workflow: '5.0.0-beta.55' });
  const core4 = appDir({ '@workflow/core': '4.8.9', workflow: '4.8.9' });
  const onlyWorkflow5 = appDir({ workflow: '5.0.0-beta.55' });
  const nested = join(core5, 'src', 'deep');
  mkdirSync(nested, { recursive: true });
  const none = mkdtempSync(join(tmpdir(), 'pgw-line-none-'));
  try {
    assert.deepEqual(resolveLine({}, {}, core5), { line: 5, source: '@workflow/core 5.0.0-beta.55' });
    assert.deepEqual(resolveLine({}, {}, core4), { line: 4, source: '@workflow/core 4.8.9' });
    assert.deepEqual(resolveLine({}, {}, onlyWorkflow5), { line: 5, source: 'workflow 5.0.0-beta.55' });
    assert.equal(resolveLine({}, {}, nested).line, 5, 'found the way Node resolves: up the directory tree');
    assert.equal(installedVersion('@workflow/core', nested), '5.0.0-beta.55');
    assert.equal(detectLine(none).line, 4);
    assert.deepEqual(resolveLine({}, { PGW_WORLD_LINE: '4' }, core5), { line: 4, source: 'PGW_WORLD_LINE' });
    assert.deepEqual(resolveLine({ line: 5 }, { PGW_WORLD_LINE: '4' }, core4), { line: 5, source: 'line option' });
    assert.throws(() => resolveLine({}, { PGW_WORLD_LINE: '6' }, core4), /PGW_WORLD_LINE "6": 4 .* or 5/);
    // createWorld reads the same rule (cwd option for the directory).
    const w = createWorld({ serviceUrl: srv.url, env: {}, cwd: core5 });
    assert.equal(w.specVersion, 7);
    assert.equal(w.config.line, 5);
    assert.equal(w.config.lineSource, '@workflow/core 5.0.0-beta.55');
    assert.equal(w.config.env, undefined, 'the environment is not exposed');
    const w4 = createWorld({ serviceUrl: srv.url, env: {}, cwd: core4 });
    assert.equal(w4.specVersion, 3);
    assert.equal(typeof w4.writeToStream, 'function');
    assert.equal(w4.streams, undefined);
    assert.equal(w4.events.createBatch, undefined);
    return Promise.all([w.close(), w4.close()]);
  } finally {
    for (const dir of [core5, core4, onlyWorkflow5, none]) rmSync(dir, { recursive: true, force: true });
  }
});

test('line 5: spec 7 (6 with WORKFLOW_SEALED_LOG=0), capabilities, the 5.x members only', async () => {
  const w = world5();
  assert.equal(w.specVersion, 7);
  assert.deepEqual(w.capabilities, { hookRetention: { active: true } });
  assert.deepEqual(Object.keys(w.streams).sort(), [
    'close', 'createWriteSession', 'get', 'getChunks', 'getInfo', 'list', 'write', 'writeMulti',
  ]);
  for (const gone of ['writeToStream', 'readFromStream', 'listStreamsByRunId']) assert.equal(w[gone], undefined);
  for (const op of ['getMany', 'cancelMany', 'waitForTerminalStatus']) assert.equal(typeof w.runs[op], 'function');
  assert.deepEqual(Object.keys(w.analytics).sort(), ['attributes', 'events', 'hooks', 'runs', 'steps', 'waits']);
  assert.equal(typeof w.queueBatch, 'function');
  assert.equal(typeof w.events.createBatch, 'function');
  assert.equal(typeof w.getEncryptionKeyForRun, 'function');
  await w.close();
  const sixes = ['0', 'false', 'FALSE'].map((v) => world5({ env: { WORKFLOW_SEALED_LOG: v } }));
  assert.deepEqual(sixes.map((x) => x.specVersion), [6, 6, 6]);
  assert.equal(world5({ env: { WORKFLOW_SEALED_LOG: '1' } }).specVersion, 7);
  const noBatch = world5({ eventBatches: false });
  assert.equal(noBatch.events.createBatch, undefined);
  assert.equal(world5({ env: { PGW_WORLD_EVENT_BATCHES: '0' } }).events.createBatch, undefined);
  await Promise.all([...sixes, noBatch].map((x) => x.close()));
});

test('line 5: events.create sends the write options in the body and passes the answer through', async () => {
  const w = world5();
  const result = await w.events.create(
    'wrun_1',
    { eventType: 'step_started', correlationId: 'step_1', specVersion: 7, eventData: { stepName: 'add', input: new Uint8Array([1]) } },
    { eventCount: 2, sinceCursor: '2', requestId: 'req_9', stateUpdatedAt: 123, occurredAt: new Date(T), replayEventObserver: () => {} }
  );
  const req = last();
  assert.equal(req.url, '/api/v1/apps/a/runs/wrun_1/events');
  assert.equal(req.headers['x-request-id'], 'req_9');
  assert.deepEqual(req.json, {
    eventType: 'step_started',
    correlationId: 'step_1',
    specVersion: 7,
    eventData: { stepName: 'add', input: { __type: 'Uint8Array', data: 'AQ==' } },
    eventCount: 2,
    sinceCursor: '2',
  });
  assert.equal(result.stepCreated, true);
  assert.equal(result.event.eventId, slot(3));
  assert.ok(result.event.createdAt instanceof Date);
  assert.ok(result.step.error instanceof Uint8Array, 'errors are bytes, passed through');
  assert.deepEqual(result.events.map((e) => e.eventId), [slot(2)]);
  assert.ok(result.events[0].eventData.tokenRetentionUntil instanceof Date);
  assert.equal(result.cursor, '2');

  await w.events.create('wrun_1', { eventType: 'run_started', specVersion: 7 }, { skipPreload: true });
  assert.deepEqual(last().json, { eventType: 'run_started', specVersion: 7, skipPreload: true });
  await w.events.create(
    'wrun_1',
    { eventType: 'hook_received', correlationId: 'hook_1', eventData: { payload: BYTES } },
    { resumeId: 'r1', resumePayloadDigest: 'd1', preloadEvents: true }
  );
  assert.deepEqual(
    [last().json.resumeId, last().json.resumePayloadDigest, last().json.preloadEvents],
    ['r1', 'd1', true]
  );
  await w.events.create('wrun_1', { eventType: 'attr_set', eventData: { changes: [{ key: 'k', value: 'v' }], writer: { type: 'workflow' } } });
  assert.deepEqual(last().json, { eventType: 'attr_set', eventData: { changes: [{ key: 'k', value: 'v' }], writer: { type: 'workflow' } } });
  assert.equal(last().headers['x-request-id'], undefined);
  await w.events.create(null, { eventType: 'run_created', eventData: { deploymentId: 'd', workflowName: 'w', attributes: { a: '1' } } });
  assert.equal(last().url, '/api/v1/apps/a/runs/null/events');
  await w.close();
});

test('line 5: a hook event answered 404 is HookNotFoundError', async () => {
  override = (req, res) => (req.url.endsWith('/events') ? (json(res, 404, { message: 'gone' }), true) : false);
  try {
    const w = world5();
    await assert.rejects(
      w.events.create('wrun_1', { eventType: 'hook_received', correlationId: 'hook_1', eventData: {} }),
      { name: 'HookNotFoundError' }
    );
    await w.close();
  } finally {
    override = () => false;
  }
});

test('line 5: events.createBatch is one request with an outcome per event', async () => {
  const w = world5();
  const at = new Date(T);
  const { results } = await w.events.createBatch(
    'wrun_1',
    [
      { event: { eventType: 'step_created', correlationId: 's', eventData: { stepName: 'x', input: new Uint8Array([2]) } }, occurredAt: at },
      { event: { eventType: 'step_started', correlationId: 's' }, computeInstanceId: 'ci_1' },
    ],
    { requestId: 'req_b', resolveData: 'none' }
  );
  const req = last();
  assert.equal(req.method, 'POST');
  assert.equal(req.url, '/api/v1/apps/a/runs/wrun_1/event-batches');
  assert.equal(req.headers['x-request-id'], 'req_b');
  assert.deepEqual(req.json, {
    events: [
      { event: { eventType: 'step_created', correlationId: 's', eventData: { stepName: 'x', input: { __type: 'Uint8Array', data: 'Ag==' } } }, occurredAt: T },
      { event: { eventType: 'step_started', correlationId: 's' }, computeInstanceId: 'ci_1' },
    ],
    resolveData: 'none',
  });
  assert.equal(results.length, 2);
  assert.equal(results[0].status, 200);
  assert.ok(results[0].event.createdAt instanceof Date);
  assert.ok(results[0].step.createdAt instanceof Date);
  assert.deepEqual(results[1], { status: 409, error: 'WF_STEP_EXISTS', message: 'step exists' });
  await w.close();
});

test('line 5: streams take (runId, name) and use the stream routes', async () => {
  const w = world5();
  const before = srv.requests.length;
  await w.streams.write('wrun_1', 'strm_a_user', 'x');
  await w.streams.writeMulti('wrun_1', 'strm_a_user', ['y', new Uint8Array([1])]);
  await w.streams.writeMulti('wrun_1', 'strm_a_user', []);
  await w.streams.close('wrun_1', 'strm_a_user');
  const sent = srv.requests.slice(before);
  assert.deepEqual(
    sent.map((r) => [r.method, r.url, r.headers['x-stream-multi'] ?? r.headers['x-stream-done'] ?? '']),
    [
      ['PUT', '/api/v1/apps/a/runs/wrun_1/streams/strm_a_user', ''],
      ['PUT', '/api/v1/apps/a/runs/wrun_1/streams/strm_a_user', 'true'],
      ['PUT', '/api/v1/apps/a/runs/wrun_1/streams/strm_a_user', 'true'],
    ]
  );
  assert.deepEqual(sent[0].json, { data: 'x' });
  assert.deepEqual(await w.streams.list('wrun_1'), ['strm_a_user']);
  assert.equal(last().url, '/api/v1/apps/a/runs/wrun_1/streams');
  const chunks = await w.streams.getChunks('wrun_1', 'strm_a_user', { limit: 5 });
  assert.equal(last().url, '/api/v1/apps/a/runs/wrun_1/streams/strm_a_user/chunks?limit=5');
  assert.deepEqual(chunks.data.map((c) => [c.index, [...c.data]]), [[0, [0, 1, 2]]]);
  assert.equal(chunks.done, true);
  assert.deepEqual(await w.streams.getInfo('wrun_1', 'strm_a_user'), { tailIndex: 2, done: false });
  assert.equal(last().url, '/api/v1/apps/a/runs/wrun_1/streams/strm_a_user/info');
  const readable = await w.streams.get('wrun_1', 'strm_a_user', -2);
  assert.equal(last().url, '/api/v1/apps/a/streams/strm_a_user?startIndex=-2');
  const bytes = [];
  for await (const chunk of readable) bytes.push(...chunk);
  assert.deepEqual(bytes, [7, 8]);
  await w.close();
});

test('line 5: a write session sends each group as one PUT naming its writer and sequence', async () => {
  const w = world5();
  const writerId = 'wrtr_01ARZ3NDEKTSV4RRFFQ69G5W01';
  const session = w.streams.createWriteSession('wrun_1', 'strm_a_user', { writerId });
  const before = srv.requests.length;
  await session.write(0, ['a', new Uint8Array([1, 2])]);
  await session.write(2, ['c']);
  await session.write(3, []);
  await session.close();
  session.dispose();
  const sent = srv.requests.slice(before);
  assert.deepEqual(
    sent.map((r) => [r.method, r.url, r.headers['x-stream-writer'], r.headers['x-stream-writer-seq'], r.headers['x-stream-multi'], r.headers['x-stream-done']]),
    [
      ['PUT', '/api/v1/apps/a/runs/wrun_1/streams/strm_a_user', writerId, '0', 'true', undefined],
      ['PUT', '/api/v1/apps/a/runs/wrun_1/streams/strm_a_user', writerId, '2', 'true', undefined],
      ['PUT', '/api/v1/apps/a/runs/wrun_1/streams/strm_a_user', undefined, undefined, undefined, 'true'],
    ],
    'one request per group (none for an empty one), then the close'
  );
  assert.deepEqual(sent[0].json, ['a', { __type: 'Uint8Array', data: 'AQI=' }]);
  // A writer id the service would refuse: plain multi writes, without the resend safety.
  const odd = w.streams.createWriteSession('wrun_1', 'strm_a_user', { writerId: 'wrtr_lowercase' });
  await odd.write(0, ['z']);
  assert.equal(last().headers['x-stream-writer'], undefined);
  assert.equal(last().headers['x-stream-multi'], 'true');
  await w.close();
  const off = world5({ writeSessions: false });
  assert.equal(off.streams.createWriteSession, undefined, 'writeSessions: false leaves it out (core uses write/writeMulti)');
  assert.equal(off.config.writeSessions, false);
  await off.close();
});

test('line 5: start() registers the flow route for workflow and step messages, without features', async () => {
  const w = world5({ appUrl: 'http://app5:3000/base' });
  await w.start();
  const reg = srv.requests.filter((r) => r.url.endsWith('/handlers')).at(-1);
  assert.deepEqual(reg.json.endpoints, {
    workflow: 'http://app5:3000/base/.well-known/workflow/v1/flow',
    step: 'http://app5:3000/base/.well-known/workflow/v1/flow',
    webhook: 'http://app5:3000/base/.well-known/workflow/v1/webhook',
  });
  assert.equal(reg.json.features, undefined);
  assert.equal(reg.json.deploymentVersion, 'dpl_5');
  await w.close();
  assert.equal(last().method, 'DELETE');
  assert.equal(w.closed, true);
});

test('line 5: a step message on the workflow queue reaches the handler; queue() sends no prequeued events', async () => {
  const w = world5({ autoStart: false });
  const seen = [];
  const handler = w.createQueueHandler('__wkf_workflow_', async (message, meta) => {
    seen.push({ message, meta });
    return { timeoutSeconds: 1 };
  });
  const response = await handler(
    new Request('http://app/.well-known/workflow/v1/flow', {
      method: 'POST',
      headers: { 'x-vqs-queue-name': '__wkf_workflow_order', 'x-vqs-message-id': 'msg_7', 'x-vqs-message-attempt': '1' },
      body: JSON.stringify({
        runId: 'wrun_1',
        stepId: 'step_1',
        stepName: 'step//./workflows/x//add',
        runContext: { deploymentId: 'dpl_5', specVersion: 7, startedAt: 1 },
        stepInput: { input: BYTES },
      }),
    })
  );
  assert.deepEqual(await response.json(), { timeoutSeconds: 1 });
  assert.equal(seen[0].meta.queueName, '__wkf_workflow_order');
  assert.equal(seen[0].message.stepName, 'step//./workflows/x//add');
  assert.deepEqual([...seen[0].message.stepInput.input], [0, 1, 2]);
  const { messageId } = await w.queue('__wkf_workflow_order', { runId: 'wrun_1', stepId: 'step_2' }, { idempotencyKey: 'step_2', specVersion: 7 });
  assert.equal(messageId, 'msg_1');
  assert.deepEqual(last().json, {
    queueName: '__wkf_workflow_order',
    message: { runId: 'wrun_1', stepId: 'step_2' },
    deploymentId: 'dpl_5',
    idempotencyKey: 'step_2',
  });
  await w.close();
});

test('line 5: runs.list takes a status list; hooks carry tokenRetentionUntil as a Date', async () => {
  const w = world5();
  const before = srv.requests.length;
  assert.deepEqual(await w.runs.list({ status: [] }), { data: [], cursor: null, hasMore: false });
  assert.equal(srv.requests.length, before, 'an empty status list matches nothing, without a request');
  await w.runs.list({ status: ['running'], pagination: { limit: 2 } });
  assert.equal(last().url, '/api/v1/apps/a/runs?status=running&limit=2&pageInfo=true');
  await w.runs.list({ status: ['running', 'pending'], workflowName: 'wf' });
  assert.equal(last().url, '/api/v1/apps/a/runs?workflowName=wf&status=running&status=pending&pageInfo=true');
  const hook = await w.hooks.getByToken('t');
  assert.ok(hook.tokenRetentionUntil instanceof Date);
  assert.ok(hook.createdAt instanceof Date);
  await w.close();
});

test('line 5: createWorld() without options is the shared environment World (core 5 calls it per cache)', async () => {
  const saved = { ...process.env };
  Object.assign(process.env, { PGW_WORLD_LINE: '5', WORKFLOW_SERVICE_URL: srv.url, WORKFLOW_APP_URL: 'http://127.0.0.1:9' });
  try {
    const a = createWorld();
    const b = createWorld();
    assert.equal(a, b);
    assert.equal(a.specVersion, 7);
    await a.close();
    const c = createWorld();
    assert.notEqual(c, a, 'a closed World is replaced');
    await c.close();
    process.env.PGW_WORLD_LINE = '4';
    const d = createWorld({ serviceUrl: srv.url, env: {} });
    assert.notEqual(createWorld({ serviceUrl: srv.url, env: {} }), d, 'explicit options always build a new World');
    await d.close();
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
});

test('line 5: PGW_WORLD_EVENT_DELTAS=0 leaves out sinceCursor, skipPreload and preloadEvents, nothing else', async () => {
  const on = world5();
  assert.equal(on.config.eventDeltas, true);
  const others = [world5({ line: 4 }), world5({ eventDeltas: false }), world5({ eventDeltas: true, env: { PGW_WORLD_EVENT_DELTAS: '0' } })];
  assert.deepEqual(others.map((w) => w.config.eventDeltas), [false, false, true], '5.x only; the option wins over the env');
  const off = world5({ env: { PGW_WORLD_EVENT_DELTAS: '0' } });
  assert.equal(off.config.eventDeltas, false);
  const step = { eventType: 'step_completed', correlationId: 'step_1', specVersion: 7, eventData: { result: BYTES } };
  await off.events.create('wrun_1', step, { eventCount: 4, sinceCursor: '4', requestId: 'req_1' });
  assert.deepEqual(last().json, { ...step, eventData: { result: { __type: 'Uint8Array', data: 'AAEC' } }, eventCount: 4 });
  await off.events.create('wrun_1', { eventType: 'run_started', specVersion: 7 }, { skipPreload: true });
  assert.deepEqual(last().json, { eventType: 'run_started', specVersion: 7 });
  await off.events.create(
    'wrun_1',
    { eventType: 'hook_received', correlationId: 'hook_1', eventData: { payload: BYTES } },
    { resumeId: 'r1', resumePayloadDigest: 'd1', preloadEvents: true }
  );
  assert.deepEqual(
    [last().json.resumeId, last().json.resumePayloadDigest, 'preloadEvents' in last().json],
    ['r1', 'd1', false],
    'the resume dedup fields are the protocol, not a delta'
  );
  await on.events.create('wrun_1', step, { eventCount: 4, sinceCursor: '4' });
  assert.equal(last().json.sinceCursor, '4');
  assert.equal(typeof off.events.createBatch, 'function', 'the switches are independent');
  assert.equal(typeof off.queueBatch, 'function');
  await Promise.all([on, off, ...others].map((w) => w.close()));
});

test('line 5: the 4.8.9 predictions are off, whatever the environment; batches are a 5.x feature only', async () => {
  const w = world5({ env: { PGW_WORLD_EVENT_MESSAGES: '1', PGW_WORLD_RUN_SNAPSHOTS: '1' } });
  assert.equal(w.config.eventMessages, false);
  assert.equal(w.config.runSnapshots, false);
  assert.equal(w.config.eventBatches, true);
  const w4 = world5({ line: 4 });
  assert.equal(w4.config.eventMessages, true);
  assert.equal(w4.config.eventBatches, false);
  await Promise.all([w.close(), w4.close()]);
});

test('line 5: getEncryptionKeyForRun asks the service once per run, as in 4.x', async () => {
  const key = Buffer.alloc(32, 7).toString('base64');
  override = (req, res) =>
    req.url.includes('/encryption-key') ? (json(res, 200, { runId: 'wrun_e', key, keyVersion: 1 }), true) : false;
  try {
    const w = world5();
    const first = await w.getEncryptionKeyForRun('wrun_e');
    const again = await w.getEncryptionKeyForRun({ runId: 'wrun_e' });
    assert.equal(first.byteLength, 32);
    assert.equal(again, first);
    assert.equal(srv.requests.filter((r) => r.url === '/api/v1/apps/a/encryption-key?runId=wrun_e').length, 1);
    assert.equal(world5({ encryption: false }).getEncryptionKeyForRun, undefined);
    await w.close();
  } finally {
    override = () => false;
  }
});
