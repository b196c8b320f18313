// sleep(): durable timers, and cancellation while sleeping.
import { sleep } from 'workflow';

async function now(label) {
  'use step';
  return { label, at: Date.now() };
}

export async function sleepThenReport(ms) {
  'use workflow';
  const before = await now('before');
  await sleep(ms);
  const after = await now('after');
  return { before: before.at, after: after.at };
}

async function pause(ms) {
  'use step';
  await new Promise((resolve) => setTimeout(resolve, ms));
  return { label: 'paused', at: Date.now() };
}

/** Sleeps for an hour: only a wake-up (or a cancel) ends the sleep in a test. */
export async function sleepAnHour(label) {
  'use workflow';
  await sleep('1h');
  const woke = await now(label);
  return { woke: woke.label };
}

/** A slow step between two quick ones, to cancel a run while a step is running. */
export async function slowStepBetween(ms) {
  'use workflow';
  await now('first');
  await pause(ms);
  await now('last');
  return 'done';
}
