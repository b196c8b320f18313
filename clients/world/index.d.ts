import type { World } from '@workflow/world';

export interface WorldOptions {
  /** Base URL of the pg-workflow service. Env: WORKFLOW_SERVICE_URL, PLT_WORLD_SERVICE_URL. Required. */
  serviceUrl?: string;
  /** Application id. Env: WORKFLOW_APP_ID, PLT_WORLD_APP_ID. Default "default". */
  appId?: string;
  /** This deployment's version. Env: WORKFLOW_DEPLOYMENT_ID, PLT_WORLD_DEPLOYMENT_VERSION. Default "local". */
  deploymentId?: string;
  /**
   * This app's own base URL as the service can reach it (may include a base path).
   * start() (and loading the flow route) registers `<appUrl>/.well-known/workflow/v1/{flow,step,webhook}`.
   * Env: WORKFLOW_APP_URL, PLT_WORLD_APP_URL, WORKFLOW_LOCAL_BASE_URL, else http://localhost:$PORT.
   * Without one, queue() fails with a WorkflowWorldError (code NO_APP_URL).
   */
  appUrl?: string;
  /**
   * Registration id, used as given. Default: (WORKFLOW_POD_ID or hostname + hash of appUrl) + "-" + process id,
   * so every process has its own registration and removes only that one.
   */
  podId?: string;
  /**
   * The service-account token sent to pg-workflow as `Authorization: Bearer …` (when the file exists), projected
   * for the service's audience (WF_TOKEN_AUDIENCE) and re-read when the kubelet rotates it.
   * Env: WORKFLOW_SERVICE_TOKEN_FILE. Default /var/run/secrets/pg-workflow/token.
   */
  tokenFile?: string;
  /** A directory whose `token` is sent when no tokenFile is named. Env: K8S_SERVICE_ACCOUNT_DIR. */
  serviceAccountDir?: string;
  /** Idle deadline of one request, in ms (default 60000; 0 disables). Live stream reads have none. */
  requestTimeoutMs?: number;
  /** Keep-alive pool size towards the service (default 64). */
  maxSockets?: number;
  /** Override the runtime's stream write batching interval (ms). */
  streamFlushIntervalMs?: number;
  /** Register handlers as soon as the runtime builds its queue handlers (default true). */
  autoStart?: boolean;
  /**
   * Send the message the runtime queues right after step_created / step_completed / step_failed with that event
   * (the service queues it in the event's transaction) and answer the runtime's queue() from it: one request fewer
   * per event. Env: PGW_WORLD_EVENT_MESSAGES=0 turns it off. Default true.
   */
  eventMessages?: boolean;
  /**
   * Register the feature "run-started": workflow deliveries of a running run carry the service's answer to the
   * runtime's run_started, which is then answered without a request. Env: PGW_WORLD_RUN_SNAPSHOTS=0 turns it off.
   * Default true.
   */
  runSnapshots?: boolean;
  /**
   * Implement getEncryptionKeyForRun: runs of an app that has an encryption secret (admin API
   * POST /api/v1/apps/:appId/encryption-secret) are encrypted by the runtime with the key the service derives.
   * Env: PGW_WORLD_ENCRYPTION=0 turns it off. Default true.
   */
  encryption?: boolean;
  /**
   * DevKit 5 line only: offer events.createBatch (POST /runs/:runId/event-batches).
   * Env: PGW_WORLD_EVENT_BATCHES=0 turns it off. Default true.
   */
  eventBatches?: boolean;
  /**
   * DevKit 5 line only: offer queueBatch (POST /queue-batches: a fan-out's step messages in one request and one
   * transaction). Env: PGW_WORLD_QUEUE_BATCHES=0 turns it off. Default true.
   */
  queueBatches?: boolean;
  /**
   * DevKit 5 line only: offer streams.createWriteSession (each flushed group one PUT naming its writer and
   * sequence, stored once by the service, so it may be resent). Env: PGW_WORLD_WRITE_SESSIONS=0 turns it off.
   * Default true.
   */
  writeSessions?: boolean;
   * DevKit 5 line only: pass core's event-delta write options (sinceCursor, skipPreload, preloadEvents) to the
   * service. Env: PGW_WORLD_EVENT_DELTAS=0 leaves them out (core then reads the log itself). Default true.
   */
  eventDeltas?: boolean;
  /**
   * The DevKit line to serve: 4 (workflow 4.8.x, @workflow/world 4.5, spec 3) or 5 (workflow 5.x, spec 6/7).
   * Env: PGW_WORLD_LINE. Default: the major version of the @workflow/core (else `workflow`) package installed
   * where `cwd` resolves packages, else 4.
   */
  line?: 4 | 5;
  /** Where to look for the app's @workflow/core when no line is given (default process.cwd()). */
  cwd?: string;
  /** Environment to read instead of process.env. */
  env?: Record<string, string | undefined>;
}

