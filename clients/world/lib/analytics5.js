// The `analytics` namespace of the DevKit 5 line (@workflow/world 5.x
// src/analytics.ts): metadata-only rows for inspection tools (`workflow
// inspect`, the web UI), which prefer it to runs.list. Every member the
// interface declares has a service route under /analytics (read from the
// workflow_analytics views); the service applies the bounds (cross-run pages
// <= 100, a run's pages <= 1000, getMany <= 100 ids, <= 8 attribute filters)
// and answers 400 naming the one exceeded.
//
// Conversions, as the interface's schemas coerce: times become Dates (a
// time without a zone is read as UTC, as UTCDateSchema does), a run's
// attributes default to {}, pageInfo's window starts become Dates.

import { queryString } from './http.js';

const seg = encodeURIComponent;

const DATE_FIELDS = [
  'createdAt',
  'updatedAt',
  'startedAt',
  'completedAt',
  'retryAfter',
  'resumeAt',
  'runCreatedAt',
  'receivedAt',
  'disposedAt',
  'firstSeenAt',
  'lastSeenAt',
];
const PAGE_INFO_DATES = ['currentWindowStart', 'maxWindowStart'];
// ClickHouse-style "2026-07-13 17:09:11.593": UTC by convention, no designator.
const NAIVE_DATETIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?$/;

/** A wire time as a Date; null and absent stay as they are. */
export function analyticsDate(value) {
  if (typeof value === 'string') return new Date(NAIVE_DATETIME.test(value) ? `${value.replace(' ', 'T')}Z` : value);
  if (typeof value === 'number') return new Date(value);
  return value;
}

/** @param {any} obj @param {string[]} fields */
function reviveDates(obj, fields) {
  for (const field of fields) if (field in obj) obj[field] = analyticsDate(obj[field]);
  return obj;
}

/** One analytics row from the wire, in place. */
export function reviveRow(row) {
  if (row && typeof row === 'object') reviveDates(row, DATE_FIELDS);
  return row;
}

/** A page's pageInfo (also on runs.list pages of the 5 line), in place. */
export function revivePageInfo(page) {
  if (page?.pageInfo && typeof page.pageInfo === 'object') reviveDates(page.pageInfo, PAGE_INFO_DATES);
  return page;
}

/** @param {any} run */
function reviveRun(run) {
  reviveRow(run);
  if (run && typeof run === 'object' && (run.attributes === undefined || run.attributes === null)) run.attributes = {};
  return run;
}

/** A page {data, cursor, hasMore, pageInfo?} from the wire. */
function page(answer, revive = reviveRow) {
  return revivePageInfo({
    ...answer,
    data: Array.isArray(answer?.data) ? answer.data.map(revive) : [],
    cursor: answer?.cursor ?? null,
    hasMore: answer?.hasMore === true,
  });
}

/** @param {{ limit?: number, cursor?: string, sortOrder?: string } | undefined} pagination */
function pageQuery(pagination) {
  return { limit: pagination?.limit, cursor: pagination?.cursor, sortOrder: pagination?.sortOrder };
}

/**
 * @param {ReturnType<typeof import('./http.js').createTransport>} transport
 * @param {string} appBasePath
 */
export function createAnalytics5(transport, appBasePath) {
  const { request } = transport;
  const get = (/** @type {string} */ path, /** @type {any} */ notFound) =>
    request('GET', `${appBasePath}/analytics${path}`, notFound ? { notFound } : undefined);
  const run = (/** @type {string} */ runId) => `/runs/${seg(runId)}`;

  /** events.list and the deprecated listByCorrelationId: the same route. */
  const listEvents = async (params) =>
    page(
      await get(
        `${run(params.runId)}/events${queryString({
          eventType: params.eventType,
          correlationId: params.correlationId,
          ...pageQuery(params.pagination),
        })}`
      )
    );

  return {
    runs: {
      /** @param {string} runId */
      get: async (runId) => reviveRun(await get(run(runId), { kind: 'run', runId })),
      async list(params) {
        const attributes = params?.attributes;
        const query = queryString({
          workflowName: params?.workflowName,
          status: params?.status,
          startTime: params?.startTime,
          endTime: params?.endTime,
          // A JSON object in one parameter: keys and values are free text.
          attributes: attributes && Object.keys(attributes).length > 0 ? JSON.stringify(attributes) : undefined,
          ...pageQuery(params?.pagination),
        });
        return page(await get(`/runs${query}`), reviveRun);
      },
    },
    attributes: {
      async list(params) {
        const query = queryString({
          workflowName: params?.workflowName,
          startTime: params?.startTime,
          endTime: params?.endTime,
          ...pageQuery(params?.pagination),
        });
        return page(await get(`/attributes${query}`));
      },
    },
    steps: {
      get: async (runId, stepId) => reviveRow(await get(`${run(runId)}/steps/${seg(stepId)}`)),
      list: async (params) => page(await get(`${run(params.runId)}/steps${queryString(pageQuery(params.pagination))}`)),
    },
    events: {
      get: async (runId, eventId) => reviveRow(await get(`${run(runId)}/events/${seg(eventId)}`)),
      /**
       * The rows present among the ids (each once, missing ones left out, any order). No request for none.
       * @param {string} runId
       * @param {readonly string[]} eventIds
       */
      async getMany(runId, eventIds) {
        const ids = [...new Set(eventIds)];
        if (ids.length === 0) return [];
        const answer = await request('POST', `${appBasePath}/analytics${run(runId)}/event-batches/get`, {
          body: { eventIds: ids },
          idempotent: true, // a read
        });
        return (Array.isArray(answer?.data) ? answer.data : []).map(reviveRow);
      },
      list: listEvents,
      /** @deprecated in the interface: list({runId, correlationId}) */
      listByCorrelationId: listEvents,
    },
    hooks: {
      get: async (hookId, params) =>
        reviveRow(await get(`/hooks/${seg(hookId)}${queryString({ runId: params?.runId })}`)),
      list: async (params) => page(await get(`${run(params.runId)}/hooks${queryString(pageQuery(params.pagination))}`)),
    },
    waits: {
      get: async (runId, waitId) => reviveRow(await get(`${run(runId)}/waits/${seg(waitId)}`)),
      list: async (params) =>
        page(
          await get(`${run(params.runId)}/waits${queryString({ status: params.status, ...pageQuery(params.pagination) })}`)
        ),
    },
  };
}
