import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../lambdas/config/schema.js';
import { TABLES, type TableNames } from '../protocol/tables.js';
import { CLEANUP, FANOUT_WORKER, WELCOME } from '../protocol/routes.js';
import { handleManagementRequest, MANAGEMENT_PATH } from './apigateway/management-api.js';
import { apiId } from './apigateway/identifiers.js';
import { API_GATEWAY_WEBSOCKET_LIMITS, WebSocketEndpoint, type Notice, type WebSocketLimits } from './apigateway/websocket-endpoint.js';
import { LOCAL_REGION, serverApiCredentials, useLocalAwsIdentity, type LocalServerApiCredentials } from './aws-identity.js';
import { handleServerApiRequest, SERVER_API_PATH, SERVER_API_PREFIX } from './apigateway/server-api-endpoint.js';
import { SigV4Verifier } from './apigateway/sigv4-verifier.js';
import { PROJECT_ROOT } from './project-root.js';
import { RequestTooLargeError, sendJson } from './http-messages.js';
import { MskEventBuilder } from './kafka/msk-event.js';
import { MAPPING_ERROR_HANDLING } from './kafka/event-source-mapping.js';
import { PARKED_MAPPING_ID, parkedObjectKey, readParkedRecords, type ParkedObject } from './kafka/parked-records.js';
import { handleProducerRequest, PartitionLanes, PRODUCER_PATH } from './kafka/producer-endpoint.js';
import { LocalFunctions, type InvocationLogEntry, type LambdaHandler } from './lambda/functions.js';
import { HANDLER_SOURCE_FOLDERS, SourceWatcher } from './lambda/source-watcher.js';
import { handleInvokeRequest, INVOKE_PATH, type DeadLetter } from './lambda/invoke-api.js';
import { scheduledEvent } from './scheduled-event.js';
import { PageRoutes, PAGE_ROUTES } from './page/page-routes.js';
import { handleQueueRequest, isQueueRequest, localQueueUrl, type QueuedMessage } from './sqs/queue-api.js';

export interface LocalRuntimeOptions {
  /** @default 0 - a free port */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** The parsed Config.toml; its `notification_service` section reaches the handlers as SERVICE_CONFIG. */
  readonly config: Config;
  /** DynamoDB (Local) the handlers use. */
  readonly dynamodbEndpoint: string;
  /** Physical names of the tables, already created. */
  readonly tables: TableNames;
  /** HS256 secret the authorizer verifies tokens with. */
  readonly jwtSecret: string;
  /** @default API Gateway's: 600 s idle, 2 h per connection, 128 KB per message */
  readonly limits?: Partial<WebSocketLimits>;
  /** How often the cleanup function runs. @default 60_000; 0 disables it */
  readonly cleanupIntervalMs?: number;
  /** Handlers by function id, used instead of importing the function's entry (tests). */
  readonly handlers?: Partial<Record<string, LambdaHandler>>;
  /** Timeouts by function id. @default 30_000 each */
  readonly functionTimeoutsMs?: Partial<Record<string, number>>;
  /** @default 'local' */
  readonly stage?: string;
  /** Where the one line per invocation goes. @default a JSON line on stdout */
  readonly logInvocation?: (entry: InvocationLogEntry) => void;
  /** Where other runtime messages go (refused handshakes, failed async invocations). @default a JSON line on stderr */
  readonly notice?: Notice;
  /**
   * The credentials the server API (`/api/...`) verifies SigV4 signatures against.
   * @default - AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when set, else a generated pair
   */
  readonly serverApiCredentials?: Omit<LocalServerApiCredentials, 'source'>;
  /**
   * Reload the handlers when a file of theirs changes (`npm run dev`): they run in a
   * worker thread, and a change under `lambdas/` or `protocol/` starts a new one for the
   * next invocations. Sockets, servers and tables stay as they are.
   * @default - no watching: the handlers are imported into this process once
   */
  readonly watch?: boolean | HandlerWatchOptions;
  /** Where the route table's entries are. @default - this repository (tests point it at a copy) */
  readonly projectRoot?: string;
}

