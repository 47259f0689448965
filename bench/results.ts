import { cpus, totalmem } from 'node:os';
import type { B1Measurement, B1Output } from './b1-fanout-efficiency.js';
import type { B2Output, B2Scenario } from './b2-store-cost.js';
import type { B3Output } from './b3-end-to-end.js';
import type { B4Function, B4Output } from './b4-cold-start.js';
import type { B5Output } from './b5-batch-parallelism.js';
import type { B6Output } from './b6-presence-inbox-cost.js';
import { B1_HEADLINE, type BenchMode } from './plan.js';
import type { DeliveryFigures } from './round-measurement.js';

/**
 * The shape of bench/results/latest.json, built from what each benchmark measured,
 * with the issue's targets judged (met / not met). Nothing here asserts: a target
 * that is not met is a finding, reported as such.
 */

export interface TargetVerdict {
  readonly id: string;
  readonly description: string;
  readonly value: number | null;
  /** How the value compares to the limit, e.g. `>= 0.9`. */
  readonly limit: string;
  /** null when the benchmark did not run or could not measure it. */
  readonly met: boolean | null;
}

export interface BenchResults {
  readonly schemaVersion: 1;
  readonly mode: BenchMode;
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly machine: {
    readonly cpus: number;
    readonly cpuModel: string;
    readonly memoryGb: number;
    readonly node: string;
    readonly platform: string;
    /** 1-minute load average when the run started: above `cpus`, other work shared the machine. */
    readonly loadAverageAtStart: number;
  };
  readonly b0?: DeliveryFigures;
  readonly b1?: B1Output & {
    /** ideal / measured at N = 10,000, L = 20 ms, C = configured. */
    readonly efficiency: number | null;
    readonly configuredConcurrency: number;
    readonly ratePerSecond: number;
    readonly burst: number;
    readonly headline: B1Measurement | null;
  };
  readonly b2?: B2Output & {
    /** At the largest channel measured (10,000 subscribers in the full run). */
    readonly requestsPerDelivery: number | null;
    readonly subscribers: number | null;
    /** A user-targeted notification (issue 10 part 3): the most over the user scenarios (1 and 3 connections). */
    readonly userTargeted: LeanPathFigures | null;
    /** A channel of 100 subscribers, one shard (issue 10 part 3 covers small channels too). */
    readonly smallChannel: LeanPathFigures | null;
    /** DynamoDB write units per connection-hour (issue 10 part 6); null when not measured. */
    readonly writeUnitsPerConnectionHour: number | null;
  };
  readonly b3?: B3Output & {
    readonly p50RatioToB0: number | null;
    readonly p99RatioToB0: number | null;
    readonly throughputRatioToB0: number | null;
    readonly serverCpuRatioToB0: number | null;
  };
  readonly b4?: B4Output & {
    readonly maxBundleKb: number;
    readonly maxInitMs: number;
  };
  /**
   * `batchRatio` is the judged figure (stores modelled at `storeLatencyMs` a request);
   * `batchRatioDynamoDbLocal` is reported only: DynamoDB Local runs requests one at a time.
   */
  readonly b5?: B5Output;
  /** Presence join / leave, the inbox on the delivery path, markRead on a large inbox (issues 11 and 12). */
  readonly b6?: B6Output;
  /**
   * Benchmarks rerun with `--merge` after the run above (`startedAt` and `machine` are the
   * first run's): when each ran and how loaded the machine was.
   */
  readonly merged?: Readonly<
    Record<string, { readonly mode: BenchMode; readonly startedAt: string; readonly durationSeconds: number; readonly loadAverageAtStart: number }>
  >;
  readonly targets: TargetVerdict[];
}

/** Issue 10 part 3's three figures for an audience posted in one chunk. */
export interface LeanPathFigures {
  readonly requestsPerNotification: number;
  readonly writeCapacityUnitsPerNotification: number;
  readonly roundTripsBeforeFirstPost: number;
}

/**
 * Issue 10's limits (parts 3 to 6), as issue 18 (continuity) moved them: the lean path
 * may grow by one write request and one write unit for the stream position (4 -> 5
 * requests, 3 -> 4 write units), still at most 2 store round trips before the first post.
 */
export const ISSUE_10_LIMITS = {
  leanRequests: 5,
  leanWriteUnits: 4,
  leanRoundTrips: 2,
  largeChannelRequestsPerDelivery: 0.003,
  batchRatio: 5,
  writeUnitsPerConnectionHour: 24,
} as const;

