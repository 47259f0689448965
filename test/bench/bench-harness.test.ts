import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import type { B1Measurement } from '../../bench/b1-fanout-efficiency.js';
import type { B2Scenario } from '../../bench/b2-store-cost.js';
import type { B5Output } from '../../bench/b5-batch-parallelism.js';
import type { B6Output } from '../../bench/b6-presence-inbox-cost.js';
import { assembleResults, mergeResults, type BenchResults } from '../../bench/results.js';
import { renderResults } from '../../bench/results-table.js';
import type { DeliveryFigures } from '../../bench/round-measurement.js';

// The smoke test of `npm run bench`: the shape of what it writes, never its speed.

const execFileAsync = promisify(execFile);

const delivery = (overrides: Partial<DeliveryFigures>): DeliveryFigures => ({
  clients: 1000,
  rounds: 10,
  deliveries: 10_000,
  p50Ms: 10,
  p99Ms: 40,
  maxMs: 50,
  deliveriesPerSecond: 20_000,
  serverCpuUsPerDelivery: 10,
  ...overrides,
});

const b1Run = (overrides: Partial<B1Measurement>): B1Measurement => ({
  connections: 10_000,
  latencyMs: 20,
  concurrency: 50,
  agent: 'sized',
  idealMs: 4000,
  measuredMs: 5000,
  efficiency: 0.8,
  delivered: 10_000,
  failed: 0,
  throttled: 0,
  postsPerSecond: 2000,
  cpuUsPerPost: 400,
  peakInFlight: 50,
  connectionsOpened: 50,
  ...overrides,
});

const scenario = (kind: B2Scenario['kind'], audience: number, requests: number, overrides: Partial<B2Scenario> = {}): B2Scenario => ({
  name: `${kind}, ${audience}`,
  kind,
  audience,
  notifications: 1,
  deliveries: audience,
  requestsPerDelivery: requests / audience,
  readRequestsPerDelivery: 1 / audience,
  capacityUnitsPerDelivery: 1,
  requestsPerNotification: requests,
  failedRequestsPerNotification: 0,
  readCapacityUnitsPerNotification: 1,
  writeCapacityUnitsPerNotification: 1,
  byOperationPerNotification: { QueryCommand: 1 },
  roundTripsBeforeFirstPost: 2,
  roundTripsBeforeFirstPostEach: [2],
  requestsBeforeFirstPostEach: [2],
  msToFirstPostEach: [10],
  ...overrides,
});
const channel = (audience: number, requests: number, overrides: Partial<B2Scenario> = {}) => scenario('channel', audience, requests, overrides);

const timings = (batchRatio: number) => ({
  rounds: 1,
  singleMs: [100],
  batchMs: [100 * batchRatio],
  singleMsMedian: 100,
  batchMsMedian: 100 * batchRatio,
  batchRatio,
});
const batch = (batchRatio: number, batchRatioDynamoDbLocal: number): B5Output => ({
  batchSize: 100,
  postLatencyMs: 20,
  storeLatencyMs: 5,
  fanoutConcurrency: 50,
  recordConcurrency: 32,
  storeRequestsPerRecord: 3,
  batchCpuMs: [200],
  batchCpuMsMedian: 200,
  ...timings(batchRatio),
  dynamoDbLocal: timings(batchRatioDynamoDbLocal),
  batchRatioDynamoDbLocal,
});

