// Kubernetes service-account token for multi-tenant pg-workflow (SPEC §8).
//
// The kubelet rotates the projected token in place, so the file is re-read
// whenever its mtime changes. The stat itself is throttled: one stat per
// second is plenty for a token that lives for an hour, and keeps the hot
// request path free of syscalls.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const STAT_INTERVAL_MS = 1000;

/**
 * @param {object} [options]
 * @param {string} [options.dir] service-account directory holding `token`
 * @param {() => number} [options.now]
 * @returns {() => string | undefined} the current `Authorization` header value, if any
 */
export function createTokenSource({ dir = DEFAULT_SERVICE_ACCOUNT_DIR, now = Date.now } = {}) {
  const file = join(dir, 'token');
  let checkedAt = -Infinity;
  let mtimeMs = -1;
  /** @type {string | undefined} */
  let header;

  return function authorizationHeader() {
    const t = now();
    if (t - checkedAt < STAT_INTERVAL_MS) return header;
    checkedAt = t;
    let stat;
    try {
      stat = statSync(file);
    } catch {
      // No token file: single-tenant service, no auth.
      mtimeMs = -1;
      header = undefined;
      return header;
    }
    if (stat.mtimeMs !== mtimeMs) {
      try {
        const token = readFileSync(file, 'utf8').trim();
        header = token ? `Bearer ${token}` : undefined;
        mtimeMs = stat.mtimeMs;
      } catch {
        // Mid-rotation read failure: keep the previous token and retry soon.
        checkedAt = -Infinity;
      }
    }
    return header;
  };
}
