// queueBatch on the DevKit 5 line against the scripted server: one POST /queue-batches per 1000 messages, results
// in input order, a refusal of the whole batch reported per entry, an unknown outcome rejected.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createWorld } from '../index.js';
import { json, startServer } from './helpers.js';

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

const world5 = (extra = {}) =>
  createWorld({ serviceUrl: srv.url, appId: 'a', deploymentId: 'dpl_5', appUrl: 'http://127.0.0.1:9', env: {}, line: 5, autoStart: false, ...extra });
const step = (i) => ({
  message: { runId: 'wrun_1', stepId: `step_${i}`, stepName: 'charge', runContext: { deploymentId: 'dpl_5', specVersion: 7 } },
  opts: { idempotencyKey: `step_${i}:k` },
});
const answerIds = (req, res, url) => {
  if (req.method !== 'POST' || url.pathname !== '/api/v1/apps/a/queue-batches') return false;
  json(res, 201, { results: req.json.messages.map((m) => ({ messageId: `msg_${m.message.stepId}`, created: true })) });
  return true;
};

test('queueBatch: one POST /queue-batches, each message as queue() sends it, ids in input order', async () => {
  route = answerIds;
  const w = world5();
  const results = await w.queueBatch('__wkf_workflow_order', [step(0), step(1), { message: { runId: 'wrun_1' }, opts: { delaySeconds: 2 } }]);
  assert.deepEqual(results, [{ messageId: 'msg_step_0' }, { messageId: 'msg_step_1' }, { messageId: 'msg_undefined' }]);
  const sent = srv.requests.at(-1).json.messages;
  assert.deepEqual(sent[0], { queueName: '__wkf_workflow_order', message: step(0).message, deploymentId: 'dpl_5', idempotencyKey: 'step_0:k' });
  assert.deepEqual(sent[2], { queueName: '__wkf_workflow_order', message: { runId: 'wrun_1' }, deploymentId: 'dpl_5', delaySeconds: 2 });
  const before = srv.requests.length;
  assert.deepEqual(await w.queueBatch('__wkf_workflow_order', []), []);
  assert.equal(srv.requests.length, before, 'no messages, no request');
  const many = await w.queueBatch('__wkf_workflow_order', Array.from({ length: 1001 }, (_, i) => step(i)));
  assert.deepEqual(srv.requests.slice(-2).map((r) => r.json.messages.length), [1000, 1]);
  assert.deepEqual(many.map((r) => r.messageId), Array.from({ length: 1001 }, (_, i) => `msg_step_${i}`));
  await w.close();
});

test('queueBatch: a refused batch is an error per entry (retryable for 429), never a throw', async () => {
  route = (req, res, url) => {
    if (url.pathname !== '/api/v1/apps/a/queue-batches') return false;
    json(res, 429, { statusCode: 429, code: 'WF_QUOTA_EXCEEDED', message: 'quota maxQueuePerMinute exceeded', meta: { retryAfter: 3 } });
    return true;
  };
  const w = world5();
  const results = await w.queueBatch('__wkf_workflow_order', [step(0), step(1)]);
  assert.deepEqual(results, [
    { messageId: null, error: 'quota maxQueuePerMinute exceeded', retryable: true },
    { messageId: null, error: 'quota maxQueuePerMinute exceeded', retryable: true },
  ]);
  route = (req, res, url) => {
    if (url.pathname !== '/api/v1/apps/a/queue-batches') return false;
    json(res, 400, { statusCode: 400, code: 'WF_BAD_REQUEST', message: 'messages[1].message must be a JSON object', meta: {} });
    return true;
  };
  const bad = await w.queueBatch('__wkf_workflow_order', [step(0), step(1)]);
  assert.deepEqual(bad.map((r) => [r.messageId, r.retryable]), [[null, false], [null, false]]);
  assert.match(bad[0].error, /messages\[1\]/);
  await w.close();
});

test('queueBatch: an unknown outcome (a 500, a short answer) rejects', async () => {
  const w = world5();
  await assert.rejects(w.queueBatch('__wkf_workflow_order', [step(0)]), /unscripted/);
  route = (req, res, url) => {
    if (url.pathname !== '/api/v1/apps/a/queue-batches') return false;
    json(res, 201, { results: [] });
    return true;
  };
  await assert.rejects(w.queueBatch('__wkf_workflow_order', [step(0)]), (err) => err.retryable === true);
  await w.close();
});

test('queueBatch: offered on the 5 line unless turned off; never on the 4 line', async () => {
  assert.equal(typeof world5().queueBatch, 'function');
  assert.equal(world5().config.queueBatches, true);
  assert.equal(world5({ queueBatches: false }).queueBatch, undefined);
  assert.equal(world5({ env: { PGW_WORLD_QUEUE_BATCHES: '0' } }).queueBatch, undefined);
  const w4 = createWorld({ serviceUrl: srv.url, appId: 'a', appUrl: 'http://127.0.0.1:9', env: {}, line: 4, autoStart: false });
  assert.equal(w4.queueBatch, undefined);
  assert.equal(w4.config.queueBatches, false);
});