export interface ResolvedConfig {
  /** The DevKit line served, and what decided it ("line option", "PGW_WORLD_LINE", "@workflow/core 5.0.0-beta.55", …). */
  readonly line: 4 | 5;
  readonly lineSource: string;
  readonly serviceUrl: string;
  readonly appId: string;
  readonly appBasePath: string;
  readonly deploymentId: string;
  /** Where the service reaches this app, as known by now (resolved when first needed, then kept). */
  readonly appUrl?: string;
  /** Which setting gave appUrl: "appUrl option", "WORKFLOW_APP_URL", "PLT_WORLD_APP_URL", "WORKFLOW_LOCAL_BASE_URL" or "PORT". */
  readonly appUrlSource?: string;
  readonly podId?: string;
  /** The token file sent as the bearer token when it exists. */
  readonly tokenFile: string;
  readonly requestTimeoutMs: number;
  readonly maxSockets: number;
  readonly streamFlushIntervalMs?: number;
  readonly autoStart: boolean;
  readonly eventMessages: boolean;
  readonly runSnapshots: boolean;
  readonly encryption: boolean;
  readonly eventBatches: boolean;
  readonly queueBatches: boolean;
  readonly writeSessions: boolean;
  readonly eventDeltas: boolean;
}

export type PgWorkflowWorld = World &
  Required<Pick<World, 'start' | 'close' | 'writeToStreamMulti'>> & {
    readonly specVersion: 3;
    readonly config: ResolvedConfig;
    readonly closed: boolean;
  };

/** Page options of the DevKit 5 lists. */
export interface PaginationPgw5 {
  limit?: number;
  cursor?: string;
  sortOrder?: 'asc' | 'desc';
}

/** The observability window a 5.x list page reports (pageInfo). */
export interface PageInfoPgw5 {
  currentLookbackDays: number;
  maxLookbackDays: number;
  currentWindowStart: Date;
  maxWindowStart: Date;
  upgradeAvailable: boolean;
}

/** A DevKit 5 list page. */
export interface PagePgw5<T> {
  data: T[];
  cursor: string | null;
  hasMore: boolean;
  pageInfo?: PageInfoPgw5;
}

/** runs.cancelMany's answer (@workflow/world 5 BulkCancelWorkflowRunsResult). */
export interface BulkCancelResult5 {
  summary: {
    requested: number;
    cancelled: number;
    alreadyCancelled: number;
    notCancellable: number;
    notFound: number;
    failed: number;
  };
  results: (
    | { runId: string; outcome: 'cancelled' | 'already_cancelled' | 'not_found' }
    | { runId: string; outcome: 'not_cancellable'; status: string }
    | { runId: string; outcome: 'failed'; code: string; retryable: boolean }
  )[];
}

/**
 * The World of the DevKit 5 line (@workflow/world 5.x). Typed structurally: this package builds against
 * @workflow/world 4.5, so the 5.x interface types are not available here.
 */
