// HTTP transport to the pg-workflow service.
//
// node:http with a keep-alive Agent rather than fetch/undici: undici defers
// reuse of an idle keep-alive socket by a setTimeout(0), ~1 ms of dead time
// on every sequential call (SPEC §13), and the runtime makes several calls
// per step on the same event loop as the user's code.
//
// Retry policy: a request is re-sent only when that is safe. A GET (or the
// idempotent DELETE) that fails with ECONNRESET/EPIPE on a *reused* socket
// is retried once — the server closed the idle connection just as we wrote
// to it, so the request never reached it. Anything that may have been
// processed (POST, PUT) is never re-sent; the runtime's queue redelivery
// handles those failures end to end.

import http from 'node:http';
import https from 'node:https';
import { createTokenSource } from './auth.js';
import { decodeJson, encodeJson } from './codec.js';
import { errorFromResponse, parseError, transportError } from './errors.js';
import { trace, traceNow, tracing } from './trace.js';

const USER_AGENT = 'pg-workflow-world/0.1';
const RETRYABLE_ON_REUSED_SOCKET = new Set(['ECONNRESET', 'EPIPE']);
const SAFE_TO_RESEND = new Set(['GET', 'HEAD', 'DELETE']);
// Free sockets are dropped after this long idle, which keeps them well under
// common server keep-alive timeouts (aiohttp: 75 s). Node also honours a
// shorter `Keep-Alive: timeout=N` hint sent by the server.
const IDLE_SOCKET_TIMEOUT_MS = 30_000;

/**
 * Encode query parameters, skipping undefined/null.
 * @param {Record<string, unknown> | undefined} params
 */
export function queryString(params) {
  if (!params) return '';
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    search.append(key, String(value));
  }
  const s = search.toString();
  return s ? `?${s}` : '';
}

/**
 * @param {object} config
 * @param {string} config.serviceUrl
 * @param {string} config.tokenFile
 * @param {number} config.requestTimeoutMs
 * @param {number} config.maxSockets
 */
