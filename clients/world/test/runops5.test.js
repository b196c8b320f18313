// The DevKit 5 line's run operations and analytics namespace against the
// scripted server: the routes and bodies of the README's "Run operations"
// table, and the interface's contracts (order and nulls, outcomes, the long
// poll's timeout/abort/429 behaviour, Dates).
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { ThrottleError, WorkflowRunNotFoundError } from '@workflow/errors';
import { createWorld } from '../index.js';
import { waitBudgetMs } from '../lib/runops5.js';
import { json, startServer } from './helpers.js';

const T = '2026-12-06T20:00:00.000Z';
const BYTES = { __type: 'Uint8Array', data: 'AAEC' };
const run = (runId, status = 'running', extra = {}) => ({
  runId,
  status,
  workflowName: 'wf',
  deploymentId: 'dpl_5',
  createdAt: T,
  updatedAt: T,
  ...extra,
});
const PAGE_INFO = {
  currentLookbackDays: 30,
  maxLookbackDays: 30,
  currentWindowStart: '2026-11-06T20:00:00.000Z',
  maxWindowStart: '2026-11-06T20:00:00.000Z',
  upgradeAvailable: false,
};

let srv;
/** @type {(req: any, res: any, url: URL) => boolean} */
let route = () => false;

before(async () => {
  srv = await startServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (route(req, res, url)) return;
    json(res, 500, { code: 'WF_UNSCRIPTED', message: `unscripted ${req.method} ${url.pathname}` });
  });
});
after(() => srv.close());
beforeEach(() => {
  route = () => false;
});

const last = () => srv.requests.at(-1);
const world5 = (extra = {}) =>
  createWorld({ serviceUrl: srv.url, appId: 'a', deploymentId: 'dpl_5', appUrl: 'http://127.0.0.1:9', env: {}, line: 5, ...extra });

test('runs.getMany: one POST /run-batches/get, request order, null for unknown ids, Dates and bytes revived', async () => {
  route = (req, res, url) => {
    if (req.method !== 'POST' || url.pathname !== '/api/v1/apps/a/run-batches/get') return false;
    json(res, 200, { data: req.json.runIds.map((id) => (id.startsWith('wrun_') ? run(id, 'failed', { error: BYTES, completedAt: T }) : null)) });
    return true;
  };
  const w = world5();
  const runs = await w.runs.getMany(['wrun_2', 'nope', 'wrun_1'], { resolveData: 'none' });
  assert.deepEqual(last().json, { runIds: ['wrun_2', 'nope', 'wrun_1'], resolveData: 'none' });
  assert.deepEqual(runs.map((r) => r?.runId ?? null), ['wrun_2', null, 'wrun_1']);
  assert.ok(runs[0].createdAt instanceof Date && runs[0].completedAt instanceof Date);
  assert.ok(runs[0].error instanceof Uint8Array);
  await w.runs.getMany(['wrun_1']);
  assert.deepEqual(last().json, { runIds: ['wrun_1'] }, 'no resolveData unless asked');

  const before = srv.requests.length;
  assert.deepEqual(await w.runs.getMany([]), []);
  assert.equal(srv.requests.length, before, 'no ids, no request');
  // More than the route takes: several requests, one answer in order.
  const ids = Array.from({ length: 2001 }, (_, i) => `wrun_${i}`);
  const many = await w.runs.getMany(ids);
  assert.equal(srv.requests.length, before + 3);
  assert.deepEqual(srv.requests.slice(-3).map((r) => r.json.runIds.length), [1000, 1000, 1]);
  assert.deepEqual(many.map((r) => r.runId), ids);
  await w.close();
});

