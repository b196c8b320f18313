// Step orchestration under DevKit 5: sequencing and fan-out (steps travel on the workflow queue).

async function add(a, b) {
  'use step';
  return a + b;
}

async function multiply(a, b) {
  'use step';
  return a * b;
}

async function describe(sum, product) {
  'use step';
  return `sum=${sum} product=${product}`;
}

async function echo(i) {
  'use step';
  return i;
}

async function double(i) {
  'use step';
  return i * 2;
}

export async function multiStep(a, b) {
  'use workflow';
  const sum = await add(a, b);
  const product = await multiply(sum, b);
  const text = await describe(sum, product);
  return { sum, product, text };
}

export async function sequentialSteps(n) {
  'use workflow';
  const results = [];
  for (let i = 0; i < n; i++) results.push(await echo(i));
  return results;
}

export async function parallelSteps(n) {
  'use workflow';
  return await Promise.all(Array.from({ length: n }, (_, i) => echo(i)));
}

/** n sequential steps in one run; the total is exact only if every step ran once. */
export async function manySteps(n) {
  'use workflow';
  let total = 0;
  for (let i = 0; i < n; i++) total += await double(i);
  return { count: n, total };
}

/** One step that holds for ms and reports when it ran (handler-side clock), to see steps overlap. */
async function timedStep(i, ms) {
  'use step';
  const startedAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return { i, startedAt, finishedAt: Date.now() };
}

/** n steps of ms each in one Promise.all: they overlap only if the World lets a run's steps run in parallel. */
export async function overlappingSteps(n, ms) {
  'use workflow';
  return await Promise.all(Array.from({ length: n }, (_, i) => timedStep(i, ms)));
}
