import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  EntityConflictError,
  HookNotFoundError,
  PreconditionFailedError,
  RunExpiredError,
  ThrottleError,
  TooEarlyError,
  WorkflowRunNotFoundError,
  WorkflowWorldError,
} from '@workflow/errors';
import { errorFromResponse, parseRetryAfter, transportError } from '../lib/errors.js';

const req = { method: 'POST', url: 'http://svc/api/v1/apps/default/runs/r/events' };
const answer = (status, body, headers = {}) => ({ status, headers, body, text: JSON.stringify(body ?? '') });

test('statuses map to the runtime error classes by name', () => {
  const cases = [
    [409, EntityConflictError],
    [410, RunExpiredError],
    [412, PreconditionFailedError],
    [425, TooEarlyError],
    [429, ThrottleError],
  ];
  for (const [status, Class] of cases) {
    const err = errorFromResponse(answer(status, { message: `m${status}`, code: 'WF_X' }), req);
    assert.ok(Class.is(err), `${status} → ${Class.name}, got ${err.name}`);
    assert.equal(err.message, `m${status}`);
    assert.equal(err.status, status);
  }
});

test('other statuses are WorkflowWorldError with status and code', () => {
  const err = errorFromResponse(answer(500, { message: 'boom', code: 'WF_INTERNAL' }), req);
  assert.ok(WorkflowWorldError.is(err));
  assert.equal(err.status, 500);
  assert.equal(err.code, 'WF_INTERNAL');
  const bad = errorFromResponse(answer(400, { message: 'bad input' }), req);
  assert.equal(bad.status, 400);
});

test('404 becomes a not-found class only where the interface expects one', () => {
  const run = errorFromResponse(answer(404, { message: 'nope' }), { ...req, notFound: { kind: 'run', runId: 'wrun_1' } });
  assert.ok(WorkflowRunNotFoundError.is(run));
  assert.equal(run.runId, 'wrun_1');
  const hook = errorFromResponse(answer(404, {}), { ...req, notFound: { kind: 'hook', token: 'tok' } });
  assert.ok(HookNotFoundError.is(hook));
  assert.equal(hook.token, 'tok');
  const plain = errorFromResponse(answer(404, { message: 'no step' }), req);
  assert.ok(WorkflowWorldError.is(plain));
  assert.equal(plain.status, 404);
});

test('retryAfter comes from meta.retryAfter, else the Retry-After header', () => {
  assert.equal(errorFromResponse(answer(425, { meta: { retryAfter: 3 } }, { 'retry-after': '9' }), req).retryAfter, 3);
  assert.equal(errorFromResponse(answer(429, { message: 'quota maxQueuePerMinute' }, { 'retry-after': '7' }), req).retryAfter, 7);
  const now = Date.parse('2024-01-01T00:00:00.000Z');
  assert.equal(parseRetryAfter('2024-01-01T00:00:02.500Z', undefined, now), 2.5);
  assert.equal(parseRetryAfter(undefined, 'Mon, 01 Jan 2024 00:00:05 GMT', now), 5);
  assert.equal(parseRetryAfter(undefined, undefined, now), undefined);
});

test('transport failures are retryable-classified WorkflowWorldErrors', () => {
  const reset = transportError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), req);
  assert.ok(WorkflowWorldError.is(reset));
  assert.equal(reset.code, 'TRANSPORT');
  assert.equal(reset.status, undefined);
  assert.equal(transportError(new Error('t'), { ...req, timedOut: true }).code, 'TIMEOUT');
});
