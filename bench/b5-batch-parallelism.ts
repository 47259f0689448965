import { ApiGatewayMessageSender } from '../lambdas/adapters/apigateway/message-sender.js';
import { MemoryConnectionStore, MemoryDeliveryLedger, MemoryNotificationLog, MemoryState, MemorySubscriptionStore } from '../lambdas/adapters/memory/index.js';
import { MemoryDeliveryProgressStore } from '../lambdas/adapters/memory/delivery-progress-store.js';
import { DEFAULT_RECORD_CONCURRENCY, type FanoutService } from '../lambdas/domain/fanout/fanout-service.js';
import { ChildTask, childInput, reportProgress, runChildTask } from './child-process.js';
import { buildFanout, notificationValue, sourceRecords } from './fanout-assembly.js';
import { seedConnections, settled, startMeteredRuntime, type PostSink } from './metered-runtime.js';
import { StoreRequestCounter, withStoreLatency } from './modelled-store-latency.js';
import type { ManagementApiSettings } from './servers/management-api-server.js';

/**
 * B5, batch parallelism (issue 10 part 5): one MSK event of N user-targeted records, each
 * to a different user, against one record alone, with a Management API stand-in that
 * answers each post after `postLatencyMs`. Order is promised per connection, not per
 * partition, so records to different users may go out at once: a batch of 100 should
 * take a few times one record, not 100 times.
 *
 * Primary figure: the production FanoutService and ApiGatewayMessageSender (posting over
 * loopback HTTP to the stand-in, in its own process) on the in-memory stores, each store
 * request answered `storeLatencyMs` after it was made however many are in flight, as
 * DynamoDB's are in AWS. This times the fan-out's own scheduling.
 *
 * Secondary figure: the same through the local runtime on DynamoDB Local
 * (bench/metered-runtime.ts). DynamoDB Local executes requests largely one at a time, so
 * this ratio is bounded by the emulator, not by the fan-out (docs/benchmarks.md, B5).
 */

export interface B5Input {
  /** Records in the batch, each to its own user (one connection each). */
  readonly batchSize: number;
  readonly postLatencyMs: number;
  /** Each store request's modelled latency (primary mode). */
  readonly storeLatencyMs: number;
  /** Posts in flight per record, and the sender's sockets (`kafka.fanout_concurrency`). */
  readonly fanoutConcurrency: number;
  /**
   * Records of the batch in flight at once (primary mode); 1 checks that the bench sees a
   * serial fan-out (ratio about `batchSize`).
   * @default - the fan-out's own, DEFAULT_RECORD_CONCURRENCY
   */
  readonly recordConcurrency?: number;
  /** The stand-in's quota (API Gateway's account quota) and bucket size. */
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Measured rounds; each round times one record alone, then the batch. */
  readonly rounds: number;
  /** Single records (and, in the primary mode, one batch) delivered before the measured rounds. */
  readonly warmupRecords: number;
  /** The secondary measurement on DynamoDB Local; skipped when absent. */
  readonly dynamoDbLocal?: { readonly endpoint: string; readonly rounds: number; readonly warmupRecords: number };
}

/** One mode's times, per round and their medians. */
export interface B5Timings {
  readonly rounds: number;
  /** One record, per round, ms. */
  readonly singleMs: readonly number[];
  /** The batch, per round, ms. */
  readonly batchMs: readonly number[];
  readonly singleMsMedian: number;
  readonly batchMsMedian: number;
  /** batchMsMedian / singleMsMedian. */
  readonly batchRatio: number;
}

export interface B5Output extends B5Timings {
  readonly batchSize: number;
  readonly postLatencyMs: number;
  /** The modelled latency of every store request in the primary figure. */
  readonly storeLatencyMs: number;
  readonly fanoutConcurrency: number;
  /** Records in flight at once in the primary figure. */
  readonly recordConcurrency: number;
  /** Store requests per record in the measured batches (primary mode). */
  readonly storeRequestsPerRecord: number;
  /**
   * CPU time (user + system) of the fan-out's process per measured batch, primary mode.
   * Near `batchMs`, the batch was bound by CPU (signing, HTTP, the fan-out's own work),
   * not by waiting: more records at once would not make it faster on this machine.
   */
  readonly batchCpuMs: readonly number[];
  readonly batchCpuMsMedian: number;
  /**
   * The same batch through the local runtime on DynamoDB Local; bounded by the emulator's
   * serial execution, not judged against issue 10's limit. Null when not measured.
   */
  readonly dynamoDbLocal: B5Timings | null;
  readonly batchRatioDynamoDbLocal: number | null;
}