test('runs.cancelMany: one POST /run-batches/cancel with the reason; outcomes and summary as answered', async () => {
  const answer = {
    summary: { requested: 3, cancelled: 1, alreadyCancelled: 0, notCancellable: 1, notFound: 1, failed: 0 },
    results: [
      { runId: 'wrun_1', outcome: 'cancelled' },
      { runId: 'wrun_2', outcome: 'not_cancellable', status: 'completed' },
      { runId: 'wrun_3', outcome: 'not_found' },
    ],
  };
  route = (req, res, url) => {
    if (req.method !== 'POST' || url.pathname !== '/api/v1/apps/a/run-batches/cancel') return false;
    json(res, 200, answer);
    return true;
  };
  const w = world5();
  assert.deepEqual(await w.runs.cancelMany({ runIds: ['wrun_1', 'wrun_2', 'wrun_3'], cancelReason: 'cleanup' }), answer);
  assert.deepEqual(last().json, { runIds: ['wrun_1', 'wrun_2', 'wrun_3'], cancelReason: 'cleanup' });
  await w.runs.cancelMany({ runIds: ['wrun_1'] });
  assert.deepEqual(last().json, { runIds: ['wrun_1'] });
  // A refusal (duplicates, > 500) is the service's 400, thrown, and not re-sent.
  route = (req, res) => {
    json(res, 400, { statusCode: 400, code: 'WF_BAD_REQUEST', message: 'body.runIds holds wrun_1 twice' });
    return true;
  };
  const before = srv.requests.length;
  await assert.rejects(w.runs.cancelMany({ runIds: ['wrun_1', 'wrun_1'] }), (err) => err.status === 400 && /twice/.test(err.message));
  assert.equal(srv.requests.length, before + 1);
  await w.close();
});

/** A terminal-status route answering `status` after holding for the asked timeout (at most `holdMax` ms). */
function waitRoute({ statusAt = () => 'running', holdMax = 200 } = {}) {
  let calls = 0;
  return (req, res, url) => {
    if (!url.pathname.endsWith('/terminal-status')) return false;
    calls += 1;
    const status = statusAt(calls);
    const terminal = ['completed', 'failed', 'cancelled'].includes(status);
    const hold = terminal ? 0 : Math.min(Number(url.searchParams.get('timeoutMs') ?? 0), holdMax);
    setTimeout(
      () => json(res, 200, run('wrun_1', status, terminal ? { completedAt: T } : {}), { 'workflow-wait': terminal ? 'terminal' : 'timeout' }),
      hold
    );
    return true;
  };
}

test('runs.waitForTerminalStatus: the terminal run as soon as answered, with resolveData; Dates revived', async () => {
  route = waitRoute({ statusAt: () => 'completed' });
  const w = world5();
  const done = await w.runs.waitForTerminalStatus('wrun_1', { timeoutMs: 5000, resolveData: 'none' });
  assert.equal(done.status, 'completed');
  assert.ok(done.completedAt instanceof Date);
  assert.equal(last().url, '/api/v1/apps/a/runs/wrun_1/terminal-status?timeoutMs=5000&resolveData=none');
  await w.close();
});

test('runs.waitForTerminalStatus: waits again until terminal, within the caller\'s timeout', async () => {
  route = waitRoute({ statusAt: (n) => (n < 3 ? 'running' : 'failed'), holdMax: 50 });
  const w = world5();
  const before = srv.requests.length;
  const done = await w.runs.waitForTerminalStatus('wrun_1', { timeoutMs: 20_000 });
  assert.equal(done.status, 'failed');
  assert.equal(srv.requests.length - before, 3);
  await w.close();
});

test('runs.waitForTerminalStatus: the timeout is a normal answer, the latest (non-terminal) snapshot', async () => {
  route = waitRoute({ holdMax: 400 });
  const w = world5();
  const t0 = Date.now();
  const snapshot = await w.runs.waitForTerminalStatus('wrun_1', { timeoutMs: 300 });
  const took = Date.now() - t0;
  assert.equal(snapshot.status, 'running');
  assert.ok(took >= 250 && took < 5000, `answered after ${took} ms`);
  assert.ok(Number(new URL(last().url, 'http://x').searchParams.get('timeoutMs')) <= 300);
  // timeoutMs 0: one read, no wait.
  const now = await w.runs.waitForTerminalStatus('wrun_1', { timeoutMs: 0 });
  assert.equal(now.status, 'running');
  assert.equal(new URL(last().url, 'http://x').searchParams.get('timeoutMs'), '0');
  await w.close();
});

