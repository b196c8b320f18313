// HTTP failures → the error classes the DevKit runtime branches on.
//
// The runtime recognises errors by name (`EntityConflictError.is(err)` etc.),
// so the classes come from @workflow/errors. Codes TRANSPORT / TIMEOUT on a
// status-less WorkflowWorldError mark a transient failure: the runtime then
// lets the queue redeliver instead of failing the run.

import {
  EntityConflictError,
  HookNotFoundError,
  PreconditionFailedError,
  RunExpiredError,
  ThrottleError,
  TooEarlyError,
  WorkflowRunNotFoundError,
  WorkflowWorldError,
} from '@workflow/errors';

/**
 * Seconds to wait, from the body's meta.retryAfter (seconds or a timestamp)
 * or the Retry-After header (seconds or an HTTP date).
 * @param {unknown} metaValue
 * @param {string | undefined} header
 * @returns {number | undefined}
 */
export function parseRetryAfter(metaValue, header, now = Date.now()) {
  for (const candidate of [metaValue, header]) {
    if (candidate === undefined || candidate === null || candidate === '') continue;
    const asNumber = Number(candidate);
    if (Number.isFinite(asNumber)) return Math.max(0, asNumber);
    const asDate = Date.parse(String(candidate));
    if (Number.isFinite(asDate)) return Math.max(0, (asDate - now) / 1000);
  }
  return undefined;
}

/**
 * What a 404 means depends on the call: the interface promises
 * WorkflowRunNotFoundError from runs.get and HookNotFoundError from hook
 * lookups and hook events.
 * @typedef {{ kind: 'run', runId: string } | { kind: 'hook', token: string }} NotFoundContext
 */

/**
 * @param {object} response
 * @param {number} response.status
 * @param {Record<string, string | string[] | undefined>} response.headers
 * @param {any} response.body  parsed JSON error body, if any
 * @param {string} response.text  raw body (for non-JSON answers)
 * @param {object} request
 * @param {string} request.method
 * @param {string} request.url
 * @param {NotFoundContext} [request.notFound]
 */
export function errorFromResponse({ status, headers, body, text }, { method, url, notFound }) {
  const message =
    (body && typeof body.message === 'string' && body.message) ||
    (text && text.length < 500 ? text.trim() : '') ||
    `${method} ${url} failed with HTTP ${status}`;
  const header = headers['retry-after'];
  const retryAfter = parseRetryAfter(body?.meta?.retryAfter, Array.isArray(header) ? header[0] : header);
  const code = body && typeof body.code === 'string' ? body.code : undefined;

  let error;
  switch (status) {
    case 404:
      if (notFound?.kind === 'run') error = new WorkflowRunNotFoundError(notFound.runId);
      else if (notFound?.kind === 'hook') error = new HookNotFoundError(notFound.token);
      break;
    case 409:
      error = new EntityConflictError(message);
      break;
    case 410:
      error = new RunExpiredError(message);
      break;
    case 412:
      error = new PreconditionFailedError(message, { retryAfter });
      break;
    case 425:
      error = new TooEarlyError(message, { retryAfter });
      break;
    case 429:
      error = new ThrottleError(message, { retryAfter });
      break;
  }
  if (!error) {
    return new WorkflowWorldError(message, { status, code, url, retryAfter });
  }
  // Extra context for callers and logs; `.is()` checks only look at the name.
  return Object.assign(error, { status, url, ...(code ? { code } : {}), ...(body?.meta ? { meta: body.meta } : {}) });
}

/**
 * A request that produced no usable HTTP answer (refused, reset, timed out).
 * @param {Error & { code?: string }} cause
 * @param {{ method: string, url: string, timedOut?: boolean }} request
 */
export function transportError(cause, { method, url, timedOut }) {
  const what = timedOut ? 'timed out' : `failed: ${cause.code ?? cause.message}`;
  return new WorkflowWorldError(`${method} ${url} ${what}`, {
    code: timedOut ? 'TIMEOUT' : 'TRANSPORT',
    url,
    cause,
  });
}

/** A 2xx answer whose body is not the JSON the contract promises. */
export function parseError(cause, { method, url }) {
  return new WorkflowWorldError(`Failed to parse response body for ${method} ${url}`, {
    code: 'PARSE_ERROR',
    url,
    cause,
  });
}
