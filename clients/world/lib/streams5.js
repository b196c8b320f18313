// The DevKit 5 streams namespace: world.streams.{write, writeMulti, close,
// get, list, getChunks, getInfo}, every method addressed (runId, name).
//
// Same HTTP routes as the 4.x Streamer (SPEC §7), whose methods took
// (name, runId): writes and the snapshot reads go through the run
// (/runs/:runId/streams/:name), the live read by name (/streams/:name — a
// stream name is unique in its app: the runtime derives it from the run id,
// or from the correlation id of a health check). The optional
// createWriteSession is left out: the runtime then uses write/writeMulti/close.

import { createStreamer } from './streamer.js';

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {string} appBasePath
 */
export function createStreams5(transport, appBasePath) {
  const legacy = createStreamer(transport, appBasePath);
  return {
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