describe('bench results', () => {
  it('puts the figures the issue names where latest.json readers look, and judges the targets', () => {
    // Prepare
    const measured = {
      b0: delivery({}),
      b1: {
        measurements: [b1Run({ connections: 1000, efficiency: 0.5 }), b1Run({}), b1Run({ concurrency: 200, efficiency: 0.3 })],
        transportFloor: { connections: 10_000, latencyMs: 20, concurrency: 50, measuredMs: 4100, cpuUsPerPost: 60 },
      },
      b2: {
        scenarios: [
          scenario('user', 1, 4, { writeCapacityUnitsPerNotification: 3 }),
          // The worse of the user scenarios is judged: 3 round trips here.
          scenario('user', 3, 4, { roundTripsBeforeFirstPost: 3, roundTripsBeforeFirstPostEach: [2, 3] }),
          channel(1, 4),
          channel(10_000, 25),
          channel(100, 4),
        ],
        connectionHour: { heartbeats: 12, requests: 24, readUnits: 0, writeUnits: 24, failedConditions: 0, byOperation: {} },
      },
      b3: { ...delivery({ p50Ms: 30, p99Ms: 60, deliveriesPerSecond: 5000 }), fanoutConcurrency: 50, undelivered: 0, notices: 0 },
      b4: {
        nodeVersion: 'v20',
        functions: [
          { id: 'Fanout', entry: 'lambdas/handlers/fanout.ts', bundleKb: 200, initMsMedian: 40, initMsRuns: [40], largestParts: [] },
          { id: 'Connect', entry: 'lambdas/handlers/connect.ts', bundleKb: 300, initMsMedian: 30, initMsRuns: [30], largestParts: [] },
        ],
      },
      // Judged on the modelled store; DynamoDB Local's figure is reported, not judged.
      b5: batch(5.5, 1),
    };

    // Act
    const results = assembleResults(measured, {
      mode: 'full',
      startedAt: new Date(),
      loadAverageAtStart: 0.5,
      configuredConcurrency: 50,
      ratePerSecond: 10_000,
      burst: 100,
    });

    // Assess
    expect(results.b1?.efficiency).toBe(0.8);
    expect(results.b2?.requestsPerDelivery).toBe(25 / 10_000);
    expect(results.b2?.subscribers).toBe(10_000);
    expect(results.b2?.userTargeted).toEqual({ requestsPerNotification: 4, writeCapacityUnitsPerNotification: 3, roundTripsBeforeFirstPost: 3 });
    expect(results.b2?.writeUnitsPerConnectionHour).toBe(24);
    expect(results.b5?.batchRatio).toBe(5.5);
    expect(results.b5?.batchRatioDynamoDbLocal).toBe(1);
    expect(results.b5?.storeLatencyMs).toBe(5);
    expect(results.b3?.p99RatioToB0).toBe(1.5);
    expect(results.b3?.throughputRatioToB0).toBe(0.25);
    expect(results.b4?.maxBundleKb).toBe(300);
    const verdicts = Object.fromEntries(results.targets.map((target) => [target.id, target.met]));
    expect(verdicts).toEqual({
      'b1.efficiency': false,
      'b2.requestsPerDelivery': false,
      'b2.readRequestsPerDelivery': true,
      'b2.userTargeted.requestsPerNotification': true,
      'b2.userTargeted.writeUnitsPerNotification': true,
      'b2.userTargeted.roundTripsBeforeFirstPost': false,
      'b2.smallChannel.requestsPerNotification': true,
      'b2.smallChannel.writeUnitsPerNotification': true,
      'b2.smallChannel.roundTripsBeforeFirstPost': true,
      'b2.largeChannelRequestsPerDelivery': true,
      'b2.writeUnitsPerConnectionHour': true,
      'b3.p99RatioToB0': true,
      'b3.throughputRatioToB0': false,
      'b4.maxBundleKb': false,
      'b4.maxInitMs': true,
      'b5.batchRatio': false,
    });
    const printed = renderResults(results);
    expect(printed).toContain('NOT MET');
    // Issue 10's limits are printed beside the figures they bound.
    expect(printed).toContain('<= 5 req, <= 4 WCU, <= 2 RT');
    expect(printed).toContain('<= 0.003 req/delivery');
    expect(printed).toContain('batch ratio 5.50 (limit <= 5), store modelled at 5 ms a request');
    expect(printed).toContain('on DynamoDB Local: 1.00, bounded by the emulator');
    expect(printed).toContain('24.0 WCU (limit <= 24 WCU)');
  });

  it('reports issue 10 targets as not measured when their figure is missing', () => {
    // Prepare: no user scenario, no connection-hour figure.
    const measured = { b2: { scenarios: [channel(10, 12)], connectionHour: null } };

    // Act
    const results = assembleResults(measured, {
      mode: 'tiny',
      startedAt: new Date(),
      loadAverageAtStart: 0,
      configuredConcurrency: 50,
      ratePerSecond: 10_000,
      burst: 100,
    });

    // Assess
    const verdicts = Object.fromEntries(results.targets.map((target) => [target.id, target.met]));
    expect(verdicts['b2.userTargeted.roundTripsBeforeFirstPost']).toBeNull();
    expect(verdicts['b2.writeUnitsPerConnectionHour']).toBeNull();
    expect(renderResults(results)).toContain('write units per connection-hour: not measured');
  });

  it("judges B6: posts per subscriber at or below the cap, none above it, mark-all-read's writes and frame size", () => {
    // Prepare: a join told to 10 subscribers, one above the cap that posted once (a finding).
    const step = (name: string, posts: number) => ({
      step: name,
      posts,
      requests: 8,
      failedRequests: 1,
      readCapacityUnits: 1,
      writeCapacityUnits: 7,
      byTarget: {},
      presenceRequests: 4,
      presenceWriteCapacityUnits: 3,
    });
    const cost = { requests: 5, failedRequests: 0, readCapacityUnits: 1300, writeCapacityUnits: 2, byTarget: {} };
    const b6: B6Output = {
      presence: [
        { members: 10, maxMembers: 100, steps: [step('join', 10), step('second tab', 0), step('leave', 10)] },
        { members: 100, maxMembers: 100, steps: [step('join', 1), step('leave', 0)] },
      ],
      inboxDelivery: [
        {
          name: 'empty',
          inboxItems: 0,
          ...cost,
          requests: 4,
          writeCapacityUnits: 3,
          roundTripsBeforeFirstPost: 1,
          inboxRequests: 1,
          inboxWriteCapacityUnits: 1,
          roundTripsWithoutStreamItem: 1,
        },
      ],
      markRead: [
        { name: 'markRead all', inboxItems: 10_001, unreadBefore: 9_999, unreadAfter: 0, idsListed: 1000, truncated: true, answerBytes: 39_400, ...cost },
      ],
      unreadCountAtWelcome: { inboxItems: 10_000, unread: 10_000, ...cost },
    };

    // Act
    const results = assembleResults(
      { b6 },
      { mode: 'tiny', startedAt: new Date(), loadAverageAtStart: 0, configuredConcurrency: 50, ratePerSecond: 10_000, burst: 100 },
    );

    // Assess
    const verdicts = Object.fromEntries(results.targets.map((target) => [target.id, [target.value, target.met]]));
    expect(verdicts['b6.presence.postsPerSubscriber']).toEqual([1, true]);
    expect(verdicts['b6.presence.postsAboveCap']).toEqual([1, false]);
    expect(verdicts['b6.markReadAll.writeUnits']).toEqual([2, true]);
    expect(verdicts['b6.markReadAll.answerBytes']).toEqual([39_400, true]);
    expect(renderResults(results)).toContain('100 members (above cap): join');
  });

  it("--merge replaces the rerun benchmarks' figures and targets and keeps every other", () => {
    // Prepare
    const context = {
      mode: 'full' as const,
      startedAt: new Date('2030-01-01T00:00:00Z'),
      loadAverageAtStart: 1,
      configuredConcurrency: 50,
      ratePerSecond: 10_000,
      burst: 100,
    };
    const previous = assembleResults({ b2: { scenarios: [channel(10, 12)], connectionHour: null }, b5: batch(4, 20) }, context);
    const b6: B6Output = {
      presence: [],
      inboxDelivery: [],
      markRead: [],
      unreadCountAtWelcome: { inboxItems: 0, unread: 0, requests: 2, failedRequests: 0, readCapacityUnits: 1, writeCapacityUnits: 0, byTarget: {} },
    };
    const next = assembleResults({ b6 }, { ...context, startedAt: new Date('2030-01-02T00:00:00Z') });

    // Act
    const merged = mergeResults(previous, next, ['b6']);

    // Assess
    expect(merged.b2).toEqual(previous.b2);
    expect(merged.b5).toEqual(previous.b5);
    expect(merged.b6).toEqual(b6);
    expect(merged.startedAt).toBe(previous.startedAt);
    expect(merged.merged?.b6?.startedAt).toBe('2030-01-02T00:00:00.000Z');
    expect(merged.targets.filter((target) => target.id.startsWith('b2.'))).toEqual(previous.targets.filter((target) => target.id.startsWith('b2.')));
    expect(merged.targets.filter((target) => target.id.startsWith('b6.'))).toEqual(next.targets);
  });

  it('runs end to end at tiny sizes: every process stops and the JSON has its shape', async () => {
    // Prepare
    const directory = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
    const out = join(directory, 'results.json');

    try {
      // Act
      const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--tiny', '--only', 'b1', '--out', out], {
        timeout: 25_000,
      });

      // Assess
      const results = JSON.parse(await readFile(out, 'utf8')) as BenchResults;
      expect(results).toMatchObject({ schemaVersion: 1, mode: 'tiny', machine: { cpus: expect.any(Number) } });
      expect(results.b1?.measurements).toHaveLength(2);
      for (const run of results.b1?.measurements ?? []) {
        expect(run).toMatchObject({ connections: 200, failed: 0, delivered: 200, efficiency: expect.any(Number) });
      }
      // The headline point (N = 10,000) is not part of the tiny plan: reported as not measured.
      expect(results.b1?.efficiency).toBeNull();
      expect(results.targets).toContainEqual(expect.objectContaining({ id: 'b1.efficiency', met: null }));
      expect(stdout).toContain('B1 fan-out efficiency');
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }, 30_000);

  it('runs B2 and B5 end to end at tiny sizes on the production composition: round trips before the first post, batch ratio', async () => {
    // Prepare: the test run's DynamoDB Local, so that the runner starts none.
    const directory = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
    const out = join(directory, 'results.json');

    try {
      // Act
      const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--tiny', '--only', 'b2,b5', '--out', out], {
        timeout: 40_000,
        env: { ...process.env, DYNAMODB_ENDPOINT: inject('dynamodbEndpoint') },
      });

      // Assess: figures measured, whatever they are (the delivery path is not judged here).
      const results = JSON.parse(await readFile(out, 'utf8')) as BenchResults;
      const user = results.b2?.scenarios.find((entry) => entry.kind === 'user');
      expect(user).toMatchObject({ audience: 1, deliveries: 1, requestsPerNotification: expect.any(Number) });
      expect(user!.requestsPerNotification).toBeGreaterThan(0);
      // At least one store round trip precedes the first post (the audience is read).
      expect(user!.roundTripsBeforeFirstPost).toBeGreaterThanOrEqual(1);
      expect(user!.roundTripsBeforeFirstPost).toBeLessThanOrEqual(user!.requestsBeforeFirstPostEach[0]!);
      expect(results.b2?.scenarios.find((entry) => entry.kind === 'channel')).toMatchObject({ audience: 10, deliveries: 10 });
      expect(results.b5).toMatchObject({
        batchSize: 10,
        storeLatencyMs: expect.any(Number),
        batchRatio: expect.any(Number),
        batchRatioDynamoDbLocal: expect.any(Number),
      });
      expect(results.b5!.batchMsMedian).toBeGreaterThan(0);
      expect(results.b5!.dynamoDbLocal!.batchMsMedian).toBeGreaterThan(0);
      // Every record reached the modelled store: at least its ledger entry and its audience.
      expect(results.b5!.storeRequestsPerRecord).toBeGreaterThanOrEqual(2);
      expect(results.targets).toContainEqual(expect.objectContaining({ id: 'b5.batchRatio', met: expect.any(Boolean) }));
      expect(stdout).toContain('RT before 1st post');
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }, 45_000);
});
