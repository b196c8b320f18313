// In-memory reference World for bench/devkit_workloads.py (the "memory" world):
// the DevKit runtime's floor. Not shipped, not durable, just enough of the
// storage contract for the benchmark workflows (runs and steps; no hooks or
// waits). Storage is a few Maps in the app's own process: no I/O, no
// serialisation. The queue is @workflow/world-local's, which delivers over HTTP
// to the app (WORKFLOW_LOCAL_BASE_URL) like every other World in the bench.
//
// Loaded by the runtime with require(WORKFLOW_TARGET_WORLD) from the app
// directory, so packages are resolved from there, synchronously.

import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const appRequire = createRequire(join(process.cwd(), 'index.js'));
const { createLocalWorld } = appRequire('@workflow/world-local');
const { monotonicFactory } = appRequire('ulid');

const ulid = monotonicFactory();

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function conflict(message) {
  // The runtime recognises EntityConflictError by name/status through @workflow/errors.
  const { EntityConflictError } = appRequire('@workflow/errors');
  return new EntityConflictError(message);
}

function page(items, pagination) {
  const order = pagination?.sortOrder === 'desc' ? [...items].reverse() : items;
  const start = pagination?.cursor ? Number(pagination.cursor) : 0;
  const limit = pagination?.limit ?? 1000;
  const data = order.slice(start, start + limit);
  const next = start + data.length;
  return { data, cursor: next < order.length ? String(next) : null, hasMore: next < order.length };
}

export function createWorld() {
  const dataDir = mkdtempSync(join(tmpdir(), 'memory-world-'));
  const local = createLocalWorld({ dataDir, recoverActiveRuns: false });
  /** @type {Map<string, any>} */
  const runs = new Map();
  /** @type {Map<string, Map<string, any>>} */
  const steps = new Map();
  /** @type {Map<string, any[]>} */
  const logs = new Map();

  function runOf(runId) {
    const run = runs.get(runId);
    if (!run) throw new HttpError(404, `run ${runId} not found`);
    return run;
  }

  function append(runId, data, now) {
    const event = {
      runId,
      eventId: `evnt_${ulid(now.getTime())}`,
      eventType: data.eventType,
      correlationId: data.correlationId,
      eventData: data.eventData,
      specVersion: data.specVersion,
      createdAt: now,
    };
    logs.get(runId).push(event);
    return event;
  }

  function finishRun(run, status, now, extra) {
    if (['completed', 'failed', 'cancelled'].includes(run.status)) throw conflict(`run ${run.runId} already ${run.status}`);
    Object.assign(run, { status, completedAt: now, updatedAt: now, ...extra });
  }

  const events = {
    async create(runId, data) {
      const now = new Date();
      if (data.eventType === 'run_created') {
        const id = runId ?? `wrun_${ulid(now.getTime())}`;
        const run = {
          runId: id, status: 'pending', deploymentId: data.eventData.deploymentId,
          workflowName: data.eventData.workflowName, specVersion: data.specVersion,
          executionContext: data.eventData.executionContext, input: data.eventData.input,
          output: undefined, error: undefined, createdAt: now, updatedAt: now,
        };
        runs.set(id, run);
        steps.set(id, new Map());
        logs.set(id, []);
        return { event: append(id, data, now), run: { ...run } };
      }
      const run = runOf(runId);
      const runSteps = steps.get(runId);
      const id = data.correlationId;
      switch (data.eventType) {
        case 'run_started': {
          // Idempotent for a run already started (the runtime calls it on every replay).
          const event = run.status === 'pending' ? append(runId, data, now) : undefined;
          if (event) Object.assign(run, { status: 'running', startedAt: now, updatedAt: now });
          return { event, run: { ...run }, events: [...logs.get(runId)], cursor: null, hasMore: false };
        }
        case 'run_completed':
          finishRun(run, 'completed', now, { output: data.eventData?.output });
          return { event: append(runId, data, now), run: { ...run } };
        case 'run_failed':
          finishRun(run, 'failed', now, { error: data.eventData?.error });
          return { event: append(runId, data, now), run: { ...run } };
        case 'run_cancelled':
          finishRun(run, 'cancelled', now, {});
          return { event: append(runId, data, now), run: { ...run } };
        case 'step_created': {
          if (runSteps.has(id)) throw conflict(`step ${id} already exists`);
          const step = {
            runId, stepId: id, stepName: data.eventData.stepName, status: 'pending', input: data.eventData.input,
            output: undefined, error: undefined, attempt: 0, createdAt: now, updatedAt: now,
          };
          runSteps.set(id, step);
          return { event: append(runId, data, now), step: { ...step } };
        }
        case 'step_started': {
          const step = runSteps.get(id);
          if (!step) throw new HttpError(404, `step ${id} not found`);
          if (step.status === 'completed' || step.status === 'failed') throw conflict(`step ${id} already ${step.status}`);
          Object.assign(step, { status: 'running', attempt: step.attempt + 1, startedAt: step.startedAt ?? now, updatedAt: now });
          return { event: append(runId, data, now), step: { ...step } };
        }
        case 'step_completed':
        case 'step_failed': {
          const step = runSteps.get(id);
          if (!step) throw new HttpError(404, `step ${id} not found`);
          if (step.status === 'completed' || step.status === 'failed') throw conflict(`step ${id} already ${step.status}`);
          const done = data.eventType === 'step_completed'
            ? { status: 'completed', output: data.eventData?.result }
            : { status: 'failed', error: data.eventData?.error };
          Object.assign(step, done, { completedAt: now, updatedAt: now });
          return { event: append(runId, data, now), step: { ...step } };
        }
        case 'step_retrying': {
          const step = runSteps.get(id);
          if (!step) throw new HttpError(404, `step ${id} not found`);
          Object.assign(step, { status: 'pending', error: data.eventData?.error, updatedAt: now,
                                retryAfter: data.eventData?.retryAfter });
          return { event: append(runId, data, now), step: { ...step } };
        }
        default:
          throw new HttpError(400, `the memory world does not support ${data.eventType}`);
      }
    },
    async get(runId, eventId) {
      return (logs.get(runId) ?? []).find((e) => e.eventId === eventId);
    },
    async list(params) {
      return page(logs.get(params.runId) ?? [], params.pagination);
    },
    async listByCorrelationId(params) {
      const all = params.runId ? logs.get(params.runId) ?? [] : [...logs.values()].flat();
      return page(all.filter((e) => e.correlationId === params.correlationId), params.pagination);
    },
  };

  return {
    ...local,
    runs: {
      async get(runId) {
        return { ...runOf(runId) };
      },
      async list(params) {
        return page([...runs.values()], params?.pagination);
      },
    },
    steps: {
      async get(runId, stepId) {
        const step = steps.get(runId)?.get(stepId);
        if (!step) throw new HttpError(404, `step ${stepId} not found`);
        return { ...step };
      },
      async list(params) {
        return page([...(steps.get(params.runId)?.values() ?? [])], params.pagination);
      },
    },
    events,
    hooks: {
      async get() {
        throw new HttpError(404, 'no hooks in the memory world');
      },
      async getByToken() {
        throw new HttpError(404, 'no hooks in the memory world');
      },
      async list() {
        return { data: [], cursor: null, hasMore: false };
      },
    },
  };
}

export default createWorld;
