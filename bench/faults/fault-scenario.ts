import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { batchWriteAll } from '../../lambdas/adapters/dynamodb/batch-operations.js';
import { toConnectionItem } from '../../lambdas/adapters/dynamodb/connection-item.js';
import { tableEnvironment } from '../../lambdas/adapters/dynamodb/tables.js';
import type { PostDeadLetter, DeadLetter } from '../../lambdas/domain/fanout/dead-letters.js';
import { useLocalAwsIdentity } from '../../local/aws-identity.js';
import { createTables } from '../../local/dynamodb-local.js';
import { sendJson } from '../../local/http-messages.js';
import { LOCAL_BOOTSTRAP_SERVERS, LOCAL_CLUSTER_ARN, type MskEvent, type MskRecord } from '../../local/kafka/msk-event.js';
import { createLambdaContext } from '../../local/lambda/context.js';
import { LocalFunctions, type LambdaHandler } from '../../local/lambda/functions.js';
import { handleInvokeRequest, INVOKE_PATH, type DeadLetter as FailedInvocation } from '../../local/lambda/invoke-api.js';
import { PROJECT_ROOT } from '../../local/project-root.js';
import { handleQueueRequest, isQueueRequest, localQueueUrl, type QueuedMessage } from '../../local/sqs/queue-api.js';
import { CONNECTIONS_PATH, FaultyManagementApi } from './faulty-management-api.js';
import { startDynamoDbThrottlingProxy } from './dynamodb-throttling-proxy.js';
import { seededRandom } from './seeded-random.js';
import { crashingWorkerHandler, type CrashPlan } from './worker-crash.js';

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
  /** Share of DynamoDB data-plane requests throttled. @default 0.03 */
  readonly dynamoDbThrottleRate?: number;
  /** Crash one worker mid-shard. @default true */
  readonly crash?: boolean;
  /** The worker's timeout: a crashed worker's lease lasts at most this. @default 15000 */
  readonly workerTimeoutMs?: number;
  /** The fan-out's timeout. @default 60000 */
  readonly fanoutTimeoutMs?: number;
  /** @default 1 */
  readonly seed?: number;
}

/** Every target (connection x notification) in exactly one of the first four counts, or lost. */
export interface Reconciliation {
  readonly targets: number;
  readonly delivered: number;
  readonly gone: number;
  readonly recoverable: number;
  readonly deadlettered: number;
  readonly lost: number;
  /** Targets that were posted more than once. */
  readonly duplicates: number;
  /** Connections that got two notifications in another order than their partition's. */
  readonly outOfOrder: number;
  /** What happened on the way, for a failing run's diagnosis (stderr). */
  readonly details: Record<string, unknown>;
}

/** The one line `npm run faults` prints. */
export function reconciliationLine(result: Reconciliation): string {
  const { targets, delivered, gone, recoverable, deadlettered, lost, duplicates } = result;
  return `targets=${targets} delivered=${delivered} gone=${gone} recoverable=${recoverable} deadlettered=${deadlettered} lost=${lost} duplicates=${duplicates}`;
}

/** Nothing lost, nothing twice, every count accounted for, order kept. */
export function reconciles(result: Reconciliation): boolean {
  return (
    result.lost === 0 &&
    result.duplicates === 0 &&
    result.outOfOrder === 0 &&
    result.delivered + result.gone + result.recoverable + result.deadlettered === result.targets
  );
}

const TOPIC = 'booking-updates';
/** Lambda retries a failed asynchronous invocation twice. */
const ASYNC_RETRIES = 2;

/**
 * The fan-out under faults, end to end in this process: the real fan-out and worker
 * handlers with the composition's real adapters, against DynamoDB Local behind a proxy
 * that throttles, a Management API that answers 410/429/5xx, the local Lambda Invoke
 * API (asynchronous worker invocations, Lambda's retries emulated) and the local SQS
 * stand-in as on-failure queue. One worker crashes mid-shard. The event source mapping
 * is played here: a batch is redelivered from each failed record until none fails,
 * then once more whole (Kafka delivers at least once). The Management API's record of
 * what it accepted is the ground truth the result is counted from.
 */
