import { randomBytes, randomUUID } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { createServer, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll } from '../../lambdas/adapters/dynamodb/batch-operations.js';
import { toConnectionItem } from '../../lambdas/adapters/dynamodb/connection-item.js';
import { tableEnvironment } from '../../protocol/tables.js';
import type { PostDeadLetter, DeadLetter } from '../../lambdas/domain/fanout/dead-letters.js';
import { useLocalAwsIdentity } from '../../local/aws-identity.js';
import { createTables } from '../../local/dynamodb-local.js';
import { sendJson } from '../../local/http-messages.js';
import { LOCAL_RETRY_DELAY_MS, MAPPING_ERROR_HANDLING, runEventSourceMapping, type MappingRun } from '../../local/kafka/event-source-mapping.js';
import { LOCAL_BOOTSTRAP_SERVERS, LOCAL_CLUSTER_ARN, type MskEvent, type MskRecord } from '../../local/kafka/msk-event.js';
import { readParkedRecords, type KafkaFailureRecord } from '../../local/kafka/parked-records.js';
import { createLambdaContext } from '../../local/lambda/context.js';
import { LocalFunctions, type InvocationOutcome } from '../../local/lambda/functions.js';
import { toFunctionError } from '../../local/lambda/invocation.js';
import { handleInvokeRequest, INVOKE_PATH, type DeadLetter as FailedInvocation } from '../../local/lambda/invoke-api.js';
import { PROJECT_ROOT } from '../../local/project-root.js';
import { handleQueueRequest, isQueueRequest, localQueueUrl, type QueuedMessage } from '../../local/sqs/queue-api.js';
import { AppClient, ClientSockets, headsOf, healClients, judgeClients, type AppVerdict } from './app-clients.js';
import { CONNECTIONS_PATH, type AcceptedPost } from './faulty-management-api.js';
import { startFaultyManagementApi } from './management-api-host.js';
import { startDynamoDbThrottlingProxy } from './dynamodb-throttling-proxy.js';
import { seededRandom } from './seeded-random.js';
import { WorkerInvocations } from './worker-invocations.js';

export interface FaultScenarioOptions {
  /** DynamoDB Local (the proxy that throttles sits in front of it). */
  readonly dynamodbEndpoint: string;
  /** Subscribers of the channel. */
  readonly connections: number;
  /** Notifications published to the channel; targets = connections x records. */
  readonly records: number;
  /** `delivery.shard_size`. @default 1000 */
  readonly shardSize?: number;
  /** `kafka.fanout_concurrency`. @default 50 */
  readonly concurrency?: number;
  /** Share of connections that are gone (410). @default 0.05 */
  readonly goneRate?: number;
  /** Share of connections every post to which fails (500): they are dead-lettered. @default 0.002 */
  readonly brokenRate?: number;
  /** Share of other posts answered 429. @default 0.02 */
  readonly throttleRate?: number;
  /** Share of other posts answered 500. @default 0.01 */
  readonly serverErrorRate?: number;
  /** Share of other posts accepted and answered after the client's timeout. @default 0.01 */
  readonly lateAnswerRate?: number;
  /** Share of other posts accepted, then their connection reset (the answer is lost). @default 0.01 */
  readonly lostAnswerRate?: number;
  /** Share of other posts held unanswered until the client gives up, then accepted. @default 0.01 */
  readonly heldRate?: number;
  /** Share of other posts answered after a latency spike of 0.3-0.8 x write_timeout. @default 0.02 */
  readonly spikeRate?: number;
  /** One burst in which every post is spiked, at a seeded post, this long. @default 2 x the lease */
  readonly spikeWindowMs?: number;
  /** Share of DynamoDB data-plane requests throttled. @default 0.03 */
  readonly dynamoDbThrottleRate?: number;
  /** `websocket.write_timeout`, seconds. @default 1 */
  readonly writeTimeoutSeconds?: number;
  /** `delivery.lease_seconds`: short, so that latency spikes make a lease lapse mid-chunk. @default 1 */
  readonly leaseSeconds?: number;
  /** One synchronous stall of the posting process, this long, at a seeded post mid-run. @default 1.5 x write_timeout; 0 for none */
  readonly stallMs?: number;
  /** Crash one worker mid-shard. @default true */
  readonly crash?: boolean;
  /** The worker's timeout: a crashed worker's lease lasts at most this. @default 15000 */
  readonly workerTimeoutMs?: number;
  /** The fan-out's timeout. @default 60000 */
  readonly fanoutTimeoutMs?: number;
  /**
   * A DynamoDB outage (every data-plane request refused: AccessDeniedException) that starts mid-delivery of
   * the last notification and lasts until the event source mapping discards its batch:
   * the batch is parked, then replayed as `npm run replay` does. @default true
   */
  readonly outage?: boolean;
  /** Share of the recovery's posts whose outcome is unknown (half delivered, half not). @default 0.02 */
  readonly replayInDoubtRate?: number;
  /** Clients recovering at once after the faults. @default 32 */
  readonly healConcurrency?: number;
  /** @default 1 */
  readonly seed?: number;
}

