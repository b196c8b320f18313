// Minimal plain-Node host for the DevKit 5 `wf build` output, plus test-control routes.
//
//   /.well-known/workflow/v1/flow        queue deliveries from pg-workflow: workflow AND step messages
//                                        (DevKit 5 has no step route; steps travel on the workflow queue)
//   /.well-known/workflow/v1/webhook/:t  public webhook endpoint
//   /control/...                         what a test drives (JSON); /control/bench: bench/devkit_workloads.py
//
// The World comes from WORKFLOW_TARGET_WORLD=pg-workflow-world, which serves the DevKit 5 line here because
// the app has @workflow/core 5 installed (or PGW_WORLD_LINE=5). Service URL and this app's URL come from
// WORKFLOW_SERVICE_URL / WORKFLOW_APP_URL. Binary values cross /control as {"__type":"Uint8Array","data":"<b64>"}.

import http from 'node:http';
import { createRequire } from 'node:module';
import { getRun, resumeHook, start } from 'workflow/api';
import { getWorld } from 'workflow/runtime';

const require = createRequire(import.meta.url);
const WELL_KNOWN = '/.well-known/workflow/v1';
const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';

function replacer(key, value) {
  const raw = this[key];
  if (raw instanceof Uint8Array) return { __type: 'Uint8Array', data: Buffer.from(raw).toString('base64') };
  if (raw instanceof Error) return { name: raw.name, message: raw.message };
  return value;
}

function reviver(_key, value) {
  if (value && typeof value === 'object' && value.__type === 'Uint8Array' && typeof value.data === 'string') {
    return new Uint8Array(Buffer.from(value.data, 'base64'));
  }
  return value;
}

function sendJson(res, status, value) {
  const body = Buffer.from(JSON.stringify(value, replacer));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.byteLength });
  res.end(body);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function readJson(req) {
  const text = (await readBody(req)).toString('utf8');
  return text ? JSON.parse(text, reviver) : {};
}

// ---------------------------------------------------------------------------
// Workflow routes: adapt node:http to the Web Request/Response handlers

/** @type {{ flow?: any, webhook?: any }} */
const bundles = {};
let started = false;

async function loadBundles() {
  // DevKit 5 writes ES modules: flow.mjs (workflows and steps) and webhook.mjs.
  bundles.flow = await import('./.well-known/workflow/v1/flow.mjs');
  bundles.webhook = await import('./.well-known/workflow/v1/webhook.mjs');
}

async function toWebRequest(req) {
  const url = `http://${req.headers.host ?? `${host}:${port}`}${req.url}`;
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) value.forEach((v) => headers.append(name, v));
    else if (value !== undefined) headers.set(name, value);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(url, { method: req.method, headers, body: hasBody ? await readBody(req) : undefined });
}

async function sendWebResponse(res, response) {
  const body = Buffer.from(await response.arrayBuffer());
  const headers = Object.fromEntries(response.headers);
  headers['content-length'] = String(body.byteLength);
  res.writeHead(response.status, headers);
  res.end(body);
}

async function handleWellKnown(req, res, path) {
  let handler;
  if (path === `${WELL_KNOWN}/flow`) handler = bundles.flow?.[req.method];
  else if (path.startsWith(`${WELL_KNOWN}/webhook/`)) handler = bundles.webhook?.[req.method];
  if (!handler) return sendJson(res, bundles.flow ? 404 : 503, { error: 'no handler' });
  await sendWebResponse(res, await handler(await toWebRequest(req)));
}

// ---------------------------------------------------------------------------
// Control routes

function workflowIdOf(name) {
  const manifest = require('./.well-known/workflow/v1/manifest.json');
  for (const workflows of Object.values(manifest.workflows)) {
    if (workflows[name]) return workflows[name].workflowId;
  }
  throw Object.assign(new Error(`unknown workflow ${name}`), { status: 404 });
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Wait (bounded) for a terminal status, then report it with the hydrated result or error. */
async function runOutcome(runId, waitMs) {
  const world = await getWorld();
  const deadline = Date.now() + waitMs;
  let run = await world.runs.get(runId, { resolveData: 'none' });
  while (!TERMINAL.has(run.status) && Date.now() < deadline) {
    await sleep(20);
    run = await world.runs.get(runId, { resolveData: 'none' });
  }
  const outcome = {
    runId,
    status: run.status,
    specVersion: run.specVersion,
    attributes: run.attributes,
    errorCode: run.errorCode,
    startedAt: run.startedAt,
    completedAt: run.completedAt,
  };
  if (run.status === 'completed') outcome.result = await getRun(runId).returnValue;
  if (run.status === 'failed') {
    // DevKit 5 stores the runtime's serialised error (bytes); returnValue hydrates it.
    try {
      await getRun(runId).returnValue;
    } catch (err) {
      outcome.error = { name: err?.name, message: String(err?.message), cause: err?.cause?.message };
    }
  }
  return outcome;
}

/**
 * Benchmark (bench/devkit_workloads.py --line 5): start `runs` runs of a workflow at once and wait until all
 * are terminal, as the DevKit 4 app's route does. elapsedMs runs from just before the first start() to the
 * latest completedAt the World recorded, so the poll interval adds nothing to it.
 */
async function benchRuns({ workflow, args = [], runs = 1, pollMs = 20, timeoutMs = 300_000 }) {
  const world = await getWorld();
  const workflowId = workflowIdOf(workflow);
  const t0 = Date.now();
  const handles = await Promise.all(Array.from({ length: runs }, () => start({ workflowId }, args)));
  const deadline = t0 + timeoutMs;
  const finished = [];
  for (const { runId } of handles) {
    let run = await world.runs.get(runId, { resolveData: 'none' });
    while (!TERMINAL.has(run.status) && Date.now() < deadline) {
      await sleep(pollMs);
      run = await world.runs.get(runId, { resolveData: 'none' });
    }
    finished.push(run);
  }
  const statuses = {};
  for (const run of finished) statuses[run.status] = (statuses[run.status] ?? 0) + 1;
  const ends = finished.map((run) => (run.completedAt ? new Date(run.completedAt).getTime() : NaN));
  return {
    runIds: handles.map((h) => h.runId),
    statuses,
    elapsedMs: statuses.completed === runs ? Math.max(...ends) - t0 : null,
  };
}

async function readStreamValues(runId, timeoutMs) {
  const values = [];
  const reader = getRun(runId).getReadable().getReader();
  const timer = setTimeout(() => reader.cancel('timeout').catch(() => {}), timeoutMs);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      values.push(value);
    }
  } finally {
    clearTimeout(timer);
  }
  return values;
}