export async function runFaultScenario(options: FaultScenarioOptions): Promise<Reconciliation> {
  const seed = options.seed ?? 1;
  const random = seededRandom(seed);
  const run = randomBytes(4).toString('hex');
  const channel = `faults-${run}`;
  const goneRate = options.goneRate ?? 0.05;
  const brokenRate = options.brokenRate ?? 0.002;
  const workerTimeoutMs = options.workerTimeoutMs ?? 15_000;

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

  // The fakes: DynamoDB throttling, the Management API, Lambda's Invoke API, SQS.
  const proxy = await startDynamoDbThrottlingProxy(options.dynamodbEndpoint, options.dynamoDbThrottleRate ?? 0.03, seededRandom(seed + 1));
  const managementApi = new FaultyManagementApi({
    gone,
    broken,
    throttleRate: options.throttleRate ?? 0.02,
    serverErrorRate: options.serverErrorRate ?? 0.01,
    random: seededRandom(seed + 2),
  });
  const queued: QueuedMessage[] = [];
  const failedInvocations: FailedInvocation[] = [];
  const background = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>) => {
    background.add(work);
    void work.finally(() => background.delete(work));
  };
  const crash: CrashPlan = { armed: options.crash ?? true, afterPosts: Math.max(1, Math.floor((options.concurrency ?? 50) / 2)), crashed: false };
  const realWorker = async (event: unknown, context: Context) =>
    (await import('../../lambdas/handlers/fanout-worker.js')).handler(event, context);
  const functions = new LocalFunctions({
    projectRoot: PROJECT_ROOT,
    handlers: { FanoutWorker: crashingWorkerHandler(crash, realWorker as LambdaHandler) },
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
      const connection = CONNECTIONS_PATH.exec(path);
      if (connection) return managementApi.handle(request, response, connection[1]!);
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

  // The environment the CDK stack gives the functions, pointed at the fakes.
  const saved = { ...process.env };
  Object.assign(process.env, {
    ...tableEnvironment(`f${run}-`),
    SERVICE_CONFIG: JSON.stringify({
      websocket: { write_timeout: 2 },
      kafka: { topics: [TOPIC], fanout_concurrency: options.concurrency ?? 50, topic_channels: { [TOPIC]: channel } },
      delivery: { shard_size: options.shardSize ?? 1000, post_attempts: 10 },
    }),
    DYNAMODB_ENDPOINT: proxy.endpoint,
    MANAGEMENT_ENDPOINT: `${httpUrl}/faults`,
    LAMBDA_ENDPOINT: httpUrl,
    FANOUT_WORKER_FUNCTION_NAME: 'FanoutWorker',
    DEAD_LETTER_QUEUE_URL: localQueueUrl(httpUrl),
  });

  try {
    const { handler: fanout } = await import('../../lambdas/handlers/fanout.js');
    proxy.enable(true);

    // The producer: `records` notifications to the channel (the topic maps to it), and
    // one value that is not JSON, in one partition.
    const messageIds: string[] = Array.from({ length: options.records }, () => randomUUID());
    const values = [
      ...messageIds.map((messageId, index) =>
        JSON.stringify({
          messageId,
          type: 'notification',
          payload: { notificationId: randomUUID(), title: `Fault run ${index + 1}`, message: 'Delivered once, or recoverable', priority: 'medium', createdAt: now },
        }),
      ),
      '{not json',
    ];
    const records: MskRecord[] = values.map((value, offset) => ({
      topic: TOPIC,
      partition: 0,
      offset,
      timestamp: Date.now(),
      timestampType: 'CREATE_TIME',
      value: Buffer.from(value, 'utf8').toString('base64'),
      headers: [],
    }));
    const deliverFrom = (offset: number): MskEvent => ({
      eventSource: 'aws:kafka',
      eventSourceArn: LOCAL_CLUSTER_ARN,
      bootstrapServers: LOCAL_BOOTSTRAP_SERVERS,
      records: { [`${TOPIC}-0`]: records.filter((record) => record.offset >= offset).map((record) => structuredClone(record)) },
    });

    // The event source mapping: retry from the failed offset until the batch goes through.
    let redeliveries = 0;
    let from = 0;
    for (let round = 0; round < 200; round += 1) {
      const context = createLambdaContext({ functionName: 'Fanout', timeoutMs: options.fanoutTimeoutMs ?? 60_000 });
      let failedOffset: number | undefined;
      try {
        const answer = await fanout(deliverFrom(from) as never, context);
        failedOffset = answer.batchItemFailures[0]?.itemIdentifier.offset;
      } catch {
        failedOffset = from;
      }
      if (failedOffset === undefined) break;
      redeliveries += 1;
      from = failedOffset;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // At least once: the whole batch arrives again; nothing may reach anyone twice.
    const again = await fanout(deliverFrom(0) as never, createLambdaContext({ functionName: 'Fanout', timeoutMs: 60_000 }));
    while (background.size > 0) await Promise.allSettled([...background]);
    proxy.enable(false);

    // Reconcile against what the Management API accepted.
    const letters = queued.map((message) => JSON.parse(message.body) as DeadLetter);
    const postLetters = new Set(
      letters.filter((letter): letter is PostDeadLetter => letter.kind === 'post').map((letter) => `${letter.messageId}|${letter.connectionId}`),
    );
    const { getServices } = await import('../../lambdas/composition.js');
    const history = await getServices().notifications.readSince([{ kind: 'channel', channel }], '2000-01-01T00:00:00.000Z', options.records + 10);
    const kept = new Set(history.notifications.map((notification) => notification.messageId));
    let delivered = 0;
    let goneCount = 0;
    let recoverable = 0;
    let deadlettered = 0;
    let lost = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    const order = new Map<string, number>(messageIds.map((messageId, index) => [messageId, index]));
    for (const connectionId of audience) {
      const accepted = managementApi.accepted.get(connectionId) ?? [];
      const positions = accepted.map((messageId) => order.get(messageId) ?? -1);
      if (positions.some((position, index) => index > 0 && position < positions[index - 1]!)) outOfOrder += 1;
      for (const messageId of messageIds) {
        const times = accepted.filter((id) => id === messageId).length;
        if (times > 1) duplicates += 1;
        if (times >= 1) delivered += 1;
        else if (managementApi.answeredGone.has(connectionId)) goneCount += 1;
        else if (postLetters.has(`${messageId}|${connectionId}`)) deadlettered += 1;
        else if (kept.has(messageId)) recoverable += 1;
        else lost += 1;
      }
    }
    return {
      targets: audience.length * messageIds.length,
      delivered,
      gone: goneCount,
      recoverable,
      deadlettered,
      lost,
      duplicates,
      outOfOrder,
      details: {
        answers: managementApi.answers,
        dynamoDbThrottled: proxy.throttled(),
        kafkaRedeliveries: redeliveries,
        finalRedelivery: { duplicates: again.duplicates, delivered: again.delivered, failed: again.batchItemFailures.length },
        workerCrashed: crash.crashed,
        recordLetters: letters.filter((letter) => letter.kind === 'record').length,
        failedInvocations: failedInvocations.length,
      },
    };
  } finally {
    proxy.enable(false);
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await proxy.stop();
  }
}
