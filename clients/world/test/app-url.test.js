// The app URL is resolved when first needed, not when the World is created:
// a server started with PORT=0 sets process.env.PORT once it listens (as
// world-local and world-postgres allow), after the runtime created the World.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, beforeEach, test } from 'node:test';
import { createWorld } from '../index.js';
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

const registrations = () => srv.requests.filter((r) => r.method === 'POST' && r.url.endsWith('/handlers'));

test('PORT=0 at import: the World loads, then registers and queues at the port the server set', async () => {
  // As the runtime does: the World is created at import (default export, from the environment) and the flow
  // route builds its workflow handler, all before the server listens.
  const script = `
    const { default: world } = await import(${JSON.stringify(INDEX_URL)});
    const http = await import('node:http');
    const w = world();
    w.createQueueHandler('__wkf_workflow_', async () => {});
    await new Promise((r) => setTimeout(r, 50));
    const server = http.createServer((req, res) => res.end());
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    process.env.PORT = String(server.address().port);
    const queued = await w.queue('__wkf_workflow_w', { runId: 'wrun_1' });
    for (let i = 0; i < 100 && !w.config.appUrl; i++) await new Promise((r) => setTimeout(r, 20));
    process.stdout.write(JSON.stringify({ port: process.env.PORT, queued, config: w.config.appUrl }));
    await w.close();
    server.close();`;
  const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, WORKFLOW_SERVICE_URL: srv.url, PORT: '0', WORKFLOW_APP_URL: '', WORKFLOW_LOCAL_BASE_URL: '',
           PLT_WORLD_APP_URL: '' },
    timeout: 20_000,
  });
  assert.doesNotMatch(stderr, /invalid PORT/);
  const out = JSON.parse(stdout);
  assert.deepEqual(out.queued, { messageId: 'msg_1' });
  assert.equal(out.config, `http://localhost:${out.port}`);
  const regs = registrations();
  assert.equal(regs.length, 1, 'registered once, when the port was known');
  assert.equal(regs[0].json.endpoints.workflow, `http://localhost:${out.port}/.well-known/workflow/v1/flow`);
  const queued = srv.requests.find((r) => r.url.endsWith('/queue'));
  assert.equal(queued.json.queueName, '__wkf_workflow_w');
  assert.ok(srv.requests.some((r) => r.method === 'DELETE' && r.url.endsWith(`/handlers/${regs[0].json.podId}`)),
    'close() removes the registration it made');
});

test('PORT set after start(): the registration follows once it is set; before, queue() fails loudly', async () => {
  const env = { PORT: '0' };
  const w = createWorld({ serviceUrl: srv.url, env });
  const warn = console.warn;
  console.warn = () => {};
  try {
    await w.start(); // nothing to register yet: warns, does not throw
    await assert.rejects(w.queue('__wkf_workflow_w', { runId: 'wrun_1' }), (err) => {
      assert.equal(err.code, 'NO_APP_URL');
      assert.match(err.message, /PORT is 0/);
      return true;
    });
  } finally {
    console.warn = warn;
  }
  assert.equal(registrations().length, 0);
  env.PORT = '4321';
  // start() asked for a registration: it happens once the port is set, without waiting for a queue() call.
  for (let i = 0; i < 200 && registrations().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(registrations().length, 1);
  assert.equal(registrations()[0].json.endpoints.step, 'http://localhost:4321/.well-known/workflow/v1/step');
  await w.queue('__wkf_workflow_w', { runId: 'wrun_1' });
  assert.equal(registrations().length, 1, 'queue() does not register again');
  await w.close();
});

test('an invalid PORT fails where the URL is needed, with a message naming it', async () => {
  const w = createWorld({ serviceUrl: srv.url, env: { PORT: 'eighty' } });
  await assert.rejects(w.queue('__wkf_workflow_w', { runId: 'wrun_1' }), /invalid PORT "eighty"/);
  await assert.rejects(w.start(), /invalid PORT/);
  await w.close();
  assert.deepEqual(srv.requests, []);
});