/** The channel size of issue 10's "small channel" figures. */
export const SMALL_CHANNEL = 100;

export interface Measured {
  readonly b0?: DeliveryFigures;
  readonly b1?: B1Output;
  readonly b2?: B2Output;
  readonly b3?: B3Output;
  readonly b4?: B4Output;
  readonly b5?: B5Output;
  readonly b6?: B6Output;
}

const ratio = (value: number | undefined, base: number | undefined) => (value !== undefined && base !== undefined && base > 0 ? value / base : null);

function largestChannel(b2: B2Output): B2Scenario | undefined {
  return b2.scenarios.filter((scenario) => scenario.name.startsWith('channel')).sort((a, b) => b.audience - a.audience)[0];
}

/** The worst of each figure over these scenarios; null when there are none. */
function leanPath(scenarios: readonly B2Scenario[]): LeanPathFigures | null {
  if (scenarios.length === 0) return null;
  return {
    requestsPerNotification: Math.max(...scenarios.map((scenario) => scenario.requestsPerNotification)),
    writeCapacityUnitsPerNotification: Math.max(...scenarios.map((scenario) => scenario.writeCapacityUnitsPerNotification)),
    roundTripsBeforeFirstPost: Math.max(...scenarios.map((scenario) => scenario.roundTripsBeforeFirstPost)),
  };
}

function verdict(id: string, description: string, value: number | null | undefined, limit: string, holds: (value: number) => boolean): TargetVerdict {
  const known = value ?? null;
  return { id, description, value: known, limit, met: known === null ? null : holds(known) };
}

