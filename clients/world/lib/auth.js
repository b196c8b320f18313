// Kubernetes service-account token for multi-tenant pg-workflow (SPEC §8).
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

export const DEFAULT_SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const STAT_INTERVAL_MS = 1000;

/** @param {import('node:fs').Stats} stat */
function identity(stat) {
  return `${stat.dev}:${stat.ino}:${stat.mtimeMs}:${stat.size}`;
}

/**
 * @param {object} [options]
 * @param {string} [options.dir] service-account directory holding `token`
 * @param {() => number} [options.now]
 * @returns {() => string | undefined} the current `Authorization` header value, if any
 */
export function createTokenSource({ dir = DEFAULT_SERVICE_ACCOUNT_DIR, now = Date.now } = {}) {
  const file = join(dir, 'token');
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
