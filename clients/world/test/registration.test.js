// Where the service reaches the app, and who registers (and unregisters) it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, beforeEach, test } from 'node:test';
import { createWorld } from '../index.js';
import { processPodId, resolveConfig } from '../lib/config.js';
import { json, startServer } from './helpers.js';

const run = promisify(execFile);
const INDEX_URL = new URL('../index.js', import.meta.url).href;
let srv;

before(async () => {
  srv = await startServer((req, res) => {
    if (req.method === 'POST' && req.url.endsWith('/handlers')) return json(res, 201, { registered: true });
    if (req.method === 'POST' && req.url.endsWith('/queue')) return json(res, 201, { messageId: 'msg_1' });
    if (req.method === 'DELETE') return json(res, 200, { deregistered: true });
    return json(res, 200, { data: [], cursor: null, hasMore: false });
  });
});
after(() => srv.close());
beforeEach(() => {
  srv.requests.length = 0;
});

const handlerCalls = () =>
  srv.requests.filter((r) => r.url.includes('/handlers')).map((r) => `${r.method} ${r.url.split('/handlers')[1] || '/'}`);
const waitFor = async (predicate, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (!predicate() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return predicate();
};

test('app URL: WORKFLOW_APP_URL, then the platformatic name, then world-local/postgres conventions', () => {
  const base = { WORKFLOW_SERVICE_URL: 'http://127.0.0.1:1' };
  const appUrl = (env) => {
    const c = resolveConfig({ env: { ...base, ...env } }).locate();
    return [c.appUrl, c.appUrlSource];
  };
  const all = {
    WORKFLOW_APP_URL: 'http://a:1/',
    PLT_WORLD_APP_URL: 'http://b:2',
    WORKFLOW_LOCAL_BASE_URL: 'http://c:3',
    PORT: '4000',
  };
  assert.deepEqual(appUrl(all), ['http://a:1', 'WORKFLOW_APP_URL']);
  assert.deepEqual(appUrl({ ...all, WORKFLOW_APP_URL: '' }), ['http://b:2', 'PLT_WORLD_APP_URL']);
  assert.deepEqual(appUrl({ WORKFLOW_LOCAL_BASE_URL: 'http://c:3', PORT: '4000' }), ['http://c:3', 'WORKFLOW_LOCAL_BASE_URL']);
  assert.deepEqual(appUrl({ PORT: '4000' }), ['http://localhost:4000', 'PORT']);
  assert.deepEqual(appUrl({}), [undefined, undefined]);
  assert.equal(resolveConfig({ appUrl: 'http://x:5', env: { ...base, WORKFLOW_APP_URL: 'http://a:1' } }).locate().appUrl,
    'http://x:5');
  // Resolved when first needed: an invalid PORT fails there, not when the World is configured.
  for (const port of ['abc', '70000', '-1']) {
    const c = resolveConfig({ env: { ...base, PORT: port } });
    assert.throws(() => c.locate(), /invalid PORT/, port);
  }
  // PORT=0: the server has not chosen its port yet; not known, and not an error.
  const env = { ...base, PORT: '0' };
  const c = resolveConfig({ env });
  assert.deepEqual([c.locate().appUrl, /PORT is 0/.test(c.locate().pending)], [undefined, true]);
  env.PORT = '4100';
  assert.equal(c.locate().appUrl, 'http://localhost:4100', 'looked up again until found');
  env.PORT = '4200';
  assert.equal(c.locate().appUrl, 'http://localhost:4100', 'then kept');
});

test('podId: one per process, stable for a process, explicit option used as given', async () => {
  assert.equal(processPodId('pod-a', undefined, 42), 'pod-a-42');
  assert.equal(processPodId('a/b', undefined, 7), 'a_b-7');
  assert.equal(processPodId(undefined, undefined, 7), undefined);
  assert.match(processPodId(undefined, 'http://app:3000', 7), /^[^/]+-[0-9a-f]{10}-7$/);
  const env = { WORKFLOW_SERVICE_URL: srv.url, WORKFLOW_APP_URL: 'http://127.0.0.1:3000' };
  const mine = resolveConfig({ env }).locate().podId;
  assert.equal(resolveConfig({ env }).locate().podId, mine, 'the same in one process');
  assert.ok(mine.endsWith(`-${process.pid}`));
  assert.equal(resolveConfig({ env: { ...env, WORKFLOW_POD_ID: 'web-1' } }).locate().podId, `web-1-${process.pid}`);
  assert.equal(resolveConfig({ env, podId: 'exact' }).locate().podId, 'exact');
  // A child process with the same environment has its own identity.
  const { stdout } = await run(process.execPath, [
    '--input-type=module',
    '-e',
    `import { resolveConfig } from ${JSON.stringify(new URL('../lib/config.js', import.meta.url).href)};
     process.stdout.write(resolveConfig().locate().podId);`,
  ], { env: { ...process.env, ...env, WORKFLOW_POD_ID: '' } });
  assert.match(stdout, /-\d+$/);
  assert.notEqual(stdout, mine);
});

test('only building the workflow handler registers; the step handler alone does not', async () => {
  const w = createWorld({ serviceUrl: srv.url, appUrl: 'http://127.0.0.1:3000', podId: 'p1', env: {} });
  w.createQueueHandler('__wkf_step_', async () => {});
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(handlerCalls(), [], 'the step handler is built by every importer of the runtime');
  w.createQueueHandler('__wkf_workflow_', async () => {});
  assert.ok(await waitFor(() => handlerCalls().length === 1));
  assert.deepEqual(handlerCalls(), ['POST /']);
  await w.close();
  assert.deepEqual(handlerCalls(), ['POST /', 'DELETE /p1']);

  const ns = createWorld({ serviceUrl: srv.url, appUrl: 'http://127.0.0.1:3000', podId: 'p2', env: {} });
  ns.createQueueHandler('__orders_wkf_workflow_', async () => {});
  assert.ok(await waitFor(() => handlerCalls().length === 3), 'a namespaced workflow handler registers too');
  await ns.close();
});

test('a World that never registered never unregisters', async () => {
  const w = createWorld({ serviceUrl: srv.url, appUrl: 'http://127.0.0.1:3000', podId: 'shared', env: {} });
  w.createQueueHandler('__wkf_step_', async () => {});
  await w.runs.list();
  await w.queue('__wkf_workflow_w', { runId: 'wrun_1' });
  await w.close();
  assert.deepEqual(handlerCalls(), []);
});

test('a process with the app\'s environment (a CLI, a script) leaves the app\'s registration alone', async () => {
  // What `workflow inspect` does: import the runtime (which builds the step
  // handler), read, close the World, exit — with the app's full environment.
  const script = `
    const { default: world } = await import(${JSON.stringify(INDEX_URL)});
    const w = world();
    w.createQueueHandler('__wkf_step_', async () => {});
    await w.runs.list();
    await w.close();`;
  await run(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, WORKFLOW_SERVICE_URL: srv.url, WORKFLOW_APP_URL: 'http://127.0.0.1:3000' },
  });
  assert.ok(srv.requests.some((r) => r.url.includes('/runs')), 'the child did talk to the service');
  assert.deepEqual(handlerCalls(), []);
});