/** Every target (connection x notification) in exactly one of the first four counts, or lost. */
export interface Reconciliation {
  readonly targets: number;
  readonly delivered: number;
  readonly gone: number;
  /** Not posted, or in doubt, and in the channel's history, so that `recover` returns it. */
  readonly recoverable: number;
  readonly deadlettered: number;
  /** What the domain reported in doubt (the fan-out's summaries). */
  readonly indoubt: number;
  /** Targets the Management API accepted a post for whose answer no client ever read. */
  readonly unknownOutcomes: number;
  readonly lost: number;
  /** Targets that were posted more than once. */
  readonly duplicates: number;
  /** Posts beyond the first to the same connection and messageId. */
  readonly extra: number;
  /** Connections that got two notifications in another order than their partition's. */
  readonly outOfOrder: number;
  /** Posts and dead letters from a worker after its lease had ended (as stored). */
  readonly leaseViolations: number;
  /** Targets dead-lettered although the Management API accepted a post for them (in doubt is not failed). */
  readonly deadLetteredDelivered: number;
  /** What the apps showed: every notification once, in order, at every client whose socket stayed open. */
  readonly app: AppVerdict;
  /** For a failing run: one line per duplicate, lease violation or wrong dead letter, and per client that showed something wrong. */
  readonly problems: string[];
  /** What happened on the way, for a failing run's diagnosis (stderr). */
  readonly details: Record<string, unknown>;
}

/** The one line `npm run faults` prints. */
export function reconciliationLine(result: Reconciliation): string {
  const { targets, delivered, gone, recoverable, deadlettered, indoubt, lost, duplicates, extra, app } = result;
  return (
    `targets=${targets} delivered=${delivered} gone=${gone} recoverable=${recoverable} deadlettered=${deadlettered} indoubt=${indoubt} lost=${lost} duplicates=${duplicates} extra=${extra}` +
    ` shown=${app.shown} missing=${app.missing} twice=${app.twice} disorder=${app.disorder} heal_p50=${app.healP50Ms} heal_p99=${app.healP99Ms}`
  );
}

/**
 * Nothing lost, nothing twice, every count accounted for, order kept, every unknown
 * outcome counted in doubt, nothing posted or dead-lettered past a lease; and at every
 * client, every notification shown once, in order.
 */
export function reconciles(result: Reconciliation): boolean {
  return (
    result.app.missing === 0 &&
    result.app.twice === 0 &&
    result.app.disorder === 0 &&
    result.app.unexpected === 0 &&
    result.lost === 0 &&
    result.duplicates === 0 &&
    result.outOfOrder === 0 &&
    result.delivered + result.gone + result.recoverable + result.deadlettered === result.targets &&
    result.indoubt >= result.unknownOutcomes &&
    result.leaseViolations === 0 &&
    result.deadLetteredDelivered === 0
  );
}

const TOPIC = 'booking-updates';
const FANOUT_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:Fanout';
/** Lambda retries a failed asynchronous invocation twice. */
const ASYNC_RETRIES = 2;
/**
 * How late after a lease's end a post may still arrive: the loopback hop from the
 * worker's socket to the API thread. A post started inside the lease arrives well within it.
 */
const LEASE_ARRIVAL_ALLOWANCE_MS = 100;

