// Step failure semantics: RetryableError with retryAfter, FatalError.
import { FatalError, RetryableError, getStepMetadata } from 'workflow';

// Wall-clock time of every attempt, per test key. Steps run in this process,
// so module state survives between attempts.
const attemptTimes = (globalThis.__pgwE2eAttemptTimes ??= new Map());

async function flaky(key, retryAfterMs) {
  'use step';
  const { attempt } = getStepMetadata();
  const times = attemptTimes.get(key) ?? [];
  times.push(Date.now());
  attemptTimes.set(key, times);
  if (attempt === 1) throw new RetryableError('not yet', { retryAfter: retryAfterMs });
  return { attempt, times };
}

async function alwaysFatal(message) {
  'use step';
  throw new FatalError(message);
}

export async function retryThenCatchFatal(key, retryAfterMs) {
  'use workflow';
  const flakyResult = await flaky(key, retryAfterMs);
  let fatal;
  try {
    await alwaysFatal('fatal on purpose');
    fatal = { caught: false };
  } catch (err) {
    fatal = { caught: true, name: err?.name, message: String(err?.message) };
  }
  return { flaky: flakyResult, fatal };
}

export async function failsFatally(message) {
  'use workflow';
  await alwaysFatal(message);
  return 'unreachable';
}
