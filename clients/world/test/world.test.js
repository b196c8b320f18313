import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import createWorldDefault, { createWorld } from '../index.js';
import { json, startServer } from './helpers.js';

const T = '2024-05-06T07:08:09.010Z';
let srv;
/** @type {(req: any, res: any) => boolean} */
let override = () => false;

before(async () => {
  srv = await startServer((req, res) => {
    if (override(req, res)) return;
    const url = new URL(req.url, 'http://x');
    if (req.method === 'POST' && url.pathname.endsWith('/events')) {
      const ev = { eventId: 'wevt_01HZZZZZZZZZZZZZZZZZZZZZZZ', runId: 'wrun_1', createdAt: T, ...req.json };
      const body = { event: ev };
      if (req.json.eventType === 'run_started') {
        body.run = { runId: 'wrun_1', status: 'running', createdAt: T, updatedAt: T, startedAt: T };
        body.events = [ev, { ...ev, eventType: 'wait_created', eventData: { resumeAt: T } }];
        body.cursor = 'c1';
        body.hasMore = false;
      }
      return json(res, 200, body);
    }
    if (req.method === 'POST' && url.pathname.endsWith('/queue')) return json(res, 201, { messageId: 'msg_1' });
    if (req.method === 'POST' && url.pathname.endsWith('/handlers')) return json(res, 201, { registered: true });
    if (req.method === 'DELETE') return json(res, 200, {});
    if (req.method === 'PUT') return json(res, 200, {});
    if (url.pathname.endsWith('/info')) return json(res, 200, { tailIndex: 4, done: true });
    if (url.pathname.endsWith('/chunks')) {
      return json(res, 200, { data: [{ index: 0, data: { __type: 'Uint8Array', data: 'AAE=' } }], cursor: null, hasMore: false, done: false });
    }
    if (url.pathname.endsWith('/streams')) return json(res, 200, ['s1', 's2']);
    if (url.pathname.includes('/hooks/') || url.pathname.includes('/runs/missing')) return json(res, 404, { message: 'not found' });
    return json(res, 200, { data: [{ eventId: 'e', createdAt: T }], cursor: null, hasMore: false });
  });
});
after(() => srv.close());

const last = () => srv.requests.at(-1);
const worldFor = (extra = {}) =>
  createWorld({ serviceUrl: srv.url, appId: 'my app', deploymentId: 'dpl_7', appUrl: 'http://127.0.0.1:9', env: {}, ...extra });

test('config: service URL is required; env names are honoured', () => {
  assert.throws(() => createWorld({ env: {} }), /WORKFLOW_SERVICE_URL/);
  const w = createWorldDefault({
    env: { PLT_WORLD_SERVICE_URL: srv.url, PLT_WORLD_APP_ID: 'a1', PLT_WORLD_DEPLOYMENT_VERSION: 'v9', PLT_WORLD_APP_URL: 'http://app:3000/' },
  });
  assert.equal(w.config.appId, 'a1');
  assert.equal(w.config.deploymentId, 'v9');
  assert.equal(w.config.appUrl, 'http://app:3000');
  assert.match(w.config.podId, /^[^/]+$/);
  const d = createWorld({ env: { WORKFLOW_SERVICE_URL: srv.url } });
  assert.equal(d.config.appId, 'default');
  assert.equal(d.config.deploymentId, 'local');
  assert.equal(d.specVersion, 3);
  w.close();
  d.close();
});

test('events.create: path, stateUpdatedAt in the body, binary body, revived answer', async () => {
  const w = worldFor();
  const input = new Uint8Array([0, 0, 7]);
  const result = await w.events.create(
    'wrun_1',
    { eventType: 'run_started', specVersion: 3, eventData: { input, deploymentId: 'dpl_7', workflowName: 'wf' } },
    { requestId: 'req-1', stateUpdatedAt: 1700000000000 }
  );
  const req = last();
  assert.equal(req.method, 'POST');
  assert.equal(req.url, '/api/v1/apps/my%20app/runs/wrun_1/events');
  assert.equal(req.json.stateUpdatedAt, 1700000000000);
  assert.equal(req.json.eventType, 'run_started');
  assert.equal(req.headers['x-request-id'], 'req-1');
  assert.deepEqual(req.json.eventData.input, { __type: 'Uint8Array', data: 'AAAH' });
  assert.ok(result.run.startedAt instanceof Date);
  assert.ok(result.event.createdAt instanceof Date);
  assert.deepEqual([...result.event.eventData.input], [0, 0, 7]);
  assert.equal(result.events.length, 2);
  assert.ok(result.events[1].eventData.resumeAt instanceof Date);
  assert.equal(result.cursor, 'c1');

  await w.events.create(null, { eventType: 'run_created', eventData: { deploymentId: 'd', workflowName: 'w', input } });
  assert.equal(last().url, '/api/v1/apps/my%20app/runs/null/events');
  assert.ok(!('stateUpdatedAt' in last().json), 'no snapshot, no member');
  await w.close();
});

