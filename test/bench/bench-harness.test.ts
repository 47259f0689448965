import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { B1Measurement } from '../../bench/b1-fanout-efficiency.js';
import type { B2Scenario } from '../../bench/b2-store-cost.js';
import { assembleResults, type BenchResults } from '../../bench/results.js';
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

const channel = (audience: number, requests: number): B2Scenario => ({
  name: `channel, ${audience} subscribers`,
  audience,
  notifications: 1,
  deliveries: audience,
  requestsPerDelivery: requests / audience,
  readRequestsPerDelivery: 1 / audience,
  capacityUnitsPerDelivery: 1,
  requestsPerNotification: requests,
  readCapacityUnitsPerNotification: 1,
  writeCapacityUnitsPerNotification: 1,
  byOperationPerNotification: { QueryCommand: 1 },
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
      b2: { scenarios: [channel(1, 4), channel(10_000, 6), channel(100, 4)] },
      b3: { ...delivery({ p50Ms: 30, p99Ms: 60, deliveriesPerSecond: 5000 }), fanoutConcurrency: 50, undelivered: 0, notices: 0 },
      b4: {
        nodeVersion: 'v20',
        functions: [
          { id: 'Fanout', entry: 'lambdas/handlers/fanout.ts', bundleKb: 200, initMsMedian: 40, initMsRuns: [40], largestParts: [] },
          { id: 'Connect', entry: 'lambdas/handlers/connect.ts', bundleKb: 300, initMsMedian: 30, initMsRuns: [30], largestParts: [] },
        ],
      },
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
    expect(results.b2?.requestsPerDelivery).toBe(6 / 10_000);
    expect(results.b2?.subscribers).toBe(10_000);
    expect(results.b3?.p99RatioToB0).toBe(1.5);
    expect(results.b3?.throughputRatioToB0).toBe(0.25);
    expect(results.b4?.maxBundleKb).toBe(300);
    const verdicts = Object.fromEntries(results.targets.map((target) => [target.id, target.met]));
    expect(verdicts).toEqual({
      'b1.efficiency': false,
      'b2.requestsPerDelivery': true,
      'b2.readRequestsPerDelivery': true,
      'b3.p99RatioToB0': true,
      'b3.throughputRatioToB0': false,
      'b4.maxBundleKb': false,
      'b4.maxInitMs': true,
    });
    expect(renderResults(results)).toContain('NOT MET');
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
});
