// Streamer half of the World over SPEC §7.
//
// Writes address the stream through its run (the service checks the run,
// except for the runtime's `__health_check__*` streams); reads address it by
// name only, matching the interface's readFromStream(name, startIndex).

import { toBytes } from './codec.js';
import { queryString } from './http.js';

const seg = encodeURIComponent;

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {string} appBasePath
 */
export function createStreamer(transport, appBasePath) {
  const { request, openStream } = transport;
  const streamPath = (runId, name) => `${appBasePath}/runs/${seg(runId)}/streams/${seg(name)}`;

  return {
    /** @param {string} name @param {string} runId @param {string | Uint8Array} chunk */
    async writeToStream(name, runId, chunk) {
      await request('PUT', streamPath(runId, name), { body: { data: chunk } });
    },

    /** One request for a batch; the service allocates the indexes atomically. */
    async writeToStreamMulti(name, runId, chunks) {
      if (chunks.length === 0) return;
      await request('PUT', streamPath(runId, name), { body: chunks, headers: { 'x-stream-multi': 'true' } });
    },

    // Closing twice is harmless (later closes change nothing), so a close
    // may be resent after a stale keep-alive socket reset.
    async closeStream(name, runId) {
      await request('PUT', streamPath(runId, name), {
        body: {},
        headers: { 'x-stream-done': 'true' },
        idempotent: true,
      });
    },

    /**
     * Raw bytes of the chunks from startIndex (negative: from the end), then
     * live-tailing until the stream is closed.
     */
    async readFromStream(name, startIndex) {
      return openStream(`${appBasePath}/streams/${seg(name)}${queryString({ startIndex })}`);
    },

    async listStreamsByRunId(runId) {
      const answer = await request('GET', `${appBasePath}/runs/${seg(runId)}/streams`);
      // The service answers a bare array; tolerate a {data:[...]} page too.
      return Array.isArray(answer) ? answer : (answer?.data ?? []);
    },

    async getStreamChunks(name, runId, options) {
      const query = queryString({ limit: options?.limit, cursor: options?.cursor });
      const page = await request('GET', `${streamPath(runId, name)}/chunks${query}`);
      return {
        data: (page?.data ?? []).map((c) => ({ index: Number(c.index), data: toBytes(c.data) })),
        cursor: page?.cursor ?? null,
        hasMore: page?.hasMore === true,
        done: page?.done === true,
      };
    },

    async getStreamInfo(name, runId) {
      const info = await request('GET', `${streamPath(runId, name)}/info`);
      return { tailIndex: Number(info?.tailIndex ?? -1), done: info?.done === true };
    },
  };
}
