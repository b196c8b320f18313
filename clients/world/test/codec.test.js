import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJson, encodeJson, reviveEntity, reviveEvent, revivePage, toBytes } from '../lib/codec.js';

test('Uint8Array values are tagged wherever they appear, NUL bytes included', () => {
  const bytes = new Uint8Array([0, 1, 0, 255, 0]);
  const text = encodeJson({ a: bytes, list: [Buffer.from([0, 0])], nested: { deep: [{ b: bytes }] }, n: 1 });
  const wire = JSON.parse(text);
  assert.deepEqual(wire.a, { __type: 'Uint8Array', data: 'AAEA/wA=' });
  assert.deepEqual(wire.list[0], { __type: 'Uint8Array', data: 'AAA=' }, 'a Buffer is tagged, not toJSON-ed');
  assert.deepEqual(wire.nested.deep[0].b, wire.a);
  const back = decodeJson(text);
  assert.ok(back.a instanceof Uint8Array);
  assert.deepEqual([...back.a], [0, 1, 0, 255, 0]);
  assert.deepEqual([...back.nested.deep[0].b], [0, 1, 0, 255, 0]);
  assert.equal(back.n, 1);
});

test('a view into a larger buffer encodes only its own bytes', () => {
  const big = new Uint8Array([9, 9, 1, 2, 3, 9]);
  const view = big.subarray(2, 5);
  assert.equal(JSON.parse(encodeJson(view)).data, Buffer.from([1, 2, 3]).toString('base64'));
});

test('entity and event dates become Date objects, user data is left alone', () => {
  const run = reviveEntity({ createdAt: '2024-01-02T03:04:05.678Z', startedAt: '2024-01-02T03:04:06.000Z', input: { createdAt: 'x' } });
  assert.ok(run.createdAt instanceof Date);
  assert.equal(run.createdAt.toISOString(), '2024-01-02T03:04:05.678Z');
  assert.ok(run.startedAt instanceof Date);
  assert.equal(run.completedAt, undefined);
  assert.equal(run.input.createdAt, 'x');

  const ev = reviveEvent({ eventType: 'wait_created', createdAt: '2024-01-01T00:00:00.000Z', eventData: { resumeAt: '2024-01-01T00:00:02.000Z' } });
  assert.ok(ev.createdAt instanceof Date);
  assert.equal(ev.eventData.resumeAt.getTime(), Date.parse('2024-01-01T00:00:02.000Z'));
});

test('pages are normalised', () => {
  const page = revivePage({ data: [{ createdAt: '2024-01-01T00:00:00.000Z' }] }, reviveEntity);
  assert.equal(page.cursor, null);
  assert.equal(page.hasMore, false);
  assert.ok(page.data[0].createdAt instanceof Date);
});

test('stream chunk payloads become bytes', () => {
  assert.deepEqual([...toBytes('hi')], [104, 105]);
  const b = new Uint8Array([1]);
  assert.equal(toBytes(b), b);
  assert.throws(() => toBytes(3));
});