async function allEvents(runId) {
  const world = await getWorld();
  const events = [];
  let cursor;
  do {
    const page = await world.events.list({ runId, pagination: { sortOrder: 'asc', limit: 200, cursor } });
    events.push(...page.data);
    cursor = page.hasMore ? page.cursor : undefined;
  } while (cursor);
  return events;
}

const routes = [
  ['GET', /^\/control\/ready$/, async () => ({ ready: started })],
  ['GET', /^\/control\/world$/, async () => {
    const world = await getWorld();
    return {
      specVersion: world.specVersion,
      capabilities: world.capabilities,
      deploymentId: await world.getDeploymentId(),
      config: world.config,
    };
  }],
  ['POST', /^\/control\/start$/, async (_m, body) => {
    const run = await start({ workflowId: workflowIdOf(body.workflow) }, body.args ?? [], body.options ?? {});
    return { runId: run.runId };
  }],
  ['POST', /^\/control\/bench$/, async (_m, body) => benchRuns(body)],
  ['GET', /^\/control\/runs\/([^/]+)$/, async ([, runId], _b, query) =>
    runOutcome(runId, Number(query.get('waitMs') ?? 0))],
  ['POST', /^\/control\/runs\/([^/]+)\/cancel$/, async ([, runId], body) => {
    await getRun(runId).cancel(body?.reason ? { cancelReason: body.reason } : undefined);
    return { cancelled: true };
  }],
  ['GET', /^\/control\/runs\/([^/]+)\/events$/, async ([, runId]) => ({ events: await allEvents(runId) })],
  ['GET', /^\/control\/runs\/([^/]+)\/steps$/, async ([, runId]) => {
    const page = await (await getWorld()).steps.list({ runId, resolveData: 'none' });
    return { steps: page.data };
  }],
  ['GET', /^\/control\/runs\/([^/]+)\/hooks$/, async ([, runId]) => {
    const page = await (await getWorld()).hooks.list({ runId });
    return { hooks: page.data.map(({ hookId, token, isWebhook }) => ({ hookId, token, isWebhook })) };
  }],
  ['GET', /^\/control\/runs\/([^/]+)\/stream$/, async ([, runId], _b, query) =>
    ({ values: await readStreamValues(runId, Number(query.get('timeoutMs') ?? 10_000)) })],
  ['POST', /^\/control\/hooks\/resume$/, async (_m, body) => {
    const hook = await resumeHook(body.token, body.payload);
    return { runId: hook.runId, hookId: hook.hookId };
  }],
];

function errorStatus(err) {
  if (err?.status) return err.status;
  if (err?.name === 'HookNotFoundError' || err?.name === 'WorkflowRunNotFoundError') return 404;
  return 500;
}

async function handleControl(req, res, url) {
  for (const [method, pattern, handler] of routes) {
    const match = pattern.exec(url.pathname);
    if (!match || method !== req.method) continue;
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    return sendJson(res, 200, await handler(match.map(decodeURIComponent), body, url.searchParams));
  }
  sendJson(res, 404, { error: `no route ${req.method} ${url.pathname}` });
}

// ---------------------------------------------------------------------------

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', `http://${host}`);
  try {
    if (url.pathname.startsWith(WELL_KNOWN)) await handleWellKnown(req, res, url.pathname);
    else await handleControl(req, res, url);
  } catch (err) {
    if (!res.headersSent) {
      sendJson(res, errorStatus(err), { error: err?.message ?? String(err), name: err?.name });
    } else {
      res.destroy(err);
    }
  }
});
server.keepAliveTimeout = 65_000;

async function main() {
  await new Promise((resolve) => server.listen(port, host, resolve));
  await loadBundles();
  // DevKit 5 builds its flow handler on the first delivery, so registration (WORKFLOW_APP_URL) happens here.
  await (await getWorld()).start?.();
  started = true;
  console.log(`e2e app (DevKit 5) ready on http://${host}:${port}`);
}

async function shutdown(signal) {
  console.log(`e2e app: ${signal}, shutting down`);
  server.close();
  try {
    await (await getWorld()).close?.();
  } finally {
    process.exit(0);
  }
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

main().catch((err) => {
  console.error('e2e app failed to start:', err);
  process.exit(1);
});
