// The registration is a lease: the World renews it at a third of the TTL the
// service answers, retries a failed renewal, and stops when it unregisters.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createTransport } from '../lib/http.js';
import { resolveConfig } from '../lib/config.js';
import { createRegistration } from '../lib/registration.js';
import { json, startServer } from './helpers.js';

let srv;
let answer = () => ({ status: 201, body: { registered: true, ttlSeconds: 0.3 } });

before(async () => {
  srv = await startServer((req, res) => {
    if (req.method === 'POST' && req.url.endsWith('/handlers')) {
      const { status, body } = answer();
      return json(res, status, body);
    }
    if (req.method === 'DELETE') return json(res, 200, { deregistered: true });
    return json(res, 404, {});
  });
});
after(() => srv.close());
beforeEach(() => {
  srv.requests.length = 0;
  answer = () => ({ status: 201, body: { registered: true, ttlSeconds: 0.3 } });
});

const posts = () => srv.requests.filter((r) => r.method === 'POST').length;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const registration = () => {
  const config = resolveConfig({
    env: { WORKFLOW_SERVICE_URL: srv.url, WORKFLOW_APP_URL: 'http://127.0.0.1:3000' },
    podId: 'pod-lease',
  });
  return createRegistration(createTransport(config), { ...config, appBasePath: '/api/v1/apps/default' });
};

test('renews the lease at a third of its TTL until it unregisters', async () => {
  const reg = registration();
  await reg.ensureRegistered();
  await sleep(550); // TTL 0.3 s: renewals at 0.1, 0.2, 0.3, 0.4, 0.5 s
  const renewed = posts();
  assert.ok(renewed >= 4 && renewed <= 8, `registered ${renewed} times in 0.55 s`);
  await reg.unregister();
  const atStop = posts();
  await sleep(300);
  assert.equal(posts(), atStop, 'no renewal after unregister');
  assert.equal(srv.requests.at(-1).method, 'DELETE');
});

test('a failed renewal is retried; the lease goes on once the service answers again', async () => {
  let calls = 0;
  answer = () => {
    calls += 1;
    return calls === 2 || calls === 3
      ? { status: 503, body: { statusCode: 503, error: 'Service Unavailable', code: 'WF_BUSY', message: 'busy' } }
      : { status: 201, body: { registered: true, ttlSeconds: 0.3 } };
  };
  const reg = registration();
  const logged = console.error;
  console.error = () => {};
  try {
    await reg.ensureRegistered();
    await sleep(700);
  } finally {
    console.error = logged;
  }
  assert.ok(calls >= 5, `renewals went on after two failures (${calls} calls)`);
  await reg.unregister();
});

test('without ttlSeconds (an older service, or TTL 0) it registers once', async () => {
  answer = () => ({ status: 201, body: { registered: true } });
  const reg = registration();
  await reg.ensureRegistered();
  await sleep(300);
  assert.equal(posts(), 1);
  await reg.unregister();
});
