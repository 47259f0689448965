import { describe, expect, it } from 'vitest';
import { ConnectionDelivery } from '../../lambdas/domain/fanout/connection-delivery.js';
import { TokenBucket } from '../../lambdas/domain/fanout/post-quota.js';
import type { ConnectionStore, Log, MessageSender } from '../../lambdas/domain/ports.js';

const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** A clock that only moves when the bucket sleeps. */
function fakeTime() {
  let now = 0;
  return { now: () => now, sleep: async (ms: number) => void (now += ms), at: () => now };
}

describe('TokenBucket', () => {
  it('lets a full burst through at once, then one take per 1/rate seconds', async () => {
    const time = fakeTime();
    const bucket = new TokenBucket({ ratePerSecond: 100, burst: 10, now: time.now, sleep: time.sleep });

    for (let index = 0; index < 10; index += 1) await bucket.take();
    expect(time.at()).toBe(0);
    for (let index = 0; index < 50; index += 1) await bucket.take();

    // 50 tokens beyond the burst at 100 per second: half a second.
    expect(time.at()).toBeGreaterThanOrEqual(500);
    expect(time.at()).toBeLessThan(520);
  });

  it('serves concurrent takers in order without handing out more than the rate allows', async () => {
    const time = fakeTime();
    const bucket = new TokenBucket({ ratePerSecond: 1000, burst: 1, now: time.now, sleep: time.sleep });

    await Promise.all(Array.from({ length: 200 }, () => bucket.take()));

    expect(time.at()).toBeGreaterThanOrEqual(199);
  });

  it('refuses a rate that is not a positive number', () => {
    expect(() => new TokenBucket({ ratePerSecond: 0 })).toThrow(/ratePerSecond must be a positive number, got 0/);
  });
});

describe('ConnectionDelivery under a quota', () => {
  it('takes a token before every attempt, retries included', async () => {
    let takes = 0;
    let calls = 0;
    const sender: MessageSender = {
      async post() {
        calls += 1;
        if (calls === 1) throw new (await import('../../lambdas/domain/errors.js')).ThrottledError('429');
      },
      async close() {},
    };
    const delivery = new ConnectionDelivery({
      sender,
      connections: {} as ConnectionStore,
      log: silentLog,
      concurrency: 2,
      sleep: async () => {},
      random: () => 0,
    });

    const report = await delivery.deliver(
      [
        [
          { connectionId: 'a', userId: 'u' },
          { connectionId: 'b', userId: 'v' },
        ],
      ],
      '{}',
      {
        quota: { take: async () => void (takes += 1) },
      },
    );

    expect(report).toMatchObject({ delivered: 2, retried: 1, throttled: 1 });
    expect(takes).toBe(3);
  });
});