/**
 * The fan-out under faults, end to end: the real fan-out handler and, per worker
 * invocation, the composition's shard worker with its own services (as a fresh sandbox),
 * against DynamoDB Local behind a proxy that throttles, a Management API in its own
 * thread that answers 410/429/5xx, answers late, loses answers, holds posts past the
 * client's timeout and has latency spikes, the local Lambda Invoke API (asynchronous
 * worker invocations, Lambda's retries emulated) and the local SQS stand-in as
 * on-failure queue. One worker crashes mid-chunk, the posting process stalls once for
 * longer than `write_timeout`, and the lease is a second long. The trigger is the local
 * stand-in of the event source mapping (local/kafka/event-source-mapping.ts: retries from
 * the failed record, bisects, parks what its retries could not deliver); an outage of
 * DynamoDB mid-delivery of the last notification outlasts those retries, so its batch is
 * parked, then published again as `npm run replay` does; then the producer's whole batch
 * arrives once more (Kafka delivers at least once). What the Management API accepted is
 * the ground truth the server's books are counted from.
 *
 * Behind every connection whose socket stays open is an app: the SDK's continuity module
 * fed that connection's accepted posts in the order API Gateway accepted them. After the
 * faults each heals as the SDK does (heartbeat heads, `recover` by positions through the
 * real RecoveryService), and the verdict is what the apps showed: every notification
 * once, in order, at every client (app-clients.ts).
 */
