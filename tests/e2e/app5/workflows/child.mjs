// Child runs and run attributes (DevKit 5): the parent seeds and changes its
// own attributes; a child started from a step carries $rootRunId/$parentRunId
// (set by the runtime) plus attributes of its own.
import { setAttributes } from 'workflow';
import { getRun, start } from 'workflow/api';

async function triple(x) {
  'use step';
  return x * 3;
}

export async function childTriple(x) {
  'use workflow';
  await setAttributes({ phase: 'child-running' });
  return await triple(x);
}

async function startChild(x) {
  'use step';
  const run = await start(childTriple, [x], { attributes: { role: 'child', input: String(x) } });
  return run.runId;
}

async function awaitChild(runId) {
  'use step';
  return await getRun(runId).returnValue;
}

export async function parentWithChild(x) {
  'use workflow';
  await setAttributes({ phase: 'started', customer: 'acme' });
  const childRunId = await startChild(x);
  const childResult = await awaitChild(childRunId);
  await setAttributes({ phase: 'done', customer: undefined });
  return { childRunId, childResult };
}
