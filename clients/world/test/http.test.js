import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { WorkflowWorldError } from '@workflow/errors';
import { createTransport } from '../lib/http.js';
import { json, startServer } from './helpers.js';

const servers = [];
after(() => Promise.all(servers.map((s) => s.close())));

function transportFor(url, extra = {}) {
  return createTransport({ serviceUrl: url, tokenFile: '/nonexistent/token', requestTimeoutMs: 2000, maxSockets: 4, ...extra });
}

/** Answers the first request on each socket, resets the socket on the second. */
async function resetOnReuse() {
  const seen = new WeakMap();
  const srv = await startServer((req, res) => {
    const n = (seen.get(req.socket) ?? 0) + 1;
    seen.set(req.socket, n);
    if (n >= 2) req.socket.destroy();
    else json(res, 200, { n: srv.requests.length });
  });
  servers.push(srv);
  return srv;
}

test('a GET that hits a reset on a reused keep-alive socket is retried once', async () => {
  const srv = await resetOnReuse();
  const t = transportFor(srv.url);
  await t.request('GET', '/a');
  const second = await t.request('GET', '/b');
  assert.ok(second.n >= 2);
  assert.equal(srv.requests.length, 3, 'one reset attempt, one retry');
  t.close();
});

test('a POST is never re-sent', async () => {
  const srv = await resetOnReuse();
  const t = transportFor(srv.url);
  await t.request('GET', '/a');
  await assert.rejects(t.request('POST', '/events', { body: { x: 1 } }), (err) => {
    assert.ok(WorkflowWorldError.is(err));
    assert.equal(err.code, 'TRANSPORT');
    return true;
  });
  assert.equal(srv.requests.length, 2);
  t.close();
});

test('a slow answer times out as a retryable TIMEOUT', async () => {
  const srv = await startServer(() => {});
  servers.push(srv);
  const t = transportFor(srv.url, { requestTimeoutMs: 100 });
  await assert.rejects(t.request('GET', '/slow'), (err) => err.code === 'TIMEOUT');
  t.close();
});

test('a 2xx with a non-JSON body is a contract (parse) error', async () => {
  const srv = await startServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html>');
  });
  servers.push(srv);
  const t = transportFor(srv.url);
  await assert.rejects(t.request('GET', '/x'), (err) => err.code === 'PARSE_ERROR');
  t.close();
});

test('the service URL may carry a path prefix', async () => {
  const srv = await startServer((_req, res) => json(res, 200, {}));
  servers.push(srv);
  const t = transportFor(`${srv.url}/pgw/`);
  await t.request('GET', '/api/v1/apps/default/runs');
  assert.equal(srv.requests[0].url, '/pgw/api/v1/apps/default/runs');
  t.close();
});

test('streamed reads deliver chunks as they arrive and end with the stream', async () => {
  const srv = await startServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write(Buffer.from([0, 1]));
    setTimeout(() => res.write(Buffer.from([2])), 30);
    setTimeout(() => res.end(Buffer.from([3])), 60);
  });
  servers.push(srv);
  const t = transportFor(srv.url);
  const stream = await t.openStream('/s');
  const got = [];
  for await (const chunk of stream) {
    assert.ok(chunk instanceof Uint8Array);
    got.push(...chunk);
  }
  assert.deepEqual(got, [0, 1, 2, 3]);
  t.close();
});

test('a stream cut before its end errors instead of ending cleanly', async () => {
  const srv = await startServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write(Buffer.from([1]));
    setTimeout(() => req.socket.destroy(), 30);
  });
  servers.push(srv);
  const t = transportFor(srv.url);
  const reader = (await t.openStream('/s')).getReader();
  assert.deepEqual([...(await reader.read()).value], [1]);
  await assert.rejects(reader.read());
  t.close();
});

test('a failed stream open rejects with the mapped error', async () => {
  const srv = await startServer((_req, res) => json(res, 410, { message: 'gone' }));
  servers.push(srv);
  const t = transportFor(srv.url);
  await assert.rejects(t.openStream('/s'), (err) => err.name === 'RunExpiredError' && err.message === 'gone');
  t.close();
});

test('a stream write session group is re-sent after a reset on a reused socket (the service stores it once)', async () => {
  const { createStreams5 } = await import('../lib/streams5.js');
  const srv = await resetOnReuse();
  const t = transportFor(srv.url);
  await t.request('GET', '/a');
  const streams = createStreams5(t, '/api/v1/apps/a');
  const session = streams.createWriteSession('wrun_1', 's', { writerId: 'wrtr_01ARZ3NDEKTSV4RRFFQ69G5W01' });
  await session.write(4, ['x']);
  assert.equal(srv.requests.length, 3, 'one reset attempt, one resend');
  assert.deepEqual(srv.requests.slice(1).map((r) => r.headers['x-stream-writer-seq']), ['4', '4']);
  await session.close();
  // A plain multi write is never re-sent: the service could not tell a resend from new chunks.
  await assert.rejects(streams.writeMulti('wrun_1', 's', ['y']), (err) => err.code === 'TRANSPORT');
  t.close();
});