export interface PgWorkflowWorld5 {
  readonly specVersion: 6 | 7;
  readonly capabilities: { hookRetention: { active: true } };
  readonly runs: {
    get(runId: string, params?: { resolveData?: 'none' | 'all' }): Promise<any>;
    /** With pageInfo; status may be a list (none: an empty page without a request). */
    list(params?: any): Promise<PagePgw5<any>>;
    /** POST /run-batches/get (per 1000 ids): the runs in the order asked, null for ids the app has no run for. */
    getMany(runIds: readonly string[], params?: { resolveData?: 'none' | 'all' }): Promise<(any | null)[]>;
    /** POST /run-batches/cancel: 1–500 distinct ids; an outcome each, in order, and a summary. */
    cancelMany(request: { runIds: readonly string[]; cancelReason?: string }): Promise<BulkCancelResult5>;
    /**
     * GET /runs/:runId/terminal-status, repeated until the run is completed, failed or cancelled, or timeoutMs
     * (default: one wait, requestTimeoutMs less 10 s) has passed: then the latest snapshot, whatever its status.
     * 429 is waited out (Retry-After) within timeoutMs; an aborted signal rejects with its reason.
     */
    waitForTerminalStatus(
      runId: string,
      params?: { resolveData?: 'none' | 'all'; timeoutMs?: number; signal?: AbortSignal }
    ): Promise<any>;
  };
  readonly steps: { get(...args: any[]): Promise<any>; list(...args: any[]): Promise<any> };
  /** The analytics read namespace (GET /analytics/…): metadata rows, no payloads; times as Dates. */
  readonly analytics: {
    runs: {
      get(runId: string): Promise<any>;
      list(params?: {
        workflowName?: string;
        status?: string;
        startTime?: string;
        endTime?: string;
        attributes?: Record<string, string>;
        pagination?: PaginationPgw5;
      }): Promise<PagePgw5<any>>;
    };
    attributes: {
      list(params?: { workflowName?: string; startTime?: string; endTime?: string; pagination?: PaginationPgw5 }): Promise<
        PagePgw5<{ key: string; runCount: number; firstSeenAt: Date; lastSeenAt: Date }>
      >;
    };
    steps: {
      get(runId: string, stepId: string): Promise<any>;
      list(params: { runId: string; pagination?: PaginationPgw5 }): Promise<PagePgw5<any>>;
    };
    events: {
      get(runId: string, eventId: string): Promise<any>;
      /** The rows present among ≤ 100 ids (each asked once), in no particular order. */
      getMany(runId: string, eventIds: readonly string[]): Promise<any[]>;
      list(params: { runId: string; eventType?: string; correlationId?: string; pagination?: PaginationPgw5 }): Promise<PagePgw5<any>>;
      /** @deprecated in @workflow/world 5: list({runId, correlationId}) */
      listByCorrelationId(params: { runId: string; correlationId: string; pagination?: PaginationPgw5 }): Promise<PagePgw5<any>>;
    };
    hooks: {
      get(hookId: string, params?: { runId?: string }): Promise<any>;
      list(params: { runId: string; pagination?: PaginationPgw5 }): Promise<PagePgw5<any>>;
    };
    waits: {
      get(runId: string, waitId: string): Promise<any>;
      list(params: { runId: string; status?: 'waiting' | 'completed'; pagination?: PaginationPgw5 }): Promise<PagePgw5<any>>;
    };
  };
  readonly events: {
    create(runId: string | null, data: any, params?: any): Promise<any>;
    createBatch?(runId: string, events: any[], params?: any): Promise<{ results: any[] }>;
    get(...args: any[]): Promise<any>;
    list(...args: any[]): Promise<any>;
    listByCorrelationId(...args: any[]): Promise<any>;
  };
  readonly hooks: { get(...args: any[]): Promise<any>; getByToken(...args: any[]): Promise<any>; list(...args: any[]): Promise<any> };
  readonly streams: {
    /** DevKit 5 line (unless writeSessions is off). */
    createWriteSession?(
      runId: string,
      name: string,
      options: { writerId: `wrtr_${string}` }
    ): {
      write(chunkSeq: number, chunks: (string | Uint8Array)[]): Promise<void>;
      close(): Promise<void>;
      dispose(): void;
    };
    write(runId: string, name: string, chunk: string | Uint8Array): Promise<void>;
    writeMulti(runId: string, name: string, chunks: (string | Uint8Array)[]): Promise<void>;
    close(runId: string, name: string): Promise<void>;
    get(runId: string, name: string, startIndex?: number): Promise<ReadableStream<Uint8Array>>;
    list(runId: string): Promise<string[]>;
    getChunks(runId: string, name: string, options?: { limit?: number; cursor?: string }): Promise<any>;
    getInfo(runId: string, name: string): Promise<{ tailIndex: number; done: boolean }>;
  };
  readonly streamFlushIntervalMs?: number;
  getDeploymentId(): Promise<string>;
  queue(queueName: string, message: unknown, opts?: any): Promise<{ messageId: string | null }>;
  /** DevKit 5 line (unless queueBatches is off): one POST /queue-batches, results in input order. */
  queueBatch?(
    queueName: string,
    messages: readonly { message: unknown; opts?: any }[]
  ): Promise<({ messageId: string | null; error?: undefined } | { messageId: null; error: string; retryable: boolean })[]>;
  createQueueHandler(prefix: string, handler: (message: unknown, meta: any) => Promise<unknown>): (req: Request) => Promise<Response>;
  getEncryptionKeyForRun?(runOrId: string | { runId: string }, context?: Record<string, unknown>): Promise<Uint8Array | undefined>;
  start(): Promise<void>;
  close(): Promise<void>;
  readonly config: ResolvedConfig;
  readonly closed: boolean;
}

/** Spec version of the DevKit 4 line (the DevKit 5 line declares 7, or 6 with WORKFLOW_SEALED_LOG=0). */
export declare const SPEC_VERSION: 3;
/**
 * A new World; without options, configured from the environment (and on the DevKit 5 line, which core 5 loads
 * through createWorld(), the process's shared World, as the default export gives).
 */
export declare function createWorld(options?: WorldOptions): PgWorkflowWorld | PgWorkflowWorld5;
/** The runtime's entry point: without options, one shared World per process (until it is closed). */
export default function createWorldFromEnv(options?: WorldOptions): PgWorkflowWorld | PgWorkflowWorld5;
