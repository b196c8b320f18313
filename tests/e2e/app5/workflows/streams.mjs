// getWritable(): values written by a step are read back, in order, by a client.
import { getWritable } from 'workflow';

async function emit(n) {
  'use step';
  const writer = getWritable().getWriter();
  for (let i = 0; i < n; i++) await writer.write({ i, text: `chunk-${i}` });
  await writer.close();
  return n;
}

export async function streamValues(n) {
  'use workflow';
  const written = await emit(n);
  return { written };
}
