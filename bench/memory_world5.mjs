// In-memory reference World for DevKit 5 (bench/devkit_workloads.py --line 5, the "memory" world): the
// runtime's floor on the 5.x World interface (@workflow/world 5.0.0-beta.37 src/interfaces.ts), as
// memory_world.mjs is for DevKit 4. Not shipped, not durable, only what the benchmark workflows use (runs
// and steps; no hooks, waits or attributes). Storage is a few Maps in the app's own process: no I/O, no
// serialisation. The queue and streams are @workflow/world-local's 5.x line (the copy @workflow/core
// depends on), which delivers over HTTP to the app (WORKFLOW_LOCAL_BASE_URL) like every other World here.
//
// What the 5.x runtime asks of its World and this one does:
//   - specVersion 7 (the sealed log): event ids are `evnt_` + the 26-digit, 1-based position in the run;
//   - `eventCount` bump-and-report: a write landing above eventCount + 1 answers the events it skipped;
//   - lazy step start: a step_started carrying {stepName, input} creates the step (and a step_created
//     before it) and answers stepCreated: true; a second one loses with EntityConflictError;
//   - run_started preloads the log unless skipPreload; sinceCursor answers the events after that cursor
//     (the inline delta); cursors are positions, as events.list uses them.
// No events.createBatch and no queueBatch: world-local 5 has neither, and in memory they would save nothing.
//
// Loaded by the runtime from WORKFLOW_TARGET_WORLD (require, else import) in the app's directory.

import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const appRequire = createRequire(join(process.cwd(), 'index.js'));
// The 5.x packages the app's @workflow/core uses (the app's top level may hold 4.x copies).
const coreRequire = createRequire(appRequire.resolve('@workflow/core'));
const { createWorld: createLocalWorld } = coreRequire('@workflow/world-local');
const { EntityConflictError, RunExpiredError, WorkflowWorldError } = coreRequire('@workflow/errors');

const SPEC_VERSION = 7;
const MAX_EVENTS = 100_000;
const TERMINAL_RUN = new Set(['completed', 'failed', 'cancelled']);
const TERMINAL_STEP = new Set(['completed', 'failed']);

const slotId = (position) => `evnt_${String(position).padStart(26, '0')}`;
let runSeq = 0;

function notFound(what) {
  return Object.assign(new WorkflowWorldError(`${what} not found`), { status: 404 });
}

/** A page of `items` (positions 1..n) from `cursor` (a position, exclusive), as events.list pages. */
function page(items, pagination) {
  const desc = pagination?.sortOrder === 'desc';
  const order = desc ? [...items].reverse() : items;
  const start = pagination?.cursor ? Number(pagination.cursor) : 0;
  const limit = pagination?.limit ?? 1000;
  const data = order.slice(start, start + limit);
  const next = start + data.length;
  return { data, cursor: data.length ? String(next) : (pagination?.cursor ?? null), hasMore: next < order.length };
}