export function assembleResults(
  measured: Measured,
  context: { mode: BenchMode; startedAt: Date; loadAverageAtStart: number; configuredConcurrency: number; ratePerSecond: number; burst: number },
): BenchResults {
  const { b0 } = measured;
  const headline =
    measured.b1?.measurements.find(
      (run) =>
        run.connections === B1_HEADLINE.connections &&
        run.latencyMs === B1_HEADLINE.latencyMs &&
        run.concurrency === context.configuredConcurrency &&
        run.agent === 'sized',
    ) ?? null;
  const b1 = measured.b1 && {
    efficiency: headline?.efficiency ?? null,
    configuredConcurrency: context.configuredConcurrency,
    ratePerSecond: context.ratePerSecond,
    burst: context.burst,
    headline,
    ...measured.b1,
  };
  const largest = measured.b2 && largestChannel(measured.b2);
  const b2 = measured.b2 && {
    requestsPerDelivery: largest?.requestsPerDelivery ?? null,
    subscribers: largest?.audience ?? null,
    userTargeted: leanPath(measured.b2.scenarios.filter((scenario) => scenario.kind === 'user')),
    smallChannel: leanPath(measured.b2.scenarios.filter((scenario) => scenario.kind === 'channel' && scenario.audience === SMALL_CHANNEL)),
    writeUnitsPerConnectionHour: measured.b2.connectionHour?.writeUnits ?? null,
    ...measured.b2,
  };
  const b3 = measured.b3 && {
    p50RatioToB0: ratio(measured.b3.p50Ms, b0?.p50Ms),
    p99RatioToB0: ratio(measured.b3.p99Ms, b0?.p99Ms),
    throughputRatioToB0: ratio(measured.b3.deliveriesPerSecond, b0?.deliveriesPerSecond),
    serverCpuRatioToB0: ratio(measured.b3.serverCpuUsPerDelivery, b0?.serverCpuUsPerDelivery),
    ...measured.b3,
  };
  const b4 = measured.b4 && {
    maxBundleKb: Math.max(...measured.b4.functions.map((fn: B4Function) => fn.bundleKb)),
    maxInitMs: Math.max(...measured.b4.functions.map((fn: B4Function) => fn.initMsMedian)),
    ...measured.b4,
  };

  const targets: TargetVerdict[] = [];
  if (b1) {
    targets.push(
      verdict(
        'b1.efficiency',
        `B1 efficiency (ideal / measured), N=10,000, L=20 ms, C=${context.configuredConcurrency}`,
        b1.efficiency,
        '>= 0.9',
        (v) => v >= 0.9,
      ),
    );
  }
  if (b2) {
    targets.push(
      verdict(
        'b2.requestsPerDelivery',
        `B2 DynamoDB requests per delivery, channel of ${b2.subscribers ?? '?'} (issue 7)`,
        b2.requestsPerDelivery,
        '<= 0.001',
        (v) => v <= 0.001,
      ),
      // A read per recipient would show as at least one read request per delivery.
      verdict(
        'b2.readRequestsPerDelivery',
        `B2 no read per recipient: read requests per delivery, channel of ${b2.subscribers ?? '?'}`,
        largest?.readRequestsPerDelivery,
        '< 1',
        (v) => v < 1,
      ),
    );
    const limits = ISSUE_10_LIMITS;
    const lean = (prefix: string, what: string, figures: LeanPathFigures | null) => [
      verdict(
        `${prefix}.requestsPerNotification`,
        `B2 ${what}: DynamoDB requests per notification`,
        figures?.requestsPerNotification,
        `<= ${limits.leanRequests}`,
        (v) => v <= limits.leanRequests,
      ),
      verdict(
        `${prefix}.writeUnitsPerNotification`,
        `B2 ${what}: write units per notification`,
        figures?.writeCapacityUnitsPerNotification,
        `<= ${limits.leanWriteUnits}`,
        (v) => v <= limits.leanWriteUnits,
      ),
      verdict(
        `${prefix}.roundTripsBeforeFirstPost`,
        `B2 ${what}: store round trips one after another before the first post`,
        figures?.roundTripsBeforeFirstPost,
        `<= ${limits.leanRoundTrips}`,
        (v) => v <= limits.leanRoundTrips,
      ),
    ];
    targets.push(
      ...lean('b2.userTargeted', 'user-targeted (1 and 3 connections, the worse)', b2.userTargeted),
      ...lean('b2.smallChannel', `channel of ${SMALL_CHANNEL} (one shard)`, b2.smallChannel),
      verdict(
        'b2.largeChannelRequestsPerDelivery',
        `B2 requests per delivery, channel of ${b2.subscribers ?? '?'} (issue 10)`,
        b2.requestsPerDelivery,
        `<= ${limits.largeChannelRequestsPerDelivery}`,
        (v) => v <= limits.largeChannelRequestsPerDelivery,
      ),
      verdict(
        'b2.writeUnitsPerConnectionHour',
        'B2 DynamoDB write units per connection-hour, default heartbeat',
        b2.writeUnitsPerConnectionHour,
        `<= ${limits.writeUnitsPerConnectionHour}`,
        (v) => v <= limits.writeUnitsPerConnectionHour,
      ),
    );
  }
  if (b3) {
    targets.push(
      verdict('b3.p99RatioToB0', 'B3 p99 latency / B0 p99', b3.p99RatioToB0, '<= 2', (v) => v <= 2),
      verdict('b3.throughputRatioToB0', 'B3 deliveries per second / B0', b3.throughputRatioToB0, '>= 0.5', (v) => v >= 0.5),
    );
  }
  if (b4) {
    targets.push(
      verdict('b4.maxBundleKb', 'B4 largest bundle, KB', b4.maxBundleKb, '< 250', (v) => v < 250),
      verdict('b4.maxInitMs', 'B4 slowest module initialisation (median), ms', b4.maxInitMs, '< 50', (v) => v < 50),
    );
  }

  const { b5 } = measured;
  if (b5) {
    targets.push(
      verdict(
        'b5.batchRatio',
        `B5 time of ${b5.batchSize} user-targeted records to ${b5.batchSize} users / one record, L=${b5.postLatencyMs} ms, store ${b5.storeLatencyMs} ms a request (medians)`,
        Number.isFinite(b5.batchRatio) ? b5.batchRatio : null,
        `<= ${ISSUE_10_LIMITS.batchRatio}`,
        (v) => v <= ISSUE_10_LIMITS.batchRatio,
      ),
    );
  }

  const { b6 } = measured;
  if (b6) targets.push(...b6Targets(b6));

  return {
    schemaVersion: 1,
    mode: context.mode,
    startedAt: context.startedAt.toISOString(),
    durationSeconds: Math.round((Date.now() - context.startedAt.getTime()) / 100) / 10,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      loadAverageAtStart: Math.round(context.loadAverageAtStart * 100) / 100,
    },
    ...(b0 ? { b0 } : {}),
    ...(b1 ? { b1 } : {}),
    ...(b2 ? { b2 } : {}),
    ...(b3 ? { b3 } : {}),
    ...(b4 ? { b4 } : {}),
    ...(b5 ? { b5 } : {}),
    ...(b6 ? { b6 } : {}),
    targets,
  };
}

