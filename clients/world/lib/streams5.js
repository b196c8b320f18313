// The DevKit 5 streams namespace: world.streams.{write, writeMulti, close,
// get, list, getChunks, getInfo}, every method addressed (runId, name).
//
// Same HTTP routes as the 4.x Streamer (SPEC §7), whose methods took
// (name, runId): writes and the snapshot reads go through the run
// (/runs/:runId/streams/:name), the live read by name (/streams/:name — a
// stream name is unique in its app: the runtime derives it from the run id,
// or from the correlation id of a health check).
//
// createWriteSession (optional in the interface; core 5 opens one per
// in-memory WritableStream when a World offers it): each group the runtime
// flushes is one PUT of all its chunks, sent with the session's writer id and
// the writer-local sequence of its first chunk (x-stream-writer,
// x-stream-writer-seq). The service stores a writer's chunk only once
// (workflow.write_stream_session), so unlike write/writeMulti a session write
// is safe to resend: it is re-sent, like a close, when the server closed a
// kept-alive socket just as the request went out, instead of failing the
// stream. The session holds nothing of its own (requests use the World's
// connection pool), so dispose has nothing to release.

import { createStreamer } from './streamer.js';

const seg = encodeURIComponent;
// What the service accepts as a writer id: a writer id of another shape is
// written without the session's resend safety (plain multi writes).
const WRITER_ID = /^wrtr_[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {string} appBasePath
 */
export function createStreams5(transport, appBasePath, { writeSessions = true } = {}) {
  const legacy = createStreamer(transport, appBasePath);
  return {
    ...(writeSessions
      ? {
          /** @param {string} runId @param {string} name @param {{ writerId: string }} options */
          createWriteSession: (runId, name, options) => writeSession(transport, appBasePath, legacy, runId, name, options),
        }
      : {}),
    /** @param {string} runId @param {string} name @param {string | Uint8Array} chunk */
    write: (runId, name, chunk) => legacy.writeToStream(name, runId, chunk),
    /** @param {string} runId @param {string} name @param {(string | Uint8Array)[]} chunks */
    writeMulti: (runId, name, chunks) => legacy.writeToStreamMulti(name, runId, chunks),
    /** @param {string} runId @param {string} name */
    close: (runId, name) => legacy.closeStream(name, runId),
    /**
     * Raw bytes from startIndex (negative: from the end), then live until the stream is closed.
     * @param {string} _runId  (the service reads a stream by its name, unique in the app)
     * @param {string} name @param {number} [startIndex]
     */
    get: (_runId, name, startIndex) => legacy.readFromStream(name, startIndex),
    /** @param {string} runId */
    list: (runId) => legacy.listStreamsByRunId(runId),
    /** @param {string} runId @param {string} name @param {{ limit?: number, cursor?: string }} [options] */
    getChunks: (runId, name, options) => legacy.getStreamChunks(name, runId, options),
    /** @param {string} runId @param {string} name */
    getInfo: (runId, name) => legacy.getStreamInfo(name, runId),
  };
}

/**
 * One writer lifetime of core 5's WritableStream: groups in order (core sends
 * the next only after the previous resolved), then close.
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {string} appBasePath
 * @param {ReturnType<typeof createStreamer>} legacy
 * @param {string} runId @param {string} name @param {{ writerId: string }} options
 */
function writeSession(transport, appBasePath, legacy, runId, name, { writerId }) {
  const path = `${appBasePath}/runs/${seg(runId)}/streams/${seg(name)}`;
  const tracked = typeof writerId === 'string' && WRITER_ID.test(writerId);
  return {
    /** @param {number} chunkSeq writer-local sequence of chunks[0] @param {(string | Uint8Array)[]} chunks */
    async write(chunkSeq, chunks) {
      if (chunks.length === 0) return;
      if (!tracked || !Number.isSafeInteger(chunkSeq) || chunkSeq < 0) {
        await legacy.writeToStreamMulti(name, runId, chunks);
        return;
      }
      await transport.request('PUT', path, {
        body: chunks,
        headers: { 'x-stream-multi': 'true', 'x-stream-writer': writerId, 'x-stream-writer-seq': String(chunkSeq) },
        idempotent: true,
      });
    },
    close: () => legacy.closeStream(name, runId),
    dispose() {},
  };
}