const TOPIC = 'booking-updates';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const tenths = (ms: number) => Math.round(ms * 10) / 10;

function timings(single: readonly number[], batch: readonly number[]): B5Timings {
  const singleMsMedian = median(single);
  const batchMsMedian = median(batch);
  return { rounds: single.length, singleMs: single, batchMs: batch, singleMsMedian, batchMsMedian, batchRatio: batchMsMedian / singleMsMedian };
}

/** The production fan-out on in-memory stores that each answer after `storeLatencyMs`. */
async function modelledFanout(input: B5Input, endpoint: string, users: readonly string[], counter: StoreRequestCounter) {
  const state = new MemoryState();
  const connections = new MemoryConnectionStore(state);
  const now = new Date().toISOString();
  // Seeded directly: only the fan-out's requests are delayed and counted.
  for (const [index, userId] of users.entries()) {
    await connections.open(
      { connectionId: `b5c-${index}`, userId, roles: [], connectedAt: now, lastSeenAt: now, channels: [] },
      { limit: 5, staleBefore: now },
    );
  }
  const slow = <T extends object>(store: T) => withStoreLatency(store, input.storeLatencyMs, counter);
  // Built as lambdas/composition.ts builds the fan-out's sender: an agent of C sockets.
  const sender = new ApiGatewayMessageSender({
    endpoint,
    maxSockets: input.fanoutConcurrency,
    requestTimeoutMs: 60_000,
    region: 'us-east-1',
    credentials: async () => ({ accessKeyId: 'bench', secretAccessKey: 'bench' }),
  });
  const fanout = buildFanout({
    connections: slow(connections),
    subscriptions: slow(new MemorySubscriptionStore(state)),
    notifications: slow(new MemoryNotificationLog(state)),
    ledger: slow(new MemoryDeliveryLedger(state)),
    progress: slow(new MemoryDeliveryProgressStore()),
    sender,
    concurrency: input.fanoutConcurrency,
    ...(input.recordConcurrency !== undefined ? { recordConcurrency: input.recordConcurrency } : {}),
  });
  return { fanout, destroy: () => sender.destroy() };
}

/**
 * From the MSK event's records to the fan-out's answer, which comes after every post was
 * answered; and the CPU this process spent meanwhile.
 */
async function timeFanout(fanout: FanoutService, users: readonly string[], what: string): Promise<{ ms: number; cpuMs: number }> {
  const values = users.map((targetUserId) => notificationValue({ targetUserId }));
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const { summary, failedRecords } = await fanout.fanOut(sourceRecords(TOPIC, values));
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  if (failedRecords.length > 0) throw new Error(`${what}: the fan-out failed: ${failedRecords[0]!.error}`);
  if (summary.delivered !== users.length) throw new Error(`${what}: ${summary.delivered} of ${users.length} posts delivered (${JSON.stringify(summary)})`);
  return { ms: tenths(elapsed), cpuMs: tenths((cpu.user + cpu.system) / 1000) };
}