test('runs.waitForTerminalStatus: one wait never outlasts the request deadline (timeoutMs is clamped)', async () => {
  assert.equal(waitBudgetMs(60_000), 50_000);
  assert.equal(waitBudgetMs(4_000), 2_000);
  route = waitRoute({ statusAt: () => 'cancelled' });
  const w = world5({ requestTimeoutMs: 4_000 });
  await w.runs.waitForTerminalStatus('wrun_1', { timeoutMs: 3_600_000 });
  assert.equal(new URL(last().url, 'http://x').searchParams.get('timeoutMs'), '2000');
  await w.runs.waitForTerminalStatus('wrun_1');
  assert.equal(new URL(last().url, 'http://x').searchParams.get('timeoutMs'), '2000', 'no timeoutMs: one budget');
  await w.close();
});

test('runs.waitForTerminalStatus: a 429 is honoured (Retry-After), then the wait goes on', async () => {
  let calls = 0;
  const wait = waitRoute({ statusAt: () => 'completed' });
  route = (req, res, url) => {
    if (!url.pathname.endsWith('/terminal-status')) return false;
    calls += 1;
    if (calls === 1) {
      json(res, 429, { statusCode: 429, code: 'WF_TOO_MANY_WAITERS', message: 'too many waits', meta: {} }, { 'retry-after': '1' });
      return true;
    }
    return wait(req, res, url);
  };
  const w = world5();
  const t0 = Date.now();
  const done = await w.runs.waitForTerminalStatus('wrun_1', { timeoutMs: 10_000 });
  assert.equal(done.status, 'completed');
  assert.equal(calls, 2);
  assert.ok(Date.now() - t0 >= 900, 'waited for Retry-After');
  await w.close();
});

test('runs.waitForTerminalStatus: 429 until the deadline answers a plain snapshot; a 429 never escapes', async () => {
  route = (req, res, url) => {
    if (url.pathname.endsWith('/terminal-status')) {
      json(res, 429, { statusCode: 429, code: 'WF_TOO_MANY_WAITERS', message: 'too many waits' }, { 'retry-after': '30' });
      return true;
    }
    if (url.pathname === '/api/v1/apps/a/runs/wrun_1') {
      json(res, 200, run('wrun_1', 'pending'));
      return true;
    }
    return false;
  };
  const w = world5();
  const t0 = Date.now();
  const snapshot = await w.runs.waitForTerminalStatus('wrun_1', { timeoutMs: 300, resolveData: 'none' });
  assert.equal(snapshot.status, 'pending');
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(last().url, '/api/v1/apps/a/runs/wrun_1?resolveData=none');
  assert.ok(ThrottleError, 'imported for the contract: ThrottleError is handled inside');
  await w.close();
});

test('runs.waitForTerminalStatus: an abort ends the wait at once with the signal\'s reason; unknown run is WorkflowRunNotFoundError', async () => {
  route = waitRoute({ holdMax: 10_000 });
  const w = world5();
  const controller = new AbortController();
  const t0 = Date.now();
  setTimeout(() => controller.abort(new Error('caller gave up')), 100);
  await assert.rejects(w.runs.waitForTerminalStatus('wrun_1', { timeoutMs: 10_000, signal: controller.signal }), /caller gave up/);
  assert.ok(Date.now() - t0 < 5000);
  await assert.rejects(w.runs.waitForTerminalStatus('wrun_1', { signal: controller.signal }), /caller gave up/);

  route = (req, res) => {
    json(res, 404, { statusCode: 404, code: 'WF_NOT_FOUND', message: 'no run wrun_x' });
    return true;
  };
  await assert.rejects(w.runs.waitForTerminalStatus('wrun_x', { timeoutMs: 1000 }), (err) => WorkflowRunNotFoundError.is(err));
  await w.close();
});

test('runs.list asks for pageInfo and revives its window as Dates', async () => {
  route = (req, res, url) => {
    if (url.pathname !== '/api/v1/apps/a/runs') return false;
    json(res, 200, { data: [run('wrun_1')], cursor: 'c', hasMore: true, pageInfo: { ...PAGE_INFO } });
    return true;
  };
  const w = world5();
  const page = await w.runs.list({ workflowName: 'wf', status: 'running', pagination: { limit: 5 }, resolveData: 'none' });
  assert.equal(last().url, '/api/v1/apps/a/runs?workflowName=wf&status=running&resolveData=none&limit=5&pageInfo=true');
  assert.ok(page.data[0].createdAt instanceof Date);
  assert.ok(page.pageInfo.currentWindowStart instanceof Date && page.pageInfo.maxWindowStart instanceof Date);
  assert.equal(page.pageInfo.maxLookbackDays, 30);
  assert.deepEqual([page.cursor, page.hasMore], ['c', true]);
  await w.close();
});