test('events.create: 404 on a hook event is HookNotFoundError', async () => {
  const w = worldFor();
  override = (req, res) => (req.method === 'POST' ? (json(res, 404, { message: 'gone' }), true) : false);
  try {
    await assert.rejects(
      w.events.create('wrun_1', { eventType: 'hook_received', correlationId: 'hook_1', eventData: { payload: 1 } }),
      (err) => err.name === 'HookNotFoundError'
    );
    await assert.rejects(
      w.events.create('wrun_1', { eventType: 'step_started', correlationId: 'step_1' }),
      (err) => err.name === 'WorkflowWorldError' && err.status === 404
    );
  } finally {
    override = () => false;
    await w.close();
  }
});

test('events.create: a stale stateUpdatedAt (412) is the runtime\'s PreconditionFailedError', async () => {
  const w = worldFor();
  const meta = { runId: 'wrun_1', stateUpdatedAt: 1700000000005, requestStateUpdatedAt: 1700000000000 };
  override = (req, res) =>
    req.method === 'POST' ? (json(res, 412, { statusCode: 412, code: 'WF_PRECONDITION_FAILED', message: 'stale', meta }), true) : false;
  try {
    await assert.rejects(
      w.events.create('wrun_1', { eventType: 'step_created', correlationId: 's' }, { stateUpdatedAt: 1700000000000 }),
      (err) => err.name === 'PreconditionFailedError' && err.status === 412 && err.meta.stateUpdatedAt === 1700000000005
    );
  } finally {
    override = () => false;
    await w.close();
  }
});

test('reads: lists carry pagination, 404s map per interface', async () => {
  const w = worldFor();
  const page = await w.events.list({ runId: 'wrun_1', pagination: { limit: 5, cursor: 'abc', sortOrder: 'asc' }, resolveData: 'none' });
  assert.equal(last().url, '/api/v1/apps/my%20app/runs/wrun_1/events?resolveData=none&limit=5&cursor=abc&sortOrder=asc');
  assert.ok(page.data[0].createdAt instanceof Date);
  await w.events.listByCorrelationId({ correlationId: 'step_1', runId: 'wrun_1' });
  assert.equal(last().url, '/api/v1/apps/my%20app/events?correlationId=step_1&runId=wrun_1');
  await w.runs.list({ workflowName: 'wf', status: 'running', pagination: { limit: 2 } });
  assert.equal(last().url, '/api/v1/apps/my%20app/runs?workflowName=wf&status=running&limit=2');
  await w.steps.list({ runId: 'wrun_1' });
  assert.equal(last().url, '/api/v1/apps/my%20app/runs/wrun_1/steps');
  await w.hooks.list({ runId: 'wrun_1' });
  assert.equal(last().url, '/api/v1/apps/my%20app/hooks?runId=wrun_1');
  await assert.rejects(w.runs.get('missing'), (err) => err.name === 'WorkflowRunNotFoundError' && err.runId === 'missing');
  await assert.rejects(w.hooks.getByToken('a/b'), (err) => err.name === 'HookNotFoundError' && err.token === 'a/b');
  assert.equal(last().url, '/api/v1/apps/my%20app/hooks/by-token/a%2Fb');
  await w.close();
});

test('queue: own deployment by default, idempotency key and delay passed through', async () => {
  const w = worldFor();
  const res = await w.queue('__wkf_step_s', { workflowRunId: 'wrun_1', bytes: new Uint8Array([1]) }, { idempotencyKey: 'step_1' });
  assert.equal(res.messageId, 'msg_1');
  assert.deepEqual(last().json, {
    queueName: '__wkf_step_s',
    message: { workflowRunId: 'wrun_1', bytes: { __type: 'Uint8Array', data: 'AQ==' } },
    deploymentId: 'dpl_7',
    idempotencyKey: 'step_1',
  });
  await w.queue('__wkf_workflow_w', { runId: 'wrun_1' }, { deploymentId: 'other', delaySeconds: 1.5 });
  assert.equal(last().json.deploymentId, 'other');
  assert.equal(last().json.delaySeconds, 1.5);
  assert.equal(await w.getDeploymentId(), 'dpl_7');
  await w.close();
});

test('streams: write, multi-write, close, info, chunks, list', async () => {
  const w = worldFor();
  await w.writeToStream('out', 'wrun_1', new Uint8Array([0, 9]));
  assert.equal(last().method, 'PUT');
  assert.equal(last().url, '/api/v1/apps/my%20app/runs/wrun_1/streams/out');
  assert.deepEqual(last().json, { data: { __type: 'Uint8Array', data: 'AAk=' } });
  await w.writeToStreamMulti('out', 'wrun_1', ['a', new Uint8Array([1])]);
  assert.equal(last().headers['x-stream-multi'], 'true');
  assert.deepEqual(last().json, ['a', { __type: 'Uint8Array', data: 'AQ==' }]);
  await w.closeStream('out', 'wrun_1');
  assert.equal(last().headers['x-stream-done'], 'true');
  assert.deepEqual(last().json, {});
  assert.deepEqual(await w.getStreamInfo('out', 'wrun_1'), { tailIndex: 4, done: true });
  const chunks = await w.getStreamChunks('out', 'wrun_1', { limit: 10 });
  assert.deepEqual([...chunks.data[0].data], [0, 1]);
  assert.equal(chunks.done, false);
  assert.deepEqual(await w.listStreamsByRunId('wrun_1'), ['s1', 's2']);
  await w.close();
});