export interface HandlerWatchOptions {
  /** @default 200 */
  readonly debounceMs?: number;
  /** Told of each reload, with the files that caused it. @default one line on stdout */
  readonly onReload?: (changed: readonly string[]) => void;
}

export interface LocalRuntime {
  /** `http://host:port`: Management API, Lambda Invoke API and producer endpoint. */
  readonly httpUrl: string;
  /** `ws://host:port`: the WebSocket endpoint; append `?token=...`. */
  readonly wsUrl: string;
  readonly port: number;
  /** `http://host:port/api`: the server API (SigV4, service execute-api, region us-east-1). */
  readonly serverApiUrl: string;
  /** What its requests must be signed with. */
  readonly serverApiCredentials: Omit<LocalServerApiCredentials, 'source'>;
  /** Asynchronous invocations (Event, the cleanup schedule) that failed, oldest first. */
  readonly deadLetters: readonly DeadLetter[];
  /**
   * What the handlers dead-lettered into the on-failure queue (invalid records, failed
   * posts), oldest first; also listed at `GET /_local/dead-letters`.
   */
  readonly queuedDeadLetters: readonly QueuedMessage[];
  /**
   * Kafka batches the MSK stand-in discarded after its retries, as Lambda's S3 on-failure
   * destination keeps them (object key, invocation record with the event), oldest first;
   * also at `GET /_local/parked`, and removed with `DELETE /_local/parked/{key}`.
   */
  readonly parked: readonly ParkedObject[];
  /** Ids of the connections that are open now. */
  connectionIds(): string[];
  /** Runs the cleanup function now, as its schedule would. */
  runCleanup(): Promise<void>;
  /** Closes every socket (each `$disconnect` runs), the timers and the server. */
  stop(): Promise<void>;
}

const writeReloadLine = (changed: readonly string[]) => {
  const files = changed.length > 3 ? `${changed.slice(0, 3).join(', ')} and ${changed.length - 3} more` : changed.join(', ');
  process.stdout.write(`handlers reloaded (${files} changed)\n`);
};
const writeInvocationLine = (entry: InvocationLogEntry) => process.stdout.write(`${JSON.stringify(entry)}\n`);
const writeNotice: Notice = (message, fields = {}) => process.stderr.write(`${JSON.stringify({ level: 'notice', message, ...fields })}\n`);

/**
 * Sets the environment exactly as the CDK stack sets it on every function. Handler
 * modules read it when they load, so this runs before the first import.
 */
function setLambdaEnvironment(options: LocalRuntimeOptions, httpUrl: string): void {
  const env = process.env;
  useLocalAwsIdentity(env);
  env.SERVICE_CONFIG = JSON.stringify(options.config.notification_service);
  for (const table of TABLES) env[table.envVar] = options.tables[table.id];
  env.DYNAMODB_ENDPOINT = options.dynamodbEndpoint;
  env.MANAGEMENT_ENDPOINT = httpUrl;
  env.LAMBDA_ENDPOINT = httpUrl;
  env.WELCOME_FUNCTION_NAME = WELCOME.id;
  env.FANOUT_WORKER_FUNCTION_NAME = FANOUT_WORKER.id;
  env.DEAD_LETTER_QUEUE_URL = localQueueUrl(httpUrl);
  env.JWT_SECRET = options.jwtSecret;
}