export function createTransport(config) {
  const base = new URL(config.serviceUrl);
  const isHttps = base.protocol === 'https:';
  const lib = isHttps ? https : http;
  const AgentClass = isHttps ? https.Agent : http.Agent;
  const basePath = base.pathname.replace(/\/+$/, '');
  const authorization = createTokenSource({ file: config.tokenFile });

  // 'lifo' reuses the most recently used socket, so bursts do not leave a
  // long tail of sockets idling towards the server's keep-alive timeout.
  const agent = new AgentClass({
    keepAlive: true,
    maxSockets: config.maxSockets,
    scheduling: 'lifo',
    timeout: IDLE_SOCKET_TIMEOUT_MS,
  });
  // Live stream reads hold a socket until the stream closes; a separate,
  // unbounded pool keeps them from starving ordinary calls.
  const streamAgent = new AgentClass({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_SOCKET_TIMEOUT_MS });

  /** @param {Record<string, string>} [extra] */
  function buildHeaders(extra) {
    /** @type {Record<string, string>} */
    const headers = { 'user-agent': USER_AGENT, accept: 'application/json', ...extra };
    const auth = authorization();
    if (auth) headers.authorization = auth;
    return headers;
  }

  /**
   * One attempt. Resolves with the buffered answer or rejects with the raw
   * socket error (annotated with whether the socket was reused).
   */
  function sendOnce({ method, path, headers, payload, timeoutMs, signal }) {
    return new Promise((resolve, reject) => {
      const req = lib.request(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port || undefined,
          path: basePath + path,
          method,
          headers,
          agent,
          // Only the 5 line's long poll passes one: aborting destroys the socket, so the service frees the wait.
          ...(signal ? { signal } : {}),
        },
        (res) => {
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
          });
          res.on('error', reject);
          res.on('close', () => {
            if (!res.complete) reject(Object.assign(new Error('response cut short'), { code: 'ECONNRESET' }));
          });
        }
      );
      req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => {
          req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT', timedOut: true }));
        });
      }
      req.end(payload);
    });
  }

  /**
   * JSON request. Returns the decoded body (binary revived), or undefined
   * for an empty answer. Throws the runtime's error classes.
   *
   * @param {string} method
   * @param {string} path  absolute path below the service URL, query included
   * @param {object} [options]
   * @param {unknown} [options.body]  JSON body (Uint8Array values are tagged)
   * @param {Record<string, string>} [options.headers]
   * @param {import('./errors.js').NotFoundContext} [options.notFound]
   * @param {boolean} [options.idempotent]  safe to resend although not a GET
   * @param {AbortSignal} [options.signal]  abandons the call (rejects with a TRANSPORT error; never re-sent)
   */
  async function request(method, path, options) {
    if (!tracing) return untracedRequest(method, path, options);
    const start = traceNow();
    let status = 'ERR';
    try {
      const answer = await untracedRequest(method, path, options);
      status = 'OK';
      return answer;
    } catch (err) {
      status = err?.status ?? err?.code ?? 'ERR';
      throw err;
    } finally {
      trace('http', start, method, path, status, options?.body?.eventType ?? '');
    }
  }

  async function untracedRequest(method, path, { body, headers: extraHeaders, notFound, idempotent, signal } = {}) {
    const payload = body === undefined ? undefined : Buffer.from(encodeJson(body));
    const headers = buildHeaders(extraHeaders);
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.byteLength);
    }
    const url = config.serviceUrl + path;
    const attempt = { method, path, headers, payload, timeoutMs: config.requestTimeoutMs, signal };

    let answer;
    try {
      answer = await sendOnce(attempt);
    } catch (err) {
      const resend =
        (idempotent || SAFE_TO_RESEND.has(method)) && err.reusedSocket && RETRYABLE_ON_REUSED_SOCKET.has(err.code);
      if (!resend) throw transportError(err, { method, url, timedOut: err.timedOut });
      try {
        answer = await sendOnce(attempt);
      } catch (err2) {
        throw transportError(err2, { method, url, timedOut: err2.timedOut });
      }
    }

    const text = answer.body.toString('utf8');
    if (answer.status >= 200 && answer.status < 300) {
      if (text.length === 0) return undefined;
      try {
        return decodeJson(text);
      } catch (err) {
        throw parseError(err, { method, url });
      }
    }
    let errorBody;
    try {
      errorBody = text ? JSON.parse(text) : undefined;
    } catch {
      errorBody = undefined;
    }
    throw errorFromResponse(
      { status: answer.status, headers: answer.headers, body: errorBody, text },
      { method, url, notFound }
    );
  }

  /**
   * Open a streaming GET and resolve once the answer's headers arrived.
   * The body is exposed as a web ReadableStream of fresh Uint8Array copies:
   * consumers may enqueue them into byte streams, which *transfers* the
   * underlying ArrayBuffer — an HTTP parser slice shares its buffer with
   * neighbouring chunks, so it must not be handed out directly.
   *
   * @param {string} path
   * @returns {Promise<ReadableStream<Uint8Array>>}
   */
  function openStream(path) {
    const url = config.serviceUrl + path;
    const open = () =>
      new Promise((resolve, reject) => {
        const req = lib.request(
          {
            protocol: base.protocol,
            hostname: base.hostname,
            port: base.port || undefined,
            path: basePath + path,
            method: 'GET',
            headers: buildHeaders({ accept: 'application/octet-stream' }),
            agent: streamAgent,
          },
          (res) => resolve({ req, res })
        );
        req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
        req.end();
      });

    const connect = async () => {
      try {
        return await open();
      } catch (err) {
        if (err.reusedSocket && RETRYABLE_ON_REUSED_SOCKET.has(err.code)) return await open();
        throw err;
      }
    };

    return connect().then(
      ({ req, res }) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) return rejectWithBody(res, { method: 'GET', url });
        return webStreamFrom(req, res);
      },
      (err) => {
        throw transportError(err, { method: 'GET', url });
      }
    );
  }

  function close() {
    agent.destroy();
    streamAgent.destroy();
  }

  return { request, openStream, close };
}

/** Read a failed streaming answer's body and turn it into the mapped error. */
function rejectWithBody(res, { method, url }) {
  return new Promise((_resolve, reject) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('error', (err) => reject(transportError(err, { method, url })));
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      reject(errorFromResponse({ status: res.statusCode ?? 0, headers: res.headers, body, text }, { method, url }));
    });
  });
}

/**
 * Adapt a Node response to a web ReadableStream with backpressure: the
 * socket is paused while the consumer's queue is full.
 * @param {http.ClientRequest} req
 * @param {http.IncomingMessage} res
 */
function webStreamFrom(req, res) {
  let finished = false;
  return new ReadableStream(
    {
      start(controller) {
        res.on('data', (chunk) => {
          if (finished) return;
          controller.enqueue(new Uint8Array(chunk));
          if ((controller.desiredSize ?? 1) <= 0) res.pause();
        });
        res.on('end', () => {
          if (finished) return;
          finished = true;
          controller.close();
        });
        const fail = (err) => {
          if (finished) return;
          finished = true;
          controller.error(err instanceof Error ? err : new Error('stream connection closed'));
        };
        res.on('error', fail);
        // A connection cut before the final chunk must surface as an error,
        // not a clean end: the runtime then reconnects from the last index.
        res.on('close', () => {
          if (!res.complete) fail(Object.assign(new Error('stream connection closed early'), { code: 'ECONNRESET' }));
        });
      },
      pull() {
        res.resume();
      },
      cancel() {
        finished = true;
        req.destroy();
      },
    },
    { highWaterMark: 16 }
  );
}
