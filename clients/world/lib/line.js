// Which DevKit line this World serves: 4 (workflow 4.8.x, @workflow/world 4.5,
// spec 3) or 5 (workflow 5.x, @workflow/world 5.x, spec 6/7).
//
// The two lines are different protocols, not different versions of one: core
// 5 refuses a World that declares a spec below 6, and core 4 cannot read the
// slot event ids a spec-6 run has. So the World has to know which runtime
// loaded it before it answers `specVersion`, and the runtime never says. The
// rule, first match wins:
//   1. the `line` option, then PGW_WORLD_LINE (4 or 5): an explicit choice;
//   2. the major version of the @workflow/core the app has installed, found
//      the way Node would resolve it from the app's directory (process.cwd(),
//      where the runtime itself resolves WORKFLOW_TARGET_WORLD from);
//   3. else the major version of the app's `workflow` package;
//   4. else 4, what this World has always been.
// Resolution reads package.json files directly (neither package exports its
// package.json), once per directory per process.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const LINES = /** @type {const} */ ([4, 5]);

/** @type {Map<string, { line: 4 | 5, source: string }>} */
const detected = new Map();

/**
 * The version of `name` that Node would load from `fromDir`, or undefined.
 * @param {string} name @param {string} fromDir
 */
export function installedVersion(name, fromDir) {
  let dir = resolve(fromDir);
  for (;;) {
    const file = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(file)) {
      try {
        const version = JSON.parse(readFileSync(file, 'utf8')).version;
        return typeof version === 'string' ? version : undefined;
      } catch {
        return undefined;
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** @param {string | undefined} version */
function majorOf(version) {
  const major = Number(/^(\d+)\./.exec(version ?? '')?.[1]);
  return Number.isInteger(major) ? major : undefined;
}

/**
 * The line of the DevKit installed where `cwd` resolves packages from.
 * @param {string} cwd
 * @returns {{ line: 4 | 5, source: string }}
 */
export function detectLine(cwd) {
  const known = detected.get(cwd);
  if (known) return known;
  let found = { line: /** @type {4 | 5} */ (4), source: 'default (no @workflow/core or workflow package found)' };
  for (const name of ['@workflow/core', 'workflow']) {
    const version = installedVersion(name, cwd);
    const major = majorOf(version);
    if (major === undefined) continue;
    found = { line: major >= 5 ? 5 : 4, source: `${name} ${version}` };
    break;
  }
  detected.set(cwd, found);
  return found;
}

/**
 * @param {{ line?: number | string }} options
 * @param {NodeJS.ProcessEnv} env
 * @param {string} [cwd]
 * @returns {{ line: 4 | 5, source: string }}
 */
export function resolveLine(options, env, cwd = process.cwd()) {
  for (const [source, value] of /** @type {const} */ ([
    ['line option', options.line],
    ['PGW_WORLD_LINE', env.PGW_WORLD_LINE],
  ])) {
    if (value === undefined || value === '') continue;
    const line = Number(value);
    if (line !== 4 && line !== 5) {
      throw new Error(`pg-workflow-world: invalid ${source} ${JSON.stringify(value)}: 4 (DevKit 4.x) or 5 (DevKit 5.x)`);
    }
    return { line, source };
  }
  return detectLine(cwd);
}
