// Workloads of bench/devkit_workloads.py --line 5 (SPEC §11; the same as app/workflows/bench.mjs on
// DevKit 4): no-op steps, so the time measured is the runtime's and the World's, not the steps' own work.

async function noop(i) {
  'use step';
  return i;
}

export async function benchNoSteps() {
  'use workflow';
  return 'done';
}

export async function benchSequential(n) {
  'use workflow';
  for (let i = 0; i < n; i++) await noop(i);
  return n;
}

export async function benchParallel(n) {
  'use workflow';
  const results = await Promise.all(Array.from({ length: n }, (_, i) => noop(i)));
  return results.length;
}
