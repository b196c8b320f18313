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
  /** Environment to read instead of process.env. */
  env?: Record<string, string | undefined>;
}

export interface ResolvedConfig {
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
}

export type PgWorkflowWorld = World &
  Required<Pick<World, 'start' | 'close' | 'writeToStreamMulti'>> & {
    readonly specVersion: 3;
    readonly config: ResolvedConfig;
    readonly closed: boolean;
  };

export declare const SPEC_VERSION: 3;
/** A new World; without options, configured from the environment. */
export declare function createWorld(options?: WorldOptions): PgWorkflowWorld;
/** The runtime's entry point: without options, one shared World per process (until it is closed). */
export default function createWorldFromEnv(options?: WorldOptions): PgWorkflowWorld;