async function measureModelled(input: B5Input, users: readonly string[]) {
  const server = new ChildTask(new URL('./servers/management-api-server.ts', import.meta.url), null);
  const counter = new StoreRequestCounter();
  try {
    const { endpoint } = await server.ready<{ endpoint: string }>();
    await server.request('configure', {
      latencyMs: input.postLatencyMs,
      ratePerSecond: input.ratePerSecond,
      burst: input.burst,
    } satisfies ManagementApiSettings);
    const { fanout, destroy } = await modelledFanout(input, endpoint, users, counter);
    try {
      reportProgress(`modelled store (${input.storeLatencyMs} ms a request): warm-up`);
      for (let round = 0; round < input.warmupRecords; round += 1) await timeFanout(fanout, [users[round % users.length]!], 'warm-up');
      if (input.warmupRecords > 0) await timeFanout(fanout, users, 'warm-up batch');
      const single: number[] = [];
      const batch: number[] = [];
      const batchCpuMs: number[] = [];
      let batchRequests = 0;
      for (let round = 0; round < input.rounds; round += 1) {
        reportProgress(`modelled store: round ${round + 1} of ${input.rounds}`);
        // Side by side: one record, then the batch, in every round.
        single.push((await timeFanout(fanout, [users[round % users.length]!], 'one record')).ms);
        const before = counter.requests;
        const { ms, cpuMs } = await timeFanout(fanout, users, `batch of ${users.length}`);
        batch.push(ms);
        batchCpuMs.push(cpuMs);
        batchRequests += counter.requests - before;
      }
      return {
        ...timings(single, batch),
        storeRequestsPerRecord: batchRequests / (input.rounds * users.length),
        batchCpuMs,
        batchCpuMsMedian: median(batchCpuMs),
      };
    } finally {
      destroy();
    }
  } finally {
    await server.stop();
  }
}

/**
 * From just before the records are produced until the fan-out has answered and every
 * post it owed was answered by the stand-in; then waits until the store is quiet, so
 * that no tail of this run overlaps the next.
 */
async function timeDelivery(sink: PostSink, produce: () => Promise<void>, posts: number, what: string): Promise<number> {
  const expected = sink.posts() + posts;
  const startedAt = performance.now();
  await produce();
  const answeredAt = performance.now();
  await settled(sink.posts, expected, what);
  const lastPostAt = sink.lastAnsweredAt() ?? answeredAt;
  return tenths(Math.max(answeredAt, lastPostAt) - startedAt);
}

/** The production composition (local runtime) on DynamoDB Local: the secondary figure. */
async function measureOnDynamoDbLocal(input: B5Input, local: NonNullable<B5Input['dynamoDbLocal']>, users: readonly string[]): Promise<B5Timings> {
  const { sink, produce, stop } = await startMeteredRuntime({ dynamodbEndpoint: local.endpoint, prefix: 'bench-b5', postLatencyMs: input.postLatencyMs });
  const single: number[] = [];
  const batch: number[] = [];
  try {
    reportProgress(`DynamoDB Local: opening ${users.length} connections, one per user`);
    await seedConnections(users.length, 1, 'b5u', undefined);
    // Warm-up: single records load the handler modules and open the sender's sockets.
    for (let round = 0; round < local.warmupRecords; round += 1) {
      reportProgress(`DynamoDB Local: warm-up ${round + 1} of ${local.warmupRecords}`);
      await timeDelivery(sink, () => produce([notificationValue({ targetUserId: users[round % users.length]! })], 'warm-up'), 1, 'warm-up');
    }
    for (let round = 0; round < local.rounds; round += 1) {
      reportProgress(`DynamoDB Local: round ${round + 1} of ${local.rounds}`);
      const alone = users[round % users.length]!;
      single.push(await timeDelivery(sink, () => produce([notificationValue({ targetUserId: alone })], 'one record'), 1, 'one record'));
      const values = users.map((targetUserId) => notificationValue({ targetUserId }));
      batch.push(await timeDelivery(sink, () => produce(values, `batch of ${users.length}`), users.length, `batch of ${users.length}`));
    }
  } finally {
    await stop();
  }
  return timings(single, batch);
}

runChildTask(async (): Promise<B5Output> => {
  const input = childInput<B5Input>();
  // seedConnections names users `${prefix}-${index}`; the modelled mode uses the same names.
  const users = Array.from({ length: input.batchSize }, (_, index) => `b5u-${index}`);
  const modelled = await measureModelled(input, users);
  const dynamoDbLocal = input.dynamoDbLocal ? await measureOnDynamoDbLocal(input, input.dynamoDbLocal, users) : null;
  return {
    batchSize: input.batchSize,
    postLatencyMs: input.postLatencyMs,
    storeLatencyMs: input.storeLatencyMs,
    fanoutConcurrency: input.fanoutConcurrency,
    recordConcurrency: input.recordConcurrency ?? DEFAULT_RECORD_CONCURRENCY,
    ...modelled,
    dynamoDbLocal,
    batchRatioDynamoDbLocal: dynamoDbLocal?.batchRatio ?? null,
  };
});
