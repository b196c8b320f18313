// Messages sent with the event that makes them necessary (lib/prequeue.js):
// the runtime's following queue() is answered without a request only when it
// asks, in the same delivery, for exactly the message that was queued.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createWorld } from '../index.js';
import { json, startServer } from './helpers.js';

const T = '2024-05-06T07:08:09.010Z';
const RUN = 'wrun_01HZZZZZZZZZZZZZZZZZZZZZZZ';
let srv;
let answerQueued = true;

before(async () => {
  srv = await startServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'POST' && url.pathname.endsWith('/events')) {
      const { enqueue, ...event } = req.json;
      const body = { event: { eventId: 'wevt_01HZZZZZZZZZZZZZZZZZZZZZZZ', runId: RUN, createdAt: T, ...event } };
      if (event.eventType === 'run_started') {
        body.run = { runId: RUN, status: 'running', createdAt: T, updatedAt: T, startedAt: T };
        body.events = [];
      }
      if (enqueue && answerQueued) body.queued = { messageId: 'msg_with_event', created: true };
      return json(res, 200, body);
    }
    if (req.method === 'POST' && url.pathname.endsWith('/queue')) return json(res, 201, { messageId: 'msg_over_http' });
    return json(res, 200, {});
  });
});
after(() => srv.close());
beforeEach(() => {
  answerQueued = true;
});

const world = () =>
  createWorld({ serviceUrl: srv.url, appId: 'a', deploymentId: 'dpl_7', appUrl: 'http://127.0.0.1:9', env: {} });

/** Delivers `message` on `queueName` to `fn` through the World's queue handler, as the service would. */
async function deliver(w, prefix, queueName, message, fn) {
  const handle = w.createQueueHandler(prefix, async (msg, meta) => {
    await fn(msg, meta);
  });
  const res = await handle(
    new Request('http://127.0.0.1/handler', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-vqs-queue-name': queueName,
        'x-vqs-message-id': 'msg_delivered',
        'x-vqs-message-attempt': '1',
      },
      body: JSON.stringify(message),
    })
  );
  assert.equal(res.status, 200, await res.text());
}

const sent = (path) => srv.requests.filter((r) => r.url.endsWith(path));
const stepMessage = { workflowName: 'wf', workflowRunId: RUN, workflowStartedAt: 1, stepId: 'step_1', traceCarrier: {}, requestedAt: T };

test('step_completed in its step delivery carries the wake-up; the runtime queue() is answered locally', async () => {
  const w = world();
  const before = sent('/queue').length;
  let answer;
  await deliver(w, '__wkf_step_', '__wkf_step_add', stepMessage, async () => {
    await w.events.create(RUN, { eventType: 'step_completed', correlationId: 'step_1', eventData: { result: 1 } });
    answer = await w.queue('__wkf_workflow_wf', { runId: RUN, traceCarrier: {}, requestedAt: new Date() });
  });
  const event = sent('/events').at(-1).json;
  assert.equal(event.enqueue.queueName, '__wkf_workflow_wf');
  assert.equal(event.enqueue.deploymentId, 'dpl_7');
  assert.equal(event.enqueue.idempotencyKey, undefined);
  assert.deepEqual(Object.keys(event.enqueue.message).sort(), ['requestedAt', 'runId', 'traceCarrier']);
  assert.equal(event.enqueue.message.runId, RUN);
  assert.deepEqual(answer, { messageId: 'msg_with_event' });
  assert.equal(sent('/queue').length, before, 'no POST /queue');
  await w.close();
});

test('a queue() asking for another message goes over HTTP, and the prediction is spent', async () => {
  const w = world();
  const before = sent('/queue').length;
  const answers = [];
  await deliver(w, '__wkf_step_', '__wkf_step_add', stepMessage, async () => {
    await w.events.create(RUN, { eventType: 'step_failed', correlationId: 'step_1', eventData: { error: 'x' } });
    answers.push(await w.queue('__wkf_workflow_wf', { runId: RUN, traceCarrier: { traceparent: 'other' }, requestedAt: new Date() }));
    answers.push(await w.queue('__wkf_workflow_wf', { runId: RUN, traceCarrier: {}, requestedAt: new Date() }));
  });
  assert.deepEqual(answers, [{ messageId: 'msg_over_http' }, { messageId: 'msg_over_http' }]);
  assert.equal(sent('/queue').length, before + 2);
  await w.close();
});

