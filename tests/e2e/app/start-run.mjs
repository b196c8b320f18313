// A one-off script that starts a workflow run the way application code does
// (`start()` from workflow/api), with whatever environment it is given, then
// closes the World and exits: `node start-run.mjs <workflow> [jsonArgs]`.
// Prints {"runId": ...}. The e2e suite runs it with the app's full environment.

import { createRequire } from 'node:module';
import { start } from 'workflow/api';
import { getWorld } from 'workflow/runtime';

const require = createRequire(import.meta.url);
const [name, args = '[]'] = process.argv.slice(2);
const manifest = require('./.well-known/workflow/v1/manifest.json');
const entry = Object.values(manifest.workflows).find((workflows) => workflows[name])?.[name];
if (!entry) throw new Error(`unknown workflow ${name}`);

const run = await start({ workflowId: entry.workflowId }, JSON.parse(args));
await getWorld().close?.();
process.stdout.write(`${JSON.stringify({ runId: run.runId })}\n`);