/** Issue 11 part 4 and issue 12 part 5, judged on B6's figures. */
function b6Targets(b6: B6Output): TargetVerdict[] {
  const eventSteps = b6.presence.flatMap((presenceCase) =>
    presenceCase.steps.filter((step) => step.step === 'join' || step.step === 'leave').map((step) => ({ presenceCase, step })),
  );
  // The joiner is member `members + 1`; the others are `members` subscribers.
  const told = eventSteps.filter(({ presenceCase }) => presenceCase.members + 1 <= presenceCase.maxMembers);
  const aboveCap = eventSteps.filter(({ presenceCase }) => presenceCase.members + 1 > presenceCase.maxMembers);
  const worst = (values: number[]) => (values.length === 0 ? null : Math.max(...values));
  const markAll = b6.markRead.find((step) => step.name === 'markRead all');
  const deliveries = b6.inboxDelivery;
  const limits = ISSUE_10_LIMITS;
  return [
    verdict(
      'b6.presence.postsPerSubscriber',
      'B6 presence join / leave: Management API posts per other subscriber (at or below presence_max_members)',
      worst(told.map(({ presenceCase, step }) => step.posts / presenceCase.members)),
      '<= 1',
      (v) => v <= 1,
    ),
    verdict(
      'b6.presence.postsAboveCap',
      'B6 presence join / leave above presence_max_members: posts',
      worst(aboveCap.map(({ step }) => step.posts)),
      '= 0',
      (v) => v === 0,
    ),
    verdict(
      'b6.inboxDelivery.requestsPerNotification',
      'B6 user-targeted notification, empty and 10,000-item inbox: DynamoDB requests',
      worst(deliveries.map((d) => d.requests)),
      `<= ${limits.leanRequests}`,
      (v) => v <= limits.leanRequests,
    ),
    verdict(
      'b6.inboxDelivery.writeUnitsPerNotification',
      'B6 the same: write units',
      worst(deliveries.map((d) => d.writeCapacityUnits)),
      `<= ${limits.leanWriteUnits}`,
      (v) => v <= limits.leanWriteUnits,
    ),
    verdict(
      'b6.inboxDelivery.roundTripsBeforeFirstPost',
      'B6 the same: store round trips before the first post',
      worst(deliveries.map((d) => d.roundTripsBeforeFirstPost)),
      `<= ${limits.leanRoundTrips}`,
      (v) => v <= limits.leanRoundTrips,
    ),
    verdict(
      'b6.markReadAll.writeUnits',
      `B6 markRead all on ${markAll?.inboxItems ?? '?'} items: write units (the whole request)`,
      markAll?.writeCapacityUnits,
      `<= ${B6_MARK_ALL_WRITE_UNITS}`,
      (v) => v <= B6_MARK_ALL_WRITE_UNITS,
    ),
    verdict(
      'b6.markReadAll.answerBytes',
      'B6 markRead all: the inboxState frame, bytes (API Gateway: 131,072)',
      markAll?.answerBytes,
      '< 131072',
      (v) => v < 131_072,
    ),
  ];
}

/** Mark-all-read must not write per item: the rate token and the read state, with room for a retry. */
export const B6_MARK_ALL_WRITE_UNITS = 10;

/**
 * `previous` with the benchmarks in `rerun` replaced by `next`'s, and their targets too;
 * every other benchmark's figures and targets are kept as they were.
 */
export function mergeResults(previous: BenchResults, next: BenchResults, rerun: readonly string[]): BenchResults {
  const sections = Object.fromEntries(rerun.filter((id) => id in next).map((id) => [id, (next as unknown as Record<string, unknown>)[id]]));
  const ranNow = (target: TargetVerdict) => rerun.includes(target.id.split('.')[0]!);
  const stamp = { mode: next.mode, startedAt: next.startedAt, durationSeconds: next.durationSeconds, loadAverageAtStart: next.machine.loadAverageAtStart };
  return {
    ...previous,
    ...sections,
    merged: { ...(previous.merged ?? {}), ...Object.fromEntries(rerun.map((id) => [id, stamp])) },
    targets: [...previous.targets.filter((target) => !ranNow(target)), ...next.targets.filter(ranNow)],
  };
}
