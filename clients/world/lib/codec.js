// JSON wire format of the pg-workflow HTTP API (SPEC §3).
//
// Binary values (the runtime's SerializedData, stream chunks) travel as
// {"__type":"Uint8Array","data":"<base64>"} wherever they appear, and times
// travel as ISO-8601 strings. This module converts in both directions.

const BINARY_TAG = 'Uint8Array';

/** @param {unknown} value */
function isTaggedBinary(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    /** @type {any} */ (value).__type === BINARY_TAG &&
    typeof (/** @type {any} */ (value).data) === 'string'
  );
}

/** @param {Uint8Array} bytes */
export function tagBinary(bytes) {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { __type: BINARY_TAG, data: buf.toString('base64') };
}

/**
 * JSON.stringify replacer. Reads `this[key]` (the raw value) rather than
 * `value`, because Buffer.prototype.toJSON runs before the replacer and
 * would otherwise turn a Buffer into {type:'Buffer',data:[...]}.
 * @this {any}
 * @param {string} key
 * @param {unknown} value
 */
function replacer(key, value) {
  const raw = this[key];
  if (raw instanceof Uint8Array) return tagBinary(raw);
  return value;
}

/**
 * Replace tagged binaries in place, at any depth. A walk after a plain
 * JSON.parse costs a fraction of a JSON.parse reviver, which is invoked for
 * every value (a replayed event log is decoded on every workflow step).
 * @param {any} value  a parsed object or array
 */
function reviveBinaries(value) {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (v !== null && typeof v === 'object') value[i] = reviveBinaries(v);
    }
    return value;
  }
  if (isTaggedBinary(value)) {
    // Copy out of Buffer's shared pool: consumers may transfer the ArrayBuffer.
    return new Uint8Array(Buffer.from(value.data, 'base64'));
  }
  for (const key in value) {
    const v = value[key];
    if (v !== null && typeof v === 'object') value[key] = reviveBinaries(v);
  }
  return value;
}

/** Serialise a request body, tagging every Uint8Array. */
export function encodeJson(value) {
  return JSON.stringify(value, replacer);
}

/** Parse a response body, turning every tagged binary back into a Uint8Array. */
export function decodeJson(text) {
  const value = JSON.parse(text);
  return value !== null && typeof value === 'object' ? reviveBinaries(value) : value;
}

// ---------------------------------------------------------------------------
// Dates. Converted by position rather than by a key-matching reviver so that
// user data (legacy JSON payloads) that happens to contain a "createdAt"
// string is never touched.

const ENTITY_DATE_FIELDS = [
  'createdAt',
  'updatedAt',
  'startedAt',
  'completedAt',
  'expiredAt',
  'retryAfter',
  'resumeAt',
  'occurredAt',
];
// Event payload fields the runtime reads as Date (wait_created.resumeAt is
// compared with Date.now() during replay; step_retrying carries retryAfter).
const EVENT_DATA_DATE_FIELDS = ['resumeAt', 'retryAfter'];

/** @param {any} obj @param {string[]} fields */
function reviveDates(obj, fields) {
  for (const field of fields) {
    const v = obj[field];
    if (typeof v === 'string' || typeof v === 'number') obj[field] = new Date(v);
  }
  return obj;
}

/** Run / Step / Hook / Wait entity from the wire, in place. */
export function reviveEntity(entity) {
  if (entity && typeof entity === 'object') reviveDates(entity, ENTITY_DATE_FIELDS);
  return entity;
}

/** Event from the wire, in place. */
export function reviveEvent(event) {
  if (!event || typeof event !== 'object') return event;
  reviveDates(event, ENTITY_DATE_FIELDS);
  if (event.eventData && typeof event.eventData === 'object') {
    reviveDates(event.eventData, EVENT_DATA_DATE_FIELDS);
  }
  return event;
}

/**
 * Paginated list from the wire: {data, cursor, hasMore}. Missing
 * cursor/hasMore are normalised so the runtime's pagination checks hold.
 * @param {any} page
 * @param {(item: any) => any} reviveItem
 */
export function revivePage(page, reviveItem) {
  const data = Array.isArray(page?.data) ? page.data.map(reviveItem) : [];
  return {
    ...page,
    data,
    cursor: page?.cursor ?? null,
    hasMore: page?.hasMore === true,
  };
}

/** Stream chunk payload: the service answers binary, a string is tolerated. */
export function toBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return new TextEncoder().encode(value);
  throw new TypeError(`expected binary stream chunk, got ${typeof value}`);
}