test('step_created in a workflow delivery carries the step message with its idempotency key', async () => {
  const w = world();
  const before = sent('/queue').length;
  let answer;
  await deliver(w, '__wkf_workflow_', '__wkf_workflow_wf', { runId: RUN, traceCarrier: {}, requestedAt: T }, async () => {
    const started = await w.events.create(RUN, { eventType: 'run_started' });
    await w.events.create(RUN, { eventType: 'step_created', correlationId: 'step_9', eventData: { stepName: 'add', input: [] } });
    answer = await w.queue(
      '__wkf_step_add',
      { workflowName: 'wf', workflowRunId: RUN, workflowStartedAt: +started.run.startedAt, stepId: 'step_9', traceCarrier: {}, requestedAt: new Date() },
      { idempotencyKey: 'step_9', headers: {} }
    );
  });
  const event = sent('/events').at(-1).json;
  assert.equal(event.enqueue.queueName, '__wkf_step_add');
  assert.equal(event.enqueue.idempotencyKey, 'step_9');
  assert.equal(event.enqueue.message.workflowStartedAt, Date.parse(T));
  assert.equal(event.enqueue.message.stepId, 'step_9');
  assert.deepEqual(answer, { messageId: 'msg_with_event' });
  assert.equal(sent('/queue').length, before);
  await w.close();
});

test('no message rides on an event outside a delivery, before run_started, or on other events', async () => {
  const w = world();
  await w.events.create(RUN, { eventType: 'step_completed', correlationId: 'step_1', eventData: { result: 1 } });
  assert.equal(sent('/events').at(-1).json.enqueue, undefined, 'outside a delivery');
  await deliver(w, '__wkf_workflow_', '__wkf_workflow_wf', { runId: RUN, traceCarrier: {}, requestedAt: T }, async () => {
    await w.events.create(RUN, { eventType: 'step_created', correlationId: 'step_2', eventData: { stepName: 'add' } });
  });
  assert.equal(sent('/events').at(-1).json.enqueue, undefined, 'without the run start time');
  await deliver(w, '__wkf_step_', '__wkf_step_add', stepMessage, async () => {
    await w.events.create(RUN, { eventType: 'step_retrying', correlationId: 'step_1', eventData: { error: 'x' } });
    assert.equal(sent('/events').at(-1).json.enqueue, undefined, 'step_retrying: the runtime redelivers, queues nothing');
    await w.events.create(RUN, { eventType: 'step_completed', correlationId: 'step_other', eventData: { result: 1 } });
    assert.equal(sent('/events').at(-1).json.enqueue, undefined, 'another step than the delivered one');
  });
  await w.close();
});

test('an event answered without queued (e.g. over the queue quota) leaves queue() to HTTP', async () => {
  answerQueued = false;
  const w = world();
  const before = sent('/queue').length;
  let answer;
  await deliver(w, '__wkf_step_', '__wkf_step_add', stepMessage, async () => {
    const result = await w.events.create(RUN, { eventType: 'step_completed', correlationId: 'step_1', eventData: { result: 1 } });
    assert.equal(result.queued, undefined);
    answer = await w.queue('__wkf_workflow_wf', { runId: RUN, traceCarrier: {}, requestedAt: new Date() });
  });
  assert.deepEqual(answer, { messageId: 'msg_over_http' });
  assert.equal(sent('/queue').length, before + 1);
  await w.close();
});

test('eventMessages: false (PGW_WORLD_EVENT_MESSAGES=0) sends every message with its own POST /queue', async () => {
  const w = createWorld({ serviceUrl: srv.url, appId: 'a', deploymentId: 'dpl_7', appUrl: 'http://127.0.0.1:9',
                          env: { PGW_WORLD_EVENT_MESSAGES: '0' } });
  assert.equal(w.config.eventMessages, false);
  const before = sent('/queue').length;
  await deliver(w, '__wkf_step_', '__wkf_step_add', stepMessage, async () => {
    await w.events.create(RUN, { eventType: 'step_completed', correlationId: 'step_1', eventData: { result: 1 } });
    assert.equal(sent('/events').at(-1).json.enqueue, undefined);
    await w.queue('__wkf_workflow_wf', { runId: RUN, traceCarrier: {}, requestedAt: new Date() });
  });
  assert.equal(sent('/queue').length, before + 1);
  await w.close();
});