test('without any app URL, queueing fails loudly and sends nothing', async () => {
  const w = createWorld({ serviceUrl: srv.url, env: {} });
  const warnings = [];
  const originalWarn = console.warn;
  console.warn = (...args) => warnings.push(args.join(' '));
  try {
    await w.start();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /WORKFLOW_APP_URL/);
    await assert.rejects(w.queue('__wkf_workflow_w', { runId: 'wrun_1' }), (err) => {
      assert.equal(err.name, 'WorkflowWorldError');
      assert.equal(err.code, 'NO_APP_URL');
      assert.match(err.message, /WORKFLOW_APP_URL/);
      assert.match(err.message, /PORT/);
      return true;
    });
    assert.deepEqual(srv.requests.map((r) => r.url), [], 'nothing reached the service');
  } finally {
    console.warn = originalWarn;
    await w.close();
  }
});

test('PORT alone is enough: the World registers http://localhost:$PORT', async () => {
  const w = createWorld({ serviceUrl: srv.url, env: { PORT: '3999' } });
  await w.start();
  const reg = srv.requests.find((r) => r.url.endsWith('/handlers'));
  assert.equal(reg.json.endpoints.workflow, 'http://localhost:3999/.well-known/workflow/v1/flow');
  assert.equal(reg.json.podId, w.config.podId);
  await w.queue('__wkf_workflow_w', { runId: 'wrun_1' });
  await w.close();
});
