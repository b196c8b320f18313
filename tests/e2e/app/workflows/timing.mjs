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
