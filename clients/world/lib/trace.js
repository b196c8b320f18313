// Debug aid, off by default. PGW_WORLD_TRACE=1 writes one line to stderr per
// service call and per queue delivery handled (start as epoch ms, duration ms):
//   [pgw-trace] http <start> <ms> <METHOD> <path> <status> [<eventType>]
//   [pgw-trace] queued <start> <ms> <queueName> <messageId>
//   [pgw-trace] deliver <start> <ms> <queueName> <messageId> <attempt> <status>
//   [pgw-trace] snapshot <start> 0 run_started <runId>   (answered from the delivery)

import { performance } from 'node:perf_hooks';

export const tracing = /^(1|true|yes|on)$/i.test(process.env.PGW_WORLD_TRACE ?? '');

export const traceNow = () => performance.timeOrigin + performance.now();

/** @param {string} kind @param {number} start from traceNow() @param {...unknown} fields */
export function trace(kind, start, ...fields) {
  const line = `[pgw-trace] ${kind} ${start.toFixed(3)} ${(traceNow() - start).toFixed(3)} ${fields.join(' ')}\n`;
  process.stderr.write(line);
}
