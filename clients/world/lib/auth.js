// Kubernetes service-account token for multi-tenant pg-workflow (SPEC §8).
//
// pg-workflow accepts only tokens issued for its own audience (WF_TOKEN_AUDIENCE,
// default "pg-workflow"), so the app's pod projects one (a serviceAccountToken
// projected volume with that `audience`) and this reads it from
// DEFAULT_TOKEN_FILE, or the file WORKFLOW_SERVICE_TOKEN_FILE / `tokenFile`
// names. The pod's automounted token (issued for the Kubernetes API) is not
// sent unless asked for: it would be refused, and pg-workflow has no use for a
// token that works against the API server.
//
// The kubelet rotates the projected token without restarting the pod: it
// writes the new token into a fresh timestamped directory and atomically
// swaps the `..data` symlink to it (`token` -> `..data/token`). So the file is
// re-read whenever what `token` resolves to changes — a new inode after a
// swap, or a new mtime/size after an in-place write (two tokens written in
// the same clock tick would share an mtime, never an inode). The stat itself
// is throttled: one per second is plenty for a token that lives for an hour,
// and keeps the hot request path free of syscalls.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_TOKEN_FILE = '/var/run/secrets/pg-workflow/token';
const STAT_INTERVAL_MS = 1000;

/** @param {import('node:fs').Stats} stat */
function identity(stat) {
  return `${stat.dev}:${stat.ino}:${stat.mtimeMs}:${stat.size}`;
}

/**
 * @param {object} [options]
 * @param {string} [options.file] the token file (default DEFAULT_TOKEN_FILE)
 * @param {string} [options.dir] a directory holding `token` (used when no file is given)
 * @param {() => number} [options.now]
 * @returns {() => string | undefined} the current `Authorization` header value, if any
 */
export function createTokenSource({ file, dir, now = Date.now } = {}) {
  file = file ?? (dir === undefined ? DEFAULT_TOKEN_FILE : join(dir, 'token'));
  let checkedAt = -Infinity;
  let seen = '';
  /** @type {string | undefined} */
  let header;

  return function authorizationHeader() {
    const t = now();
    if (t - checkedAt < STAT_INTERVAL_MS) return header;
    checkedAt = t;
    let stat;
    try {
      stat = statSync(file); // follows the symlinks to the current generation
    } catch {
      // No token file: single-tenant service, no auth.
      seen = '';
      header = undefined;
      return header;
    }
    const current = identity(stat);
    if (current !== seen) {
      try {
        const token = readFileSync(file, 'utf8').trim();
        header = token ? `Bearer ${token}` : undefined;
        seen = current;
      } catch {
        // The old generation vanished between stat and read (mid-swap): keep
        // the previous token and look again on the next call.
        checkedAt = -Infinity;
      }
    }
    return header;
  };
}
