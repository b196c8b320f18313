// A workflow started from inside a step of another workflow.
import { getRun, start } from 'workflow/api';

async function triple(x) {
  'use step';
  return x * 3;
}

export async function childTriple(x) {
  'use workflow';
  return await triple(x);
}

async function startChild(x) {
  'use step';
  const run = await start(childTriple, [x]);
  return run.runId;
}

async function awaitChild(runId) {
  'use step';
  return await getRun(runId).returnValue;
}

export async function parentWithChild(x) {
  'use workflow';
  const childRunId = await startChild(x);
  const childResult = await awaitChild(childRunId);
  return { childRunId, childResult };
}