export async function runFaultScenario(options: FaultScenarioOptions): Promise<Reconciliation> {
  const seed = options.seed ?? 1;
  const random = seededRandom(seed);
  const run = randomBytes(4).toString('hex');
  const channel = `faults-${run}`;
  const goneRate = options.goneRate ?? 0.05;
  const brokenRate = options.brokenRate ?? 0.002;
  const workerTimeoutMs = options.workerTimeoutMs ?? 15_000;
  const writeTimeoutSeconds = options.writeTimeoutSeconds ?? 1;
  const writeTimeoutMs = writeTimeoutSeconds * 1000;
  const concurrency = options.concurrency ?? 50;
  const startedAtMs = Date.now();
  const at = (ms: number) => `+${((ms - startedAtMs) / 1000).toFixed(3)}s`;
  const messageIds: string[] = Array.from({ length: options.records }, () => randomUUID());
  // The outage, and the recovery's unknown outcomes, draw from their own sequence: the
  // faults of the delivery stay those of the same seed without them.
  const healRandom = seededRandom(seed + 3);
  const outageAfter =
    (options.outage ?? true) && messageIds.length > 0
      ? { messageId: messageIds.at(-1)!, posts: Math.max(1, Math.floor(options.connections * (0.02 + 0.08 * healRandom()))) }
      : undefined;

  // Tables, and the connections subscribed to the channel.
  useLocalAwsIdentity(process.env);
  const directClient = new DynamoDBClient({ endpoint: options.dynamodbEndpoint, region: process.env.AWS_REGION });
  const tables = await createTables(directClient, `f${run}-`);
  const documents = DynamoDBDocumentClient.from(directClient, { marshallOptions: { removeUndefinedValues: true } });
  const gone = new Set<string>();
  const broken = new Set<string>();
  const audience: string[] = [];
  const now = new Date().toISOString();
  const connectionItems = [];
  const subscriptionItems = [];
  for (let index = 0; index < options.connections; index += 1) {
    const connectionId = `c${String(index).padStart(6, '0')}-${run}`;
    const item = toConnectionItem({ connectionId, userId: `u${index}`, roles: [], connectedAt: now, lastSeenAt: now, channels: [channel] });
    connectionItems.push({ PutRequest: { Item: { ...item } as Record<string, unknown> } });
    subscriptionItems.push({ PutRequest: { Item: { channel, connectionId, userId: item.userId, expiresAt: item.expiresAt } } });
    audience.push(connectionId);
    const draw = random();
    if (draw < goneRate) gone.add(connectionId);
    else if (draw < goneRate + brokenRate) broken.add(connectionId);
  }
  await batchWriteAll(documents, tables.Connections, connectionItems);
  await batchWriteAll(documents, tables.Subscriptions, subscriptionItems);

  // The fakes: DynamoDB throttling, the Management API (its own thread), Lambda's Invoke API, SQS.
  let outageDue = () => false;
  const proxy = await startDynamoDbThrottlingProxy(options.dynamodbEndpoint, options.dynamoDbThrottleRate ?? 0.03, seededRandom(seed + 1), () => outageDue());
  const managementApi = await startFaultyManagementApi({
    gone,
    broken,
    seed: seed + 2,
    faults: {
      throttleRate: options.throttleRate ?? 0.02,
      serverErrorRate: options.serverErrorRate ?? 0.01,
      lateAnswerRate: options.lateAnswerRate ?? 0.01,
      lostAnswerRate: options.lostAnswerRate ?? 0.01,
      heldRate: options.heldRate ?? 0.01,
      spikeRate: options.spikeRate ?? 0.02,
      spikeWindow: { atPost: Math.floor(audience.length * (0.3 + 0.4 * random())) + 1, ms: options.spikeWindowMs ?? 2000 * (options.leaseSeconds ?? 1) },
      writeTimeoutMs,
      // Mid-chunk: half the posts a worker has in flight at once.
      crashAfterPosts: Math.max(1, Math.floor(concurrency / 2)),
      ...(outageAfter ? { outageAfter } : {}),
    },
  });
  outageDue = managementApi.outageDue;
  const queued: QueuedMessage[] = [];
  const failedInvocations: FailedInvocation[] = [];
  const background = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>) => {
    background.add(work);
    void work.finally(() => background.delete(work));
  };
  const workers = new WorkerInvocations(managementApi, options.crash ?? true);
  const functions = new LocalFunctions({
    projectRoot: PROJECT_ROOT,
    handlers: { FanoutWorker: workers.handler },
    timeoutsMs: { FanoutWorker: workerTimeoutMs },
    log: () => {},
  });
  const attempts = new Map<string, number>();
  const onAsyncFailure = (failure: FailedInvocation) => {
    const key = JSON.stringify(failure.payload);
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    if (attempt > ASYNC_RETRIES) {
      failedInvocations.push(failure);
      return;
    }
    // Lambda retries a failed event after a delay; its lease has expired by then.
    const retry = new Promise((resolve) => setTimeout(resolve, workerTimeoutMs)).then(async () => {
      const outcome = await functions.invoke(failure.functionName, failure.payload);
      if (!outcome.ok) onAsyncFailure({ ...failure, error: outcome.error, failedAt: new Date().toISOString() });
    });
    track(retry);
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const route = async () => {
      const invoke = INVOKE_PATH.exec(path);
      if (invoke) return handleInvokeRequest({ functions, onAsyncFailure, track }, request, response, invoke[1]!);
      if (isQueueRequest(request)) return handleQueueRequest(queued, request, response);
      sendJson(response, 404, { message: `no route for ${request.method} ${path}` });
    };
    route().catch(() => response.destroy());
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // The client side of every post, seen through node:http's diagnostics channels: which
  // posts' answers a client read (the rest have unknown outcomes), and the one stall.
  const apiHost = new URL(managementApi.url).host;
  const answeredPosts = new Map<string, number>();
  const stallMs = options.stallMs ?? Math.round(1.5 * writeTimeoutMs);
  const stallAtPost = stallMs > 0 ? Math.floor(audience.length * (0.2 + 0.3 * random())) + 1 : 0;
  let postsStarted = 0;
  let stalledAtMs: number | undefined;
  const postKey = (request: ClientRequest): string | undefined => {
    if (request.method !== 'POST' || request.getHeader('host') !== apiHost) return undefined;
    const match = CONNECTIONS_PATH.exec(request.path);
    return match ? `${match[1] ?? ''}|${decodeURIComponent(match[2]!)}` : undefined;
  };
  const onRequestStart = (message: unknown) => {
    if (postKey((message as { request: ClientRequest }).request) === undefined) return;
    postsStarted += 1;
    if (postsStarted === stallAtPost) {
      // The process that posts stalls, synchronously, with posts in flight: a GC pause,
      // a noisy neighbour. Their timers all expire before any answer is read.
      stalledAtMs = Date.now();
      while (Date.now() - stalledAtMs < stallMs) {
        // busy-wait
      }
    }
  };
  const onResponse = (message: unknown) => {
    const { request, response } = message as { request: ClientRequest; response: { statusCode?: number } };
    const key = postKey(request);
    const status = response.statusCode ?? 0;
    if (key !== undefined && status >= 200 && status < 300) answeredPosts.set(key, (answeredPosts.get(key) ?? 0) + 1);
  };
  diagnosticsChannel.subscribe('http.client.request.start', onRequestStart);
  diagnosticsChannel.subscribe('http.client.response.finish', onResponse);

  // The environment the CDK stack gives the functions, pointed at the fakes.
  const saved = { ...process.env };
  Object.assign(process.env, {
    ...tableEnvironment(`f${run}-`),
    SERVICE_CONFIG: JSON.stringify({
      websocket: { write_timeout: writeTimeoutSeconds },
      kafka: { topics: [TOPIC], fanout_concurrency: concurrency, topic_channels: { [TOPIC]: channel } },
      // Several chunks a shard, so that progress, takeovers and in-doubt ranges are exercised.
      delivery: {
        shard_size: options.shardSize ?? 1000,
        chunk_size: Math.min(250, options.shardSize ?? 1000),
        post_attempts: 10,
        lease_seconds: options.leaseSeconds ?? 1,
      },
    }),
    DYNAMODB_ENDPOINT: proxy.endpoint,
    // The fan-out's own posts (small audiences) go to stage `fanout`; workers to their own.
    MANAGEMENT_ENDPOINT: `${managementApi.url}/fanout`,
    LAMBDA_ENDPOINT: httpUrl,
    FANOUT_WORKER_FUNCTION_NAME: 'FanoutWorker',
    DEAD_LETTER_QUEUE_URL: localQueueUrl(httpUrl),
  });

  try {
    const { handler: fanout } = await import('../../lambdas/handlers/fanout.js');
    const { getServices } = await import('../../lambdas/composition.js');
    const { RecoveryService } = await import('../../lambdas/domain/recovery-service.js');
    const services = getServices();

    // The apps: one SDK client per connection whose socket stays open, welcomed before
    // anything is published (the welcome's heads: every stream still empty).
    const clients = new Map<string, AppClient>();
    for (const [index, connectionId] of audience.entries())
      if (!gone.has(connectionId)) clients.set(connectionId, new AppClient(connectionId, `u${index}`, [channel]));
    for (const [client, heads] of await headsOf([...clients.values()], services.notifications)) client.observeHeads(heads);
    proxy.enable(true);

    // The producer: `records` notifications to the channel (the topic maps to it), and
    // one value that is not JSON, in one partition.
    const values = [
      ...messageIds.map((messageId, index) =>
        JSON.stringify({
          messageId,
          type: 'notification',
          payload: {
            notificationId: randomUUID(),
            title: `Fault run ${index + 1}`,
            message: 'Delivered once, or recoverable',
            priority: 'medium',
            createdAt: now,
          },
        }),
      ),
      '{not json',
    ];
    // The partition: the producer's records, then what the replay publishes again.
    const records: MskRecord[] = [];
    const append = (value: string): MskRecord => {
      const record: MskRecord = {
        topic: TOPIC,
        partition: 0,
        offset: records.length,
        timestamp: Date.now(),
        timestampType: 'CREATE_TIME',
        value: Buffer.from(value, 'utf8').toString('base64'),
        headers: [],
      };
      records.push(record);
      return record;
    };
    for (const value of values) append(value);
    const batchOf = (batch: readonly MskRecord[]): MskEvent => ({
      eventSource: 'aws:kafka',
      eventSourceArn: LOCAL_CLUSTER_ARN,
      bootstrapServers: LOCAL_BOOTSTRAP_SERVERS,
      records: { [`${TOPIC}-0`]: batch.map((record) => structuredClone(record)) },
    });

    // The event source mapping as lib/kafka-trigger.ts configures it, played by the local
    // stand-in: retries from the failed record, bisects a batch failed whole, and discards
    // (parks) what still fails when its retries are spent. The outage ends once a batch is
    // parked (it outlasted the retries), or once the trigger is past the batch at the latest.
    let indoubt = 0;
    const parked: KafkaFailureRecord[] = [];
    let parkedAtMs: number | undefined;
    const mappingRuns: MappingRun[] = [];
    const fanoutInvocations: string[] = [];
    const invokeFanout = async (event: MskEvent): Promise<InvocationOutcome> => {
      const invokedAtMs = Date.now();
      const offsets = Object.values(event.records)
        .flat()
        .map((record) => record.offset);
      try {
        const answer = await fanout(event as never, createLambdaContext({ functionName: 'Fanout', timeoutMs: options.fanoutTimeoutMs ?? 60_000 }));
        indoubt += answer.inDoubt ?? 0;
        return { ok: true, result: answer };
      } catch (error) {
        return { ok: false, error: toFunctionError(error) };
      } finally {
        fanoutInvocations.push(`${offsets.join(',')} ${at(invokedAtMs)}..${at(Date.now())}`);
      }
    };
    const trigger = async (batch: readonly MskRecord[]) => {
      const run = await runEventSourceMapping(batchOf(batch), {
        retryAttempts: MAPPING_ERROR_HANDLING.defaultRetryAttempts,
        bisectBatchOnError: MAPPING_ERROR_HANDLING.bisectBatchOnError,
        retryDelayMs: LOCAL_RETRY_DELAY_MS,
        invoke: invokeFanout,
        discard: (failure) => {
          parkedAtMs ??= Date.now();
          parked.push(failure);
          proxy.endOutage();
        },
        functionArn: FANOUT_ARN,
      });
      mappingRuns.push(run);
      return run;
    };
    await trigger(records);
    proxy.endOutage();
    const outageEndedAtMs = Date.now();
    const outage = { due: managementApi.outageDue(), answered: proxy.outageAnswered(), parked: parked.flatMap(parkedOffsets) };
    while (background.size > 0) await Promise.allSettled([...background]);

    // `npm run replay`: each parked value published again as it was produced (so with its
    // messageId), a new record of the partition; what fails again is parked again.
    const replayed: { offset: number; as: number; outcome: string }[] = [];
    for (let pass = 0; pass < 5 && parked.length > 0; pass += 1) {
      for (const failure of parked.splice(0)) {
        for (const record of readParkedRecords(JSON.stringify(failure))) {
          const copy = append(record.value);
          const run = await trigger([copy]);
          replayed.push({
            offset: record.offset,
            as: copy.offset,
            outcome: run.parked.length > 0 ? 'parked again' : (run.invocations.at(-1)?.outcome ?? 'none'),
          });
        }
      }
      while (background.size > 0) await Promise.allSettled([...background]);
    }
    // At least once: the producer's whole batch arrives again; nothing may reach anyone twice.
    const again = await fanout(batchOf(records.slice(0, values.length)) as never, createLambdaContext({ functionName: 'Fanout', timeoutMs: 60_000 }));
    indoubt += again.inDoubt ?? 0;
    while (background.size > 0) await Promise.allSettled([...background]);
    proxy.enable(false);
    const faultsEndedAtMs = Date.now();

    // Reconcile against what the Management API accepted.
    const api = await managementApi.report();

    // The apps: each socket's frames, in the order API Gateway accepted them, through the
    // SDK's continuity; then each heals as the SDK does at its next heartbeat, by the
    // service's own RecoveryService over the same tables, its replays posted to the socket.
    for (const post of api.accepted) {
      const { messageId, stream, offset, epoch } = post;
      clients.get(post.connectionId)?.receive({ messageId, stream, offset, epoch });
    }
    const missingAtEnd = new Map<AppClient, Set<string>>();
    for (const client of clients.values()) {
      const seen = new Set(client.shown.map((item) => item.messageId));
      missingAtEnd.set(client, new Set(messageIds.filter((messageId) => !seen.has(messageId))));
    }
    const replayRate = options.replayInDoubtRate ?? 0.02;
    const sockets = new ClientSockets(clients, { deliveredInDoubtRate: replayRate / 2, lostInDoubtRate: replayRate / 2, random: healRandom });
    const recovery = new RecoveryService({
      // As lambdas/application.ts composes it for the `recover` route, posting to the sockets.
      connections: services.connections,
      notifications: services.notifications,
      sender: sockets,
      clock: services.clock,
      log: services.logger,
      historyTtlSeconds: services.config.websocket.history_ttl,
      settleMs: services.config.delivery.lease_seconds * 1000,
    });
    const healStartedAtMs = Date.now();
    await healClients([...clients.values()], {
      notifications: services.notifications,
      recovery,
      concurrency: options.healConcurrency ?? 32,
      heartbeats: 5,
      heartbeatIntervalMs: 1000,
    });
    const app = judgeClients([...clients.values()], messageIds, missingAtEnd, faultsEndedAtMs);
    // Offsets the channel's stream took beyond its notifications: the tombstones of duplicates.
    const channelHead = (await services.notifications.heads([`channel#${channel}`], Date.now())).get(`channel#${channel}`);
    const letters = queued.map((message) => JSON.parse(message.body) as DeadLetter);
    const postLetters = new Set(
      letters.filter((letter): letter is PostDeadLetter => letter.kind === 'post').map((letter) => `${letter.messageId}|${letter.connectionId}`),
    );
    const history = await services.notifications.readSince([{ kind: 'channel', channel }], '2000-01-01T00:00:00.000Z', options.records + 10);
    const kept = new Set(history.notifications.map((notification) => notification.messageId));
    const answeredGone = new Set(api.answeredGone);
    const acceptedByConnection = new Map<string, AcceptedPost[]>();
    for (const post of api.accepted) {
      const list = acceptedByConnection.get(post.connectionId) ?? [];
      list.push(post);
      acceptedByConnection.set(post.connectionId, list);
    }
    // Per stage and connection, the accepted posts no client read an answer to. Clients
    // are counted per stage and connection, not per post: when a stage posted there more
    // than once, the unanswered are taken to be those the API answered late, lost or
    // held, then the latest.
    const unanswered = new Set<AcceptedPost>();
    const byStage = new Map<string, AcceptedPost[]>();
    for (const post of api.accepted) {
      const key = `${post.stage}|${post.connectionId}`;
      byStage.set(key, [...(byStage.get(key) ?? []), post]);
    }
    const withoutAnswer = (post: AcceptedPost) => (post.fault === 'late-answer' || post.fault === 'lost-answer' || post.fault === 'held' ? 1 : 0);
    for (const [key, posts] of byStage) {
      const ordered = [...posts].sort((a, b) => withoutAnswer(a) - withoutAnswer(b));
      for (const post of ordered.slice(answeredPosts.get(key) ?? 0)) unanswered.add(post);
    }
    const describe = (post: AcceptedPost) =>
      `${post.stage} attempt ${post.attempt} arrived ${at(post.receivedAtMs)}${post.acceptedAtMs !== post.receivedAtMs ? ` accepted ${at(post.acceptedAtMs)}` : ''}${post.fault ? ` (${post.fault})` : ''}${unanswered.has(post) ? ' unanswered' : ''}`;
    const problems: string[] = [];
    let delivered = 0;
    let goneCount = 0;
    let recoverable = 0;
    let deadlettered = 0;
    let lost = 0;
    let duplicates = 0;
    let extra = 0;
    let outOfOrder = 0;
    let unknownOutcomes = 0;
    let deadLetteredDelivered = 0;
    const order = new Map<string, number>(messageIds.map((messageId, index) => [messageId, index]));
    for (const connectionId of audience) {
      const accepted = acceptedByConnection.get(connectionId) ?? [];
      const positions = accepted.map((post) => order.get(post.messageId) ?? -1);
      if (positions.some((position, index) => index > 0 && position < positions[index - 1]!)) {
        outOfOrder += 1;
        problems.push(`out of order: ${connectionId} got ${accepted.map((post) => `${post.messageId} by ${describe(post)}`).join(', ')}`);
      }
      for (const messageId of messageIds) {
        const posts = accepted.filter((post) => post.messageId === messageId);
        if (posts.length > 1) {
          duplicates += 1;
          extra += posts.length - 1;
          problems.push(`duplicate: ${messageId} to ${connectionId}: ${posts.map(describe).join('; ')}`);
        }
        if (posts.length >= 1 && posts.every((post) => unanswered.has(post))) unknownOutcomes += 1;
        const letter = postLetters.has(`${messageId}|${connectionId}`);
        if (posts.length >= 1) {
          delivered += 1;
          if (letter) {
            deadLetteredDelivered += 1;
            problems.push(`dead-lettered though delivered: ${messageId} to ${connectionId}: ${posts.map(describe).join('; ')}`);
          }
        } else if (answeredGone.has(connectionId)) goneCount += 1;
        else if (letter) deadlettered += 1;
        else if (kept.has(messageId)) recoverable += 1;
        else lost += 1;
      }
    }

    // The lease as stored: an invocation holds its shard from its acquire until the
    // latest lease end it wrote, or its release. Nothing of it may arrive later.
    const leaseEnd = new Map<string, number>();
    for (const invocation of workers.invocations) {
      const events = workers.leaseEvents.filter((event) => event.stage === invocation.stage && event.ok);
      if (!events.some((event) => event.kind === 'acquire')) {
        leaseEnd.set(invocation.stage, Number.NEGATIVE_INFINITY);
        continue;
      }
      let end = Math.max(...events.filter((event) => event.kind !== 'release').map((event) => event.leaseUntilMs ?? 0));
      const release = events.find((event) => event.kind === 'release');
      if (release) end = Math.min(end, release.startedAtMs);
      leaseEnd.set(invocation.stage, end);
    }
    let leaseViolations = 0;
    const pastLease = (stage: string, atMs: number) => {
      const end = leaseEnd.get(stage);
      return end !== undefined && atMs > end + LEASE_ARRIVAL_ALLOWANCE_MS ? end : undefined;
    };
    for (const post of api.arrived) {
      if (post.status === 'dropped') continue;
      const end = pastLease(post.stage, post.receivedAtMs);
      if (end === undefined) continue;
      leaseViolations += 1;
      problems.push(
        `post past the lease: ${post.stage} to ${post.connectionId} (HTTP ${post.status}) arrived ${at(post.receivedAtMs)}, lease ended ${Number.isFinite(end) ? at(end) : 'never held'}`,
      );
    }
    for (const send of workers.deadLetterSends) {
      const end = pastLease(send.stage, send.atMs);
      if (end === undefined) continue;
      leaseViolations += 1;
      problems.push(
        `dead letters past the lease: ${send.stage} sent ${send.connectionIds.length} at ${at(send.atMs)}, lease ended ${Number.isFinite(end) ? at(end) : 'never held'}`,
      );
    }

    return {
      targets: audience.length * messageIds.length,
      delivered,
      gone: goneCount,
      recoverable,
      deadlettered,
      indoubt,
      unknownOutcomes,
      lost,
      duplicates,
      extra,
      outOfOrder,
      leaseViolations,
      deadLetteredDelivered,
      app,
      problems: [...problems, ...app.problems],
      details: {
        seed,
        clients: {
          ...app.details,
          missingAtEnd: [...missingAtEnd.values()].reduce((sum, missing) => sum + missing.size, 0),
          healed: app.healed,
          unexpected: app.unexpected,
          replayInDoubt: sockets.inDoubt,
          // Clients that had every notification yet were behind a head (a duplicate's tombstone) and asked.
          askedWithNothingMissing: [...clients.values()].filter((client) => client.rounds > 0 && missingAtEnd.get(client)!.size === 0).length,
          faultsEnded: at(faultsEndedAtMs),
          healStartedAfterMs: healStartedAtMs - faultsEndedAtMs,
          healSeconds: Math.round((Date.now() - healStartedAtMs) / 100) / 10,
        },
        channelHead: channelHead ? { epoch: channelHead.epoch, offset: channelHead.offset } : null,
        outage: { ...outage, parkedAt: parkedAtMs === undefined ? null : at(parkedAtMs), triggerDoneAt: at(outageEndedAtMs) },
        replayed,
        triggerInvocations: mappingRuns.flatMap((run) => run.invocations.map((invocation) => `${invocation.offsets.join('-')}:${invocation.outcome}`)),
        fanoutInvocations,
        answers: api.answers,
        unknownOutcomes,
        leaseViolations,
        deadLetteredDelivered,
        stall: stalledAtMs === undefined ? null : { atPost: stallAtPost, at: at(stalledAtMs), ms: stallMs },
        dynamoDbThrottled: proxy.throttled(),
        kafkaRedeliveries: mappingRuns.reduce((sum, run) => sum + run.invocations.length, 0) - mappingRuns.length,
        finalRedelivery: { duplicates: again.duplicates, delivered: again.delivered, failed: again.batchItemFailures.length },
        workerCrashed: managementApi.crashed(),
        workerInvocations: workers.invocations.map((invocation) => ({
          stage: invocation.stage,
          shard: invocation.shard.split('|')[2],
          from: at(invocation.startedAtMs),
          to: invocation.endedAtMs === undefined ? null : at(invocation.endedAtMs),
          ...(invocation.outcome
            ? { status: invocation.outcome.status, inDoubt: invocation.outcome.counts.inDoubt }
            : { error: invocation.error ?? 'still running' }),
        })),
        recordLetters: letters.filter((letter) => letter.kind === 'record').length,
        failedInvocations: failedInvocations.length,
        seconds: Math.round((Date.now() - startedAtMs) / 100) / 10,
      },
    };
  } finally {
    proxy.enable(false);
    diagnosticsChannel.unsubscribe('http.client.request.start', onRequestStart);
    diagnosticsChannel.unsubscribe('http.client.response.finish', onResponse);
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await managementApi.stop();
    await proxy.stop();
  }
}

/** The offsets of a parked batch. */
function parkedOffsets(failure: KafkaFailureRecord): number[] {
  return readParkedRecords(JSON.stringify(failure)).map((record) => record.offset);
}
