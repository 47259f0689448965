import type { B0Input } from './b0-raw-broadcast.js';
import type { B1Input, B1Run } from './b1-fanout-efficiency.js';
import type { B2Input } from './b2-store-cost.js';
import type { B3Input } from './b3-end-to-end.js';
import type { B4Input } from './b4-cold-start.js';
import type { B5Input } from './b5-batch-parallelism.js';
import type { B6Input } from './b6-presence-inbox-cost.js';

/**
 * What each benchmark runs, by mode. `full` is `npm run bench` (within 10 minutes on two
 * cores), `quick` is `--quick` (within a minute or two: smaller audiences, fewer rounds,
 * the same headline B1 and B5 points), `tiny` is the smoke test's (shape only, seconds).
 */

export type BenchMode = 'full' | 'quick' | 'tiny';

/** API Gateway's default account quota for Management API posts, per second. */
export const POST_RATE_PER_SECOND = 10_000;
/** 10 ms of the quota: small, so that the ideal max(N*L/C, N/rate) holds from the first post. */
export const POST_BURST = 100;

/** The B1 point the target is set at. */
export const B1_HEADLINE = { connections: 10_000, latencyMs: 20 } as const;

/** The B5 point issue 10's batch target is set at. */
export const B5_HEADLINE = { batchSize: 100, postLatencyMs: 20 } as const;

/**
 * B5's modelled DynamoDB latency per request, whatever the concurrency: a single-digit
 * round trip in AWS (docs/benchmarks.md, B5).
 */
export const B5_STORE_LATENCY_MS = 5;

export interface BenchPlan {
  readonly b0: B0Input;
  readonly b1: Omit<B1Input, 'runs'> & { readonly runs: readonly B1Run[] };
  readonly b2: Omit<B2Input, 'dynamodbEndpoint'>;
  readonly b3: Omit<B3Input, 'dynamodbEndpoint'>;
  readonly b4: B4Input;
  readonly b5: Omit<B5Input, 'dynamoDbLocal'> & { readonly dynamoDbLocal: Omit<NonNullable<B5Input['dynamoDbLocal']>, 'endpoint'> };
  readonly b6: Omit<B6Input, 'dynamodbEndpoint'>;
}

/** The inbox size of issue 12's mark-all-read figure. */
export const B6_INBOX_ITEMS = 10_000;

/** The concurrency at which N*L/C falls to N/rate: more than this only waits on the quota. */
export function saturatingConcurrency(latencyMs: number): number {
  return Math.ceil((latencyMs * POST_RATE_PER_SECOND) / 1000);
}

function b1Runs(mode: BenchMode, configured: number): B1Run[] {
  const at = (connections: number, latencyMs: number, concurrency = configured, agent: B1Run['agent'] = 'sized'): B1Run => ({
    connections,
    latencyMs,
    concurrency,
    agent,
  });
  if (mode === 'tiny') return [at(200, 5), at(200, 5, configured, 'sdk-default')];
  const headline = at(B1_HEADLINE.connections, B1_HEADLINE.latencyMs);
  if (mode === 'quick') return [headline, at(1_000, 50)];
  const runs: B1Run[] = [];
  for (const latencyMs of [5, 20, 50]) {
    for (const connections of [1_000, 10_000]) runs.push(at(connections, latencyMs));
  }
  // 100,000 at one latency: whether efficiency holds at scale. At every latency it
  // would take over five minutes alone (the ideal at 50 ms and C = 50 is 100 s).
  runs.push(at(100_000, B1_HEADLINE.latencyMs));
  // Enough concurrency that the quota, not the latency, bounds the ideal.
  for (const latencyMs of [5, 20, 50]) {
    const concurrency = saturatingConcurrency(latencyMs);
    if (concurrency !== configured) runs.push(at(10_000, latencyMs, concurrency));
  }
  // What production's client does at that concurrency: the SDK's own agent, 50 sockets.
  const beyondDefault = saturatingConcurrency(B1_HEADLINE.latencyMs);
  if (beyondDefault > 50) runs.push(at(10_000, B1_HEADLINE.latencyMs, beyondDefault, 'sdk-default'));
  return runs;
}

/** @param configuredConcurrency - `kafka.fanout_concurrency` from Config.toml. */
export function benchPlan(mode: BenchMode, configuredConcurrency: number): BenchPlan {
  const sizes = {
    full: {
      clients: 1_000,
      warmupRounds: 3,
      b0Rounds: 30,
      b3Rounds: 15,
      channelSizes: [1, 100, 10_000],
      notifications: 3,
      initRuns: 5,
      floor: 10_000,
      warmupPosts: 2_000,
    },
    quick: {
      clients: 200,
      warmupRounds: 2,
      b0Rounds: 10,
      b3Rounds: 6,
      channelSizes: [1, 100, 500],
      notifications: 2,
      initRuns: 1,
      floor: 2_000,
      warmupPosts: 2_000,
    },
    tiny: { clients: 10, warmupRounds: 1, b0Rounds: 2, b3Rounds: 2, channelSizes: [10], notifications: 1, initRuns: 1, floor: 200, warmupPosts: 100 },
  }[mode];
  // Issue 10 part 5: 100 records to 100 users at L = 20 ms, against one record alone. A
  // modelled round is a fraction of a second; one on DynamoDB Local takes seconds.
  const batch = {
    full: { batchSize: B5_HEADLINE.batchSize, rounds: 9, warmupRecords: 3, dynamoDbLocal: { rounds: 3, warmupRecords: 3 } },
    quick: { batchSize: B5_HEADLINE.batchSize, rounds: 5, warmupRecords: 3, dynamoDbLocal: { rounds: 2, warmupRecords: 3 } },
    tiny: { batchSize: 10, rounds: 1, warmupRecords: 1, dynamoDbLocal: { rounds: 1, warmupRecords: 0 } },
  }[mode];
  return {
    b0: { clients: sizes.clients, warmupRounds: sizes.warmupRounds, rounds: sizes.b0Rounds },
    b1: {
      runs: b1Runs(mode, configuredConcurrency),
      ratePerSecond: POST_RATE_PER_SECOND,
      burst: POST_BURST,
      warmupPosts: sizes.warmupPosts,
      transportFloor: { connections: sizes.floor, latencyMs: B1_HEADLINE.latencyMs, concurrency: configuredConcurrency },
    },
    b2: { channelSizes: sizes.channelSizes, userConnections: mode === 'tiny' ? [1] : [1, 3], notificationsPerScenario: sizes.notifications },
    b3: { clients: sizes.clients, warmupRounds: sizes.warmupRounds, rounds: sizes.b3Rounds },
    b4: { initRuns: sizes.initRuns, ...(mode === 'tiny' ? { only: ['Fanout'] } : {}) },
    // Members before the join: 99 and 100 sit either side of Config.toml's presence_max_members
    // (100): the 100th member's join is told, the 101st's is not; 1,000 shows the cost above it.
    b6: {
      presenceSizes: { full: [1, 10, 99, 100, 1_000], quick: [1, 10, 100], tiny: [1] }[mode],
      inboxItems: mode === 'tiny' ? 200 : B6_INBOX_ITEMS,
      readAroundUnread: mode === 'tiny' ? 30 : 1_000,
    },
    b5: {
      ...batch,
      postLatencyMs: B5_HEADLINE.postLatencyMs,
      storeLatencyMs: B5_STORE_LATENCY_MS,
      fanoutConcurrency: configuredConcurrency,
      ratePerSecond: POST_RATE_PER_SECOND,
      burst: POST_BURST,
    },
  };
}
