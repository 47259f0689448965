import { describe, expect, it } from 'vitest';
import { Lease, LEASE_MARGIN_MS } from '../../lambdas/domain/fanout/lease.js';
import type { Log } from '../../lambdas/domain/ports.js';

const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Lease', () => {
  it('renews itself while work outlasts half of it, so slow work keeps its fence ahead', async () => {
    // Prepare: a 400 ms lease on the real clock; the store accepts every renewal.
    const renewals: number[] = [];
    const start = Date.now();
    const lease = new Lease(start + 400, {
      clock: { now: () => new Date() },
      log: silentLog,
      budget: { remainingMs: () => 60_000 },
      leaseMs: 400,
      renew: async (untilMs) => {
        renewals.push(untilMs);
        return true;
      },
    });

    // Act: work that takes three times the lease.
    await lease.during(() => sleep(1_200));

    // Assess
    expect(renewals.length).toBeGreaterThanOrEqual(2);
    expect(lease.untilMs).toBeGreaterThan(start + 1_200);
    expect(lease.held()).toBe(true);
  });

  it('is lost when another run took the work: held() turns false at once, whatever the clock says', async () => {
    const lease = new Lease(Date.now() + 200, {
      clock: { now: () => new Date() },
      log: silentLog,
      budget: { remainingMs: () => 60_000 },
      leaseMs: 200,
      renew: async () => false,
    });

    await lease.during(() => sleep(300));

    expect(lease.held()).toBe(false);
  });

  it('never renews past the invocation, and its fence keeps the margin', () => {
    const lease = new Lease(Lease.endFrom(1_000, 60_000, { remainingMs: () => 5_000 }), {
      clock: { now: () => new Date(1_000) },
      log: silentLog,
      budget: { remainingMs: () => 5_000 },
      leaseMs: 60_000,
      renew: async () => true,
    });

    expect(lease.untilMs).toBe(6_000);
    expect(lease.fenceMs()).toBe(6_000 - LEASE_MARGIN_MS);
  });
});