test('start() registers the endpoints once; close() unregisters', async () => {
  const w = worldFor({ appUrl: 'http://10.0.0.5:3000/base/', podId: 'pod-1' });
  await Promise.all([w.start(), w.start()]);
  const regs = srv.requests.filter((r) => r.method === 'POST' && r.url.endsWith('/handlers'));
  assert.equal(regs.length, 1);
  assert.deepEqual(regs[0].json, {
    podId: 'pod-1',
    deploymentVersion: 'dpl_7',
    endpoints: {
      workflow: 'http://10.0.0.5:3000/base/.well-known/workflow/v1/flow',
      step: 'http://10.0.0.5:3000/base/.well-known/workflow/v1/step',
      webhook: 'http://10.0.0.5:3000/base/.well-known/workflow/v1/webhook',
    },
    features: ['run-started'],
  });
  await w.close();
  assert.equal(last().method, 'DELETE');
  assert.equal(last().url, '/api/v1/apps/my%20app/handlers/pod-1');
});

test('a Kubernetes service-account token is sent as a bearer token', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-sa-'));
  writeFileSync(join(dir, 'token'), 'tok123\n');
  const w = worldFor({ serviceAccountDir: dir });
  try {
    await w.runs.list();
    assert.equal(last().headers.authorization, 'Bearer tok123');
  } finally {
    await w.close();
    rmSync(dir, { recursive: true });
  }
});

test('createQueueHandler speaks the x-vqs delivery protocol', async () => {
  const w = worldFor({ autoStart: false });
  const seen = [];
  const handler = w.createQueueHandler('__wkf_workflow_', async (message, meta) => {
    seen.push({ message, meta });
    return message.sleep ? { timeoutSeconds: 2 } : undefined;
  });
  const deliver = (body, queueName = '__wkf_workflow_wf') =>
    handler(
      new Request('http://app/.well-known/workflow/v1/flow', {
        method: 'POST',
        headers: { 'x-vqs-queue-name': queueName, 'x-vqs-message-id': 'msg_1', 'x-vqs-message-attempt': '3' },
        body: JSON.stringify(body),
      })
    );
  const ok = await deliver({ runId: 'wrun_1', input: { __type: 'Uint8Array', data: 'AAE=' } });
  assert.equal(ok.status, 200);
  assert.deepEqual(seen[0].meta, { attempt: 3, queueName: '__wkf_workflow_wf', messageId: 'msg_1' });
  assert.deepEqual([...seen[0].message.input], [0, 1]);
  const later = await deliver({ runId: 'wrun_1', sleep: true });
  assert.deepEqual(await later.json(), { timeoutSeconds: 2 });
  const wrong = await deliver({}, '__wkf_step_s');
  assert.equal(wrong.status, 400);
  await w.close();
});

test('loading the queue handlers registers in the background, retrying failures', async () => {
  let failuresLeft = 1;
  override = (req, res) => {
    if (!(req.method === 'POST' && req.url.endsWith('/handlers'))) return false;
    if (failuresLeft-- > 0) json(res, 503, { message: 'not yet' });
    else json(res, 201, { registered: true });
    return true;
  };
  const before = srv.requests.length;
  const w = worldFor({ appUrl: 'http://127.0.0.1:9', podId: 'pod-bg' });
  const errors = [];
  const originalError = console.error;
  console.error = (...args) => errors.push(args.join(' '));
  try {
    w.createQueueHandler('__wkf_step_', async () => {});
    w.createQueueHandler('__wkf_workflow_', async () => {});
    const deadline = Date.now() + 5000;
    const registrations = () => srv.requests.slice(before).filter((r) => r.url.endsWith('/handlers'));
    while (registrations().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(registrations().length, 2, 'one failed attempt, one retry');
    assert.equal(errors.length, 1);
  } finally {
    console.error = originalError;
    override = () => false;
    await w.close();
  }
});

test('the default export shares one env-configured World until it is closed', async () => {
  const saved = process.env.WORKFLOW_SERVICE_URL;
  process.env.WORKFLOW_SERVICE_URL = srv.url;
  try {
    const a = createWorldDefault();
    assert.equal(createWorldDefault(), a);
    await a.close();
    assert.equal(a.closed, true);
    const b = createWorldDefault();
    assert.notEqual(b, a);
    assert.notEqual(createWorldDefault({ serviceUrl: srv.url, env: {} }), b);
    await b.close();
  } finally {
    if (saved === undefined) delete process.env.WORKFLOW_SERVICE_URL;
    else process.env.WORKFLOW_SERVICE_URL = saved;
  }
});
