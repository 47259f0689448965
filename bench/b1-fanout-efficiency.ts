import { Agent, request } from 'node:http';
import { ApiGatewayMessageSender } from '../lambdas/adapters/apigateway/message-sender.js';
import { MemoryConnectionStore, MemoryNotificationLog, MemoryState, MemorySubscriptionStore, MemoryDeliveryLedger } from '../lambdas/adapters/memory/index.js';
import { ChildTask, childInput, reportProgress, runChildTask } from './child-process.js';
import { buildFanout, notificationValue, sourceRecords } from './fanout-assembly.js';
import type { ManagementApiCounts, ManagementApiSettings } from './servers/management-api-server.js';

/**
 * B1, fan-out efficiency: the production FanoutService and ApiGatewayMessageSender
 * (SigV4 over node:http, as the composition builds it) post one notification to N
 * connections through a loopback Management API that answers after L ms and admits `ratePerSecond` posts a second. The stores are the
 * in-memory twins, so the time measured is the posting path's. Ideal time:
 * max(N * L / C, N / rate).
 */

export interface B1Run {
  readonly connections: number;
  readonly latencyMs: number;
  readonly concurrency: number;
  /**
   * Which agent the sender posts through. Since the sender keeps its own keep-alive
   * agent of C sockets, as lambdas/composition.ts builds it, both values measure that
   * agent; `sdk-default` named the SDK's 50-socket agent the sender used to get.
   */
  readonly agent: 'sized' | 'sdk-default';
}

export interface B1Input {
  readonly runs: readonly B1Run[];
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Posts made once, before any run, so that the posting path is compiled. */
  readonly warmupPosts: number;
  readonly transportFloor: Omit<B1TransportFloor, 'measuredMs' | 'cpuUsPerPost'>;
}

export interface B1Output {
  readonly measurements: B1Measurement[];
  readonly transportFloor: B1TransportFloor;
}

export interface B1Measurement extends B1Run {
  readonly idealMs: number;
  readonly measuredMs: number;
  /** idealMs / measuredMs. */
  readonly efficiency: number;
  readonly delivered: number;
  readonly failed: number;
  /** 429s the token bucket answered (each retried by the SDK or the fan-out). */
  readonly throttled: number;
  readonly postsPerSecond: number;
  /** CPU (user + system) of the fan-out process per delivered post. */
  readonly cpuUsPerPost: number;
  /** Most posts the Management API held at once: the concurrency actually reached. */
  readonly peakInFlight: number;
  /** TCP connections the client opened during the run (sockets reused: about C or fewer). */
  readonly connectionsOpened: number;
}

/**
 * The same posts as plain `node:http` requests, no SDK and no fan-out: what posting
 * costs this machine's CPU at the bottom, to read `cpuUsPerPost` against.
 */
export interface B1TransportFloor {
  readonly connections: number;
  readonly latencyMs: number;
  readonly concurrency: number;
  readonly measuredMs: number;
  readonly cpuUsPerPost: number;
}

const CHANNEL = 'bench-fanout';
const WARMUP_CHANNEL = 'bench-warmup';

export function idealMs(run: Pick<B1Run, 'connections' | 'latencyMs' | 'concurrency'>, ratePerSecond: number): number {
  return Math.max((run.connections * run.latencyMs) / run.concurrency, (run.connections / ratePerSecond) * 1000);
}

function senderFor(endpoint: string, run: B1Run): { sender: ApiGatewayMessageSender; destroy: () => void } {
  // Built as lambdas/composition.ts builds the fan-out's sender: an agent of C sockets.
  // `sdk-default` now measures the same thing (the SDK's 50-socket agent is gone).
  const sender = new ApiGatewayMessageSender({
    endpoint,
    maxSockets: run.concurrency,
    requestTimeoutMs: 60_000,
    region: 'us-east-1',
    credentials: async () => ({ accessKeyId: 'bench', secretAccessKey: 'bench' }),
  });
  return { sender, destroy: () => sender.destroy() };
}

/**
 * N connections subscribed to the benchmark channel; the first `warmupSize` also to the
 * warm-up channel.
 */
async function connectionsFor(count: number, warmupSize: number): Promise<{ state: MemoryState; connections: MemoryConnectionStore }> {
  const state = new MemoryState();
  const connections = new MemoryConnectionStore(state);
  const now = new Date().toISOString();
  for (let index = 0; index < count; index += 1) {
    await connections.open(
      {
        connectionId: `conn-${index}`,
        userId: `user-${index}`,
        roles: [],
        connectedAt: now,
        lastSeenAt: now,
        channels: index < warmupSize ? [CHANNEL, WARMUP_CHANNEL] : [CHANNEL],
      },
      { limit: 5, staleBefore: now },
    );
  }
  return { state, connections };
}