export function createWorld() {
  const dataDir = mkdtempSync(join(tmpdir(), 'memory-world5-'));
  const local = createLocalWorld({ dataDir, recoverActiveRuns: false });
  /** @type {Map<string, any>} */
  const runs = new Map();
  /** @type {Map<string, Map<string, any>>} */
  const steps = new Map();
  /** @type {Map<string, any[]>} */
  const logs = new Map();

  function runOf(runId) {
    const run = runs.get(runId);
    if (!run) throw notFound(`run ${runId}`);
    return run;
  }

  function append(runId, data, now) {
    const log = logs.get(runId);
    const event = {
      runId,
      eventId: slotId(log.length + 1),
      eventType: data.eventType,
      correlationId: data.correlationId,
      eventData: data.eventData,
      specVersion: data.specVersion ?? SPEC_VERSION,
      createdAt: now,
    };
    log.push(event);
    return event;
  }

  /** The answer's log fields: the run_started preload, the sinceCursor delta or the skipped-slot report. */
  function withLog(runId, result, data, params, firstSlot) {
    const log = logs.get(runId) ?? [];
    if (data.eventType === 'run_started' && result.run && !params?.skipPreload) {
      return { ...result, events: [...log], cursor: String(log.length), hasMore: false };
    }
    if (typeof params?.sinceCursor === 'string') {
      const from = Number(params.sinceCursor);
      return { ...result, events: log.slice(from), cursor: String(log.length), hasMore: false };
    }
    if (typeof params?.eventCount === 'number' && firstSlot !== undefined && firstSlot > params.eventCount + 1) {
      return { ...result, events: log.slice(params.eventCount, firstSlot - 1), cursor: String(firstSlot - 1),
               hasMore: false };
    }
    return result;
  }

  function finishRun(run, status, now, extra) {
    if (TERMINAL_RUN.has(run.status)) throw new EntityConflictError(`run ${run.runId} already ${run.status}`);
    Object.assign(run, { status, completedAt: now, updatedAt: now, ...extra });
  }

  function commit(runId, data, params) {
    const now = new Date();
    if (data.eventType === 'run_created') {
      const id = runId ?? `wrun_${Date.now().toString(36)}${(++runSeq).toString(36).padStart(8, '0')}`;
      const run = {
        runId: id, status: 'pending', deploymentId: data.eventData.deploymentId,
        workflowName: data.eventData.workflowName, specVersion: data.specVersion ?? SPEC_VERSION,
        executionContext: data.eventData.executionContext, input: data.eventData.input,
        attributes: data.eventData.attributes ?? {},
        output: undefined, error: undefined, createdAt: now, updatedAt: now,
      };
      runs.set(id, run);
      steps.set(id, new Map());
      logs.set(id, []);
      return { event: append(id, data, now), run: { ...run }, maxEvents: MAX_EVENTS };
    }
    const run = runOf(runId);
    const runSteps = steps.get(runId);
    const id = data.correlationId;
    const firstSlot = logs.get(runId).length + 1;
    const done = (result) => withLog(runId, result, data, params, firstSlot);
    switch (data.eventType) {
      case 'run_started': {
        if (TERMINAL_RUN.has(run.status)) throw new RunExpiredError(`run ${runId} is already ${run.status}`);
        // Idempotent for a run already started (a redelivery).
        const event = run.status === 'pending' ? append(runId, data, now) : undefined;
        if (event) Object.assign(run, { status: 'running', startedAt: now, updatedAt: now });
        return done({ event, run: { ...run }, maxEvents: MAX_EVENTS });
      }
      case 'run_completed':
        finishRun(run, 'completed', now, { output: data.eventData?.output });
        return done({ event: append(runId, data, now), run: { ...run }, maxEvents: MAX_EVENTS });
      case 'run_failed':
        finishRun(run, 'failed', now, { error: data.eventData?.error, errorCode: data.eventData?.errorCode });
        return done({ event: append(runId, data, now), run: { ...run }, maxEvents: MAX_EVENTS });
      case 'run_cancelled':
        if (run.status === 'cancelled') return { event: append(runId, data, now), run: { ...run } };
        finishRun(run, 'cancelled', now, {});
        return done({ event: append(runId, data, now), run: { ...run }, maxEvents: MAX_EVENTS });
      case 'step_created': {
        if (TERMINAL_RUN.has(run.status)) throw new EntityConflictError(`run ${runId} is ${run.status}`);
        if (runSteps.has(id)) throw new EntityConflictError(`step ${id} already exists`);
        const step = newStep(runId, id, data.eventData, now);
        runSteps.set(id, step);
        return done({ event: append(runId, data, now), step: { ...step } });
      }
      case 'step_started': {
        let step = runSteps.get(id);
        const lazy = typeof data.eventData?.stepName === 'string' && data.eventData.input !== undefined;
        let stepCreated = false;
        if (lazy) {
          // Lazy start creates the step; whoever finds it made already lost the race.
          if (step) throw new EntityConflictError(`step ${id} already created`);
          if (TERMINAL_RUN.has(run.status)) throw new EntityConflictError(`run ${runId} is ${run.status}`);
          step = newStep(runId, id, data.eventData, now);
          runSteps.set(id, step);
          append(runId, { eventType: 'step_created', correlationId: id, specVersion: data.specVersion,
                          eventData: { stepName: data.eventData.stepName, input: data.eventData.input } }, now);
          stepCreated = true;
        }
        if (!step) throw notFound(`step ${id}`);
        if (TERMINAL_STEP.has(step.status)) throw new EntityConflictError(`step ${id} already ${step.status}`);
        if (TERMINAL_RUN.has(run.status)) throw new RunExpiredError(`run ${runId} is ${run.status}`);
        Object.assign(step, { status: 'running', attempt: step.attempt + 1, startedAt: step.startedAt ?? now,
                              updatedAt: now });
        const { input: _input, ...eventData } = data.eventData ?? {};
        const event = append(runId, { ...data, eventData: lazy ? eventData : data.eventData }, now);
        return done({ event, step: { ...step }, ...(stepCreated ? { stepCreated: true } : {}) });
      }
      case 'step_completed':
      case 'step_failed': {
        const step = runSteps.get(id);
        if (!step) throw notFound(`step ${id}`);
        if (TERMINAL_STEP.has(step.status)) throw new EntityConflictError(`step ${id} already ${step.status}`);
        const outcome = data.eventType === 'step_completed'
          ? { status: 'completed', output: data.eventData?.result }
          : { status: 'failed', error: data.eventData?.error };
        Object.assign(step, outcome, { completedAt: now, updatedAt: now });
        return done({ event: append(runId, data, now), step: { ...step } });
      }
      case 'step_retrying': {
        const step = runSteps.get(id);
        if (!step) throw notFound(`step ${id}`);
        Object.assign(step, { status: 'pending', error: data.eventData?.error, updatedAt: now,
                              retryAfter: data.eventData?.retryAfter });
        return done({ event: append(runId, data, now), step: { ...step } });
      }
      default:
        throw Object.assign(new WorkflowWorldError(`the memory world does not support ${data.eventType}`),
                            { status: 400 });
    }
  }

  function newStep(runId, stepId, eventData, now) {
    return {
      runId, stepId, stepName: eventData.stepName, status: 'pending', input: eventData.input,
      output: undefined, error: undefined, attempt: 0, createdAt: now, updatedAt: now,
    };
  }

  const events = {
    async create(runId, data, params) {
      return commit(runId, data, params);
    },
    async get(runId, eventId) {
      const event = (logs.get(runId) ?? []).find((e) => e.eventId === eventId);
      if (!event) throw notFound(`event ${eventId}`);
      return event;
    },
    async list(params) {
      return page(logs.get(params.runId) ?? [], params.pagination);
    },
    async listByCorrelationId(params) {
      const all = params.runId ? logs.get(params.runId) ?? [] : [...logs.values()].flat();
      const matching = all.filter((e) => e.correlationId === params.correlationId);
      return page(matching, params.pagination);
    },
  };

  return {
    ...local,
    specVersion: SPEC_VERSION,
    capabilities: {},
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
        if (!step) throw notFound(`step ${stepId}`);
        return { ...step };
      },
      async list(params) {
        return page([...(steps.get(params.runId)?.values() ?? [])], params.pagination);
      },
    },
    events,
    hooks: {
      async get() {
        throw notFound('hook (no hooks in the memory world)');
      },
      async getByToken() {
        throw notFound('hook (no hooks in the memory world)');
      },
      async list() {
        return { data: [], cursor: null, hasMore: false };
      },
    },
  };
}

export default createWorld;