test('analytics: every member on its route, Dates revived (zone-less times as UTC), attributes default {}', async () => {
  const answers = {
    '/analytics/runs': { data: [{ ...run('wrun_1'), attributes: null, startedAt: '2026-12-06 20:00:01.5' }], cursor: null, hasMore: false, pageInfo: { ...PAGE_INFO } },
    '/analytics/runs/wrun_1': { ...run('wrun_1'), attributes: { a: 'b' }, completedAt: null },
    '/analytics/attributes': { data: [{ key: 'a', runCount: 2, firstSeenAt: T, lastSeenAt: T }], cursor: null, hasMore: false },
    '/analytics/runs/wrun_1/steps': { data: [{ runId: 'wrun_1', stepId: 's1', status: 'completed', createdAt: T, updatedAt: T, retryAfter: T }], cursor: 'x', hasMore: true },
    '/analytics/runs/wrun_1/steps/s1': { runId: 'wrun_1', stepId: 's1', status: 'completed', createdAt: T, updatedAt: T },
    '/analytics/runs/wrun_1/events': { data: [{ runId: 'wrun_1', eventId: 'e1', eventType: 'run_created', createdAt: T, runCreatedAt: T }], cursor: null, hasMore: false },
    '/analytics/runs/wrun_1/events/e1': { runId: 'wrun_1', eventId: 'e1', eventType: 'run_created', createdAt: T, runCreatedAt: T },
    '/analytics/runs/wrun_1/hooks': { data: [{ runId: 'wrun_1', hookId: 'h1', status: 'received', createdAt: T, updatedAt: T, receivedAt: T }], cursor: null, hasMore: false },
    '/analytics/hooks/h1': { runId: 'wrun_1', hookId: 'h1', status: 'disposed', createdAt: T, updatedAt: T, disposedAt: T },
    '/analytics/runs/wrun_1/waits': { data: [{ runId: 'wrun_1', waitId: 'w1', status: 'waiting', resumeAt: T, createdAt: T, updatedAt: T }], cursor: null, hasMore: false },
    '/analytics/runs/wrun_1/waits/w1': { runId: 'wrun_1', waitId: 'w1', status: 'completed', createdAt: T, updatedAt: T, completedAt: T },
  };
  route = (req, res, url) => {
    const path = url.pathname.replace('/api/v1/apps/a', '');
    if (req.method === 'POST' && path === '/analytics/runs/wrun_1/event-batches/get') {
      json(res, 200, { data: req.json.eventIds.filter((id) => id !== 'missing').map((eventId) => ({ runId: 'wrun_1', eventId, eventType: 'step_created', createdAt: T, runCreatedAt: T })) });
      return true;
    }
    if (req.method !== 'GET' || !(path in answers)) return false;
    json(res, 200, structuredClone(answers[path]));
    return true;
  };
  const w = world5();
  const a = w.analytics;
  const url = () => last().url.replace('/api/v1/apps/a/analytics', '');
  const date = (v) => assert.ok(v instanceof Date, `${v} is a Date`);

  const runs = await a.runs.list({
    workflowName: 'wf',
    status: 'running',
    startTime: '2026-12-01T00:00:00.000Z',
    endTime: '2026-12-06T00:00:00.000Z',
    attributes: { customer: 'acme', $rootRunId: 'wrun_0' },
    pagination: { limit: 10, cursor: 'c1', sortOrder: 'asc' },
  });
  const q = new URL(last().url, 'http://x').searchParams;
  assert.deepEqual(Object.fromEntries(q), {
    workflowName: 'wf',
    status: 'running',
    startTime: '2026-12-01T00:00:00.000Z',
    endTime: '2026-12-06T00:00:00.000Z',
    attributes: '{"customer":"acme","$rootRunId":"wrun_0"}',
    limit: '10',
    cursor: 'c1',
    sortOrder: 'asc',
  });
  assert.deepEqual(runs.data[0].attributes, {});
  assert.equal(runs.data[0].startedAt.toISOString(), '2026-12-06T20:00:01.500Z', 'a zone-less time is UTC');
  date(runs.pageInfo.currentWindowStart);
  await a.runs.list();
  assert.equal(url(), '/runs');

  const one = await a.runs.get('wrun_1');
  assert.deepEqual([one.attributes, one.completedAt], [{ a: 'b' }, null]);
  date(one.createdAt);

  const keys = await a.attributes.list({ workflowName: 'wf', pagination: { limit: 3 } });
  assert.equal(url(), '/attributes?workflowName=wf&limit=3');
  date(keys.data[0].firstSeenAt);
  date(keys.data[0].lastSeenAt);

  const steps = await a.steps.list({ runId: 'wrun_1', pagination: { limit: 1000 } });
  assert.equal(url(), '/runs/wrun_1/steps?limit=1000');
  date(steps.data[0].retryAfter);
  assert.deepEqual([steps.cursor, steps.hasMore], ['x', true]);
  date((await a.steps.get('wrun_1', 's1')).updatedAt);
  assert.equal(url(), '/runs/wrun_1/steps/s1');

  const events = await a.events.list({ runId: 'wrun_1', eventType: 'run_created', correlationId: 'c', pagination: { limit: 2 } });
  assert.equal(url(), '/runs/wrun_1/events?eventType=run_created&correlationId=c&limit=2');
  date(events.data[0].runCreatedAt);
  await a.events.listByCorrelationId({ runId: 'wrun_1', correlationId: 'step_1' });
  assert.equal(url(), '/runs/wrun_1/events?correlationId=step_1');
  date((await a.events.get('wrun_1', 'e1')).createdAt);
  assert.equal(url(), '/runs/wrun_1/events/e1');

  const found = await a.events.getMany('wrun_1', ['e2', 'missing', 'e2', 'e3']);
  assert.deepEqual(last().json, { eventIds: ['e2', 'missing', 'e3'] }, 'each id asked once');
  assert.deepEqual(found.map((e) => e.eventId).sort(), ['e2', 'e3']);
  date(found[0].createdAt);
  const before = srv.requests.length;
  assert.deepEqual(await a.events.getMany('wrun_1', []), []);
  assert.equal(srv.requests.length, before);

  date((await a.hooks.list({ runId: 'wrun_1', pagination: { sortOrder: 'desc' } })).data[0].receivedAt);
  assert.equal(url(), '/runs/wrun_1/hooks?sortOrder=desc');
  date((await a.hooks.get('h1', { runId: 'wrun_1' })).disposedAt);
  assert.equal(url(), '/hooks/h1?runId=wrun_1');
  await a.hooks.get('h1');
  assert.equal(url(), '/hooks/h1');

  date((await a.waits.list({ runId: 'wrun_1', status: 'waiting' })).data[0].resumeAt);
  assert.equal(url(), '/runs/wrun_1/waits?status=waiting');
  date((await a.waits.get('wrun_1', 'w1')).completedAt);
  assert.equal(url(), '/runs/wrun_1/waits/w1');
  await w.close();
});

test('analytics: a refused bound is the service\'s 400, thrown; an unknown run is WorkflowRunNotFoundError', async () => {
  route = (req, res, url) => {
    if (url.pathname.endsWith('/analytics/runs')) {
      json(res, 400, { statusCode: 400, code: 'WF_BAD_REQUEST', message: 'limit is at most 100 here' });
    } else {
      json(res, 404, { statusCode: 404, code: 'WF_NOT_FOUND', message: 'no such run' });
    }
    return true;
  };
  const w = world5();
  await assert.rejects(w.analytics.runs.list({ pagination: { limit: 1000 } }), (err) => err.status === 400 && /at most 100/.test(err.message));
  await assert.rejects(w.analytics.runs.get('wrun_x'), (err) => WorkflowRunNotFoundError.is(err));
  await w.close();
});

test('the 4 line has none of these members', async () => {
  const w = createWorld({ serviceUrl: srv.url, appId: 'a', appUrl: 'http://127.0.0.1:9', env: {}, line: 4 });
  for (const op of ['getMany', 'cancelMany', 'waitForTerminalStatus']) assert.equal(w.runs[op], undefined);
  assert.equal(w.analytics, undefined);
  await w.close();
});
