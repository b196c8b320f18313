// Binary payloads (Uint8Array with NUL bytes) through inputs, steps and outputs.

async function transform(bytes) {
  'use step';
  const padded = new Uint8Array(bytes.length + 2); // NUL at both ends
  padded.set(bytes, 1);
  return { reversed: Uint8Array.from(bytes).reverse(), padded, text: 'nul:\u0000:end' };
}

export async function binaryRoundTrip(bytes) {
  'use workflow';
  const out = await transform(bytes);
  return { input: bytes, length: bytes.length, ...out };
}