/**
 * Starts the local runtime: API Gateway's WebSocket API, its Management API, the
 * Lambda Invoke API and an MSK stand-in, on one port, in front of the same handler
 * modules that run in Lambda.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const host = options.host ?? '127.0.0.1';
  const limits: WebSocketLimits = { ...API_GATEWAY_WEBSOCKET_LIMITS, ...options.limits };
  const notice = options.notice ?? writeNotice;
  const deadLetters: DeadLetter[] = [];
  const queuedDeadLetters: QueuedMessage[] = [];
  const parked: ParkedObject[] = [];
  const backgroundWork = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>) => {
    backgroundWork.add(work);
    void work.finally(() => backgroundWork.delete(work));
  };
  const recordDeadLetter = (deadLetter: DeadLetter) => {
    deadLetters.push(deadLetter);
    notice('asynchronous invocation failed', {
      function: deadLetter.functionName,
      error: `${deadLetter.error.errorType}: ${deadLetter.error.errorMessage}`,
    });
  };

  const watch = options.watch === true ? {} : options.watch || undefined;
  const projectRoot = options.projectRoot ?? PROJECT_ROOT;
  const functions = new LocalFunctions({
    projectRoot,
    reloadable: watch !== undefined,
    handlers: options.handlers,
    timeoutsMs: options.functionTimeoutsMs,
    log: options.logInvocation ?? writeInvocationLine,
  });
  const server = createServer();
  const endpoint = new WebSocketEndpoint({
    functions,
    limits,
    apiId: apiId(),
    stage: options.stage ?? 'local',
    port: () => (server.address() as AddressInfo).port,
    notice,
  });
  const mskEvents = new MskEventBuilder();
  const credentials = options.serverApiCredentials ?? serverApiCredentials();
  const serverApi = {
    functions,
    apiId: apiId(),
    verifier: new SigV4Verifier({ credentials, region: LOCAL_REGION, service: 'execute-api' }),
  };
  const topics = options.config.notification_service.kafka.topics;
  const producer = {
    functions,
    events: mskEvents,
    topics,
    // Read as the stack reads it: deployment.kafka.retry_attempts, 3 when unset.
    retryAttempts: options.config.deployment?.kafka?.retry_attempts ?? MAPPING_ERROR_HANDLING.defaultRetryAttempts,
    bisectBatchOnError: MAPPING_ERROR_HANDLING.bisectBatchOnError,
    partitions: new PartitionLanes(),
    park: (record: Parameters<typeof parkedObjectKey>[1]) => {
      const key = parkedObjectKey(PARKED_MAPPING_ID, record);
      parked.push({ key, body: JSON.stringify(record), storedAt: new Date().toISOString() });
      notice('kafka batch parked after its retries', {
        key,
        records: record.KafkaBatchInfo.batchSize,
        partitions: Object.keys(record.KafkaBatchInfo.recordsInfo),
      });
    },
  };

  // The demo page, its SDK bundle and the local-only token endpoint (docs/client.md).
  const page = new PageRoutes({ config: options.config, jwtSecret: options.jwtSecret });
  const route = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (await page.handle(request, response, path)) return;
    const management = MANAGEMENT_PATH.exec(path);
    if (management) return handleManagementRequest(endpoint, request, response, management[1]!);
    const invoke = INVOKE_PATH.exec(path);
    if (invoke) return handleInvokeRequest({ functions, onAsyncFailure: recordDeadLetter, track }, request, response, invoke[1]!);
    if (isQueueRequest(request)) return handleQueueRequest(queuedDeadLetters, request, response);
    if (path === '/_local/dead-letters' && request.method === 'GET') {
      return sendJson(response, 200, {
        letters: queuedDeadLetters.map((message) => ({ ...message, letter: parseLetter(message.body) })),
        invocations: deadLetters,
      });
    }
    if (path === '/_local/parked' && request.method === 'GET') {
      return sendJson(response, 200, { parked: parked.map((object) => ({ ...object, records: readParkedRecords(object.body) })) });
    }
    const parkedKey = PARKED_PATH.exec(path);
    if (parkedKey && request.method === 'DELETE') {
      const index = parked.findIndex((object) => object.key === decodeURIComponent(parkedKey[1]!));
      if (index < 0) return sendJson(response, 404, { message: `no parked object ${decodeURIComponent(parkedKey[1]!)}` });
      parked.splice(index, 1);
      return sendJson(response, 200, { deleted: decodeURIComponent(parkedKey[1]!) });
    }
    const serverApiPath = SERVER_API_PATH.exec(path);
    if (serverApiPath) return handleServerApiRequest(serverApi, request, response, serverApiPath[1] ?? '/');
    const producerPath = PRODUCER_PATH.exec(path);
    if (producerPath) return handleProducerRequest(producer, request, response, producerPath[1]!);
    sendJson(response, 404, {
      message: `No route for ${request.method} ${path}`,
      routes: [
        'POST|GET|DELETE /@connections/{connectionId}',
        'POST /2015-03-31/functions/{name}/invocations',
        'POST /_local/topics/{topic}',
        'GET /_local/dead-letters',
        'GET /_local/parked',
        'DELETE /_local/parked/{key}',
        `POST|GET ${SERVER_API_PREFIX}/... (server API, SigV4)`,
        ...PAGE_ROUTES,
      ],
    });
  };
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    route(request, response).catch((error: unknown) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      if (error instanceof RequestTooLargeError) sendJson(response, 413, { message: error.message });
      else {
        notice('request failed', { method: request.method, url: request.url, error: String(error) });
        sendJson(response, 500, { message: 'Internal server error' });
      }
    });
  });
  server.on('upgrade', (request, socket, head) => endpoint.handleUpgrade(request, socket, head));

  await new Promise<void>((resolveListening, rejectListening) => {
    server.once('error', rejectListening);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', rejectListening);
      resolveListening();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const httpUrl = `http://${authority}`;
  const wsUrl = `ws://${authority}`;
  setLambdaEnvironment(options, httpUrl);
  const watcher =
    watch &&
    new SourceWatcher({
      root: projectRoot,
      folders: HANDLER_SOURCE_FOLDERS,
      debounceMs: watch.debounceMs,
      onChange: (changed) => {
        functions.reload();
        (watch.onReload ?? writeReloadLine)(changed);
      },
    });

  let cleanupRunning: Promise<void> | undefined;
  const runCleanup = (): Promise<void> => {
    // A schedule does not wait for the previous run; a slow cleanup is not started twice here.
    cleanupRunning ??= (async () => {
      const event = scheduledEvent('local-cleanup');
      const outcome = await functions.invoke(CLEANUP.id, event, { route: 'schedule' });
      if (!outcome.ok) recordDeadLetter({ functionName: CLEANUP.id, payload: event, error: outcome.error, failedAt: new Date().toISOString() });
    })().finally(() => (cleanupRunning = undefined));
    return cleanupRunning;
  };
  const cleanupIntervalMs = options.cleanupIntervalMs ?? 60_000;
  const cleanupTimer = cleanupIntervalMs > 0 ? setInterval(() => track(runCleanup()), cleanupIntervalMs).unref() : undefined;

  let stopping: Promise<void> | undefined;
  return {
    httpUrl,
    wsUrl,
    port,
    serverApiUrl: `${httpUrl}${SERVER_API_PREFIX}`,
    serverApiCredentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    deadLetters,
    queuedDeadLetters,
    parked,
    connectionIds: () => endpoint.connectionIds(),
    runCleanup,
    stop() {
      stopping ??= (async () => {
        clearInterval(cleanupTimer);
        watcher?.close();
        await endpoint.stop();
        // Background invocations still running (a welcome retrying) finish while the
        // Management API still answers, so they end on a 410 rather than a refused connection.
        while (backgroundWork.size > 0) await Promise.allSettled([...backgroundWork]);
        await new Promise<void>((resolveClosed) => {
          server.close(() => resolveClosed());
          server.closeAllConnections();
        });
        await functions.close();
      })();
      return stopping;
    },
  };
}

/** `DELETE /_local/parked/{key}`, the key URI-encoded (it holds slashes). */
const PARKED_PATH = /^\/_local\/parked\/(.+)$/;

/** A dead letter's body is JSON when the fan-out wrote it; anything else is shown as sent. */
function parseLetter(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}