async function measure(server: ChildTask, endpoint: string, run: B1Run, input: B1Input): Promise<B1Measurement> {
  // A few connections take a warm-up notification first, so the client's sockets are
  // open, as in a Lambda that has delivered before.
  const { state, connections } = await connectionsFor(run.connections, Math.min(run.connections, run.concurrency * 4));
  const { sender, destroy } = senderFor(endpoint, run);
  const fanout = buildFanout({
    connections,
    subscriptions: new MemorySubscriptionStore(state),
    notifications: new MemoryNotificationLog(state),
    sender,
    ledger: new MemoryDeliveryLedger(state),
    concurrency: run.concurrency,
  });
  const settings: ManagementApiSettings = { latencyMs: run.latencyMs, ratePerSecond: input.ratePerSecond, burst: input.burst };
  try {
    await server.request('configure', settings);
    await fanout.fanOut(sourceRecords(WARMUP_CHANNEL, [notificationValue({ channel: WARMUP_CHANNEL })]));
    await server.request('configure', settings);

    const records = sourceRecords(CHANNEL, [notificationValue({ channel: CHANNEL })]);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const { summary, failedRecords } = await fanout.fanOut(records);
    const measuredMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    if (failedRecords.length > 0) throw new Error(`the fan-out failed: ${failedRecords[0]!.error}`);
    const counts = await server.request<ManagementApiCounts>('counts');
    const ideal = idealMs(run, input.ratePerSecond);
    return {
      ...run,
      idealMs: ideal,
      measuredMs,
      efficiency: ideal / measuredMs,
      delivered: summary.delivered,
      failed: summary.failed,
      throttled: counts.throttled,
      postsPerSecond: (summary.delivered / measuredMs) * 1000,
      cpuUsPerPost: (cpu.user + cpu.system) / Math.max(1, summary.delivered),
      peakInFlight: counts.peakInFlight,
      connectionsOpened: counts.connectionsOpened,
    };
  } finally {
    destroy();
  }
}

/** Plain HTTP posts of the frame's size, C at a time, through an agent of C sockets. */
async function measureTransportFloor(
  server: ChildTask,
  endpoint: string,
  floor: Omit<B1TransportFloor, 'measuredMs' | 'cpuUsPerPost'>,
  input: B1Input,
): Promise<B1TransportFloor> {
  const agent = new Agent({ keepAlive: true, maxSockets: floor.concurrency });
  const url = new URL(endpoint);
  const body = Buffer.from(notificationValue({ channel: CHANNEL }));
  const post = (index: number) =>
    new Promise<void>((resolve, reject) => {
      const outgoing = request(
        { agent, host: url.hostname, port: url.port, method: 'POST', path: `${url.pathname}/@connections/conn-${index}` },
        (response) => {
          response.resume();
          response.on('end', resolve);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  const postAll = async (count: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: floor.concurrency }, async () => {
        while (next < count) await post(next++);
      }),
    );
  };
  const settings: ManagementApiSettings = { latencyMs: floor.latencyMs, ratePerSecond: input.ratePerSecond, burst: input.burst };
  try {
    await server.request('configure', settings);
    await postAll(floor.concurrency * 4);
    await server.request('configure', settings);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await postAll(floor.connections);
    const measuredMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    return { ...floor, measuredMs, cpuUsPerPost: (cpu.user + cpu.system) / floor.connections };
  } finally {
    agent.destroy();
  }
}

/** Compiles the posting path once per process, as a Lambda that has run before has. */
async function warmUp(endpoint: string, server: ChildTask, size: number): Promise<void> {
  const { state, connections } = await connectionsFor(size, 0);
  const { sender, destroy } = senderFor(endpoint, { connections: size, latencyMs: 1, concurrency: 50, agent: 'sized' });
  try {
    await server.request('configure', { latencyMs: 1, ratePerSecond: 1_000_000, burst: 1_000_000 } satisfies ManagementApiSettings);
    const fanout = buildFanout({
      connections,
      subscriptions: new MemorySubscriptionStore(state),
      notifications: new MemoryNotificationLog(state),
      sender,
      ledger: new MemoryDeliveryLedger(state),
      concurrency: 50,
    });
    await fanout.fanOut(sourceRecords(CHANNEL, [notificationValue({ channel: CHANNEL })]));
  } finally {
    destroy();
  }
}

runChildTask(async () => {
  const input = childInput<B1Input>();
  const server = new ChildTask(new URL('./servers/management-api-server.ts', import.meta.url), null);
  try {
    const { endpoint } = await server.ready<{ endpoint: string }>();
    reportProgress('warming up');
    await warmUp(endpoint, server, input.warmupPosts);
    const measurements: B1Measurement[] = [];
    for (const [index, run] of input.runs.entries()) {
      reportProgress(
        `run ${index + 1}/${input.runs.length}: N=${run.connections} L=${run.latencyMs}ms C=${run.concurrency}` +
          `${run.agent === 'sdk-default' ? ' (SDK default agent)' : ''}, ideal ${(idealMs(run, input.ratePerSecond) / 1000).toFixed(1)} s`,
      );
      measurements.push(await measure(server, endpoint, run, input));
    }
    reportProgress('transport floor: plain HTTP posts');
    const transportFloor = await measureTransportFloor(server, endpoint, input.transportFloor, input);
    return { measurements, transportFloor } satisfies B1Output;
  } finally {
    await server.stop();
  }
});
