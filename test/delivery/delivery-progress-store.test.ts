import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbDeliveryProgressStore } from '../../lambdas/adapters/dynamodb/delivery-progress-store.js';
import { MemoryDeliveryProgressStore } from '../../lambdas/adapters/memory/delivery-progress-store.js';
import { emptyShardCounts, type DeliveryJob } from '../../lambdas/domain/fanout/shard-plan.js';
import type { DeliveryProgressStore } from '../../lambdas/domain/ports.js';
import { createTestTables } from '../support/dynamodb.js';

/** One contract, both implementations: the memory twin may not be kinder than DynamoDB. */
const implementations: Array<[string, () => Promise<DeliveryProgressStore>]> = [
  ['MemoryDeliveryProgressStore', async () => new MemoryDeliveryProgressStore()],
  [
    'DynamoDbDeliveryProgressStore (DynamoDB Local)',
    async () => {
      const { client, tables } = await createTestTables();
      return new DynamoDbDeliveryProgressStore({ client, tables });
    },
  ],
];

function aJob(shardCount: number): DeliveryJob {
  return {
    messageId: randomUUID(),
    planId: randomUUID(),
    data: '{"type":"notification"}',
    shardCount,
    targetCount: shardCount * 3,
    plannedAt: '2024-06-01T12:00:00.000Z',
    postsPerSecond: 100,
  };
}

const refs = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => ({ connectionId: `${prefix}${index}`, userId: `u${index}` }));

describe.each(implementations)('%s', (_name, build) => {
  let store: DeliveryProgressStore;

  beforeAll(async () => {
    store = await build();
  });

  it('stores a plan once: a second plan for the same messageId loses, and the first one stands', async () => {
    const job = aJob(2);
    const rival = { ...aJob(1), messageId: job.messageId };

    expect(await store.createJob(job, [refs('a', 3), refs('b', 3)], 3600)).toBe(true);
    expect(await store.createJob(rival, [refs('z', 3)], 3600)).toBe(false);

    expect(await store.getJob(job.messageId)).toEqual(job);
    const shards = await store.listShards(job);
    expect(shards.map((shard) => [shard.index, shard.total, shard.cursor, shard.done])).toEqual([
      [0, 3, 0, false],
      [1, 3, 0, false],
    ]);
    expect(shards[0]!.targets).toBeUndefined();
    expect((await store.getShard({ messageId: job.messageId, planId: job.planId, index: 1 }))!.targets).toEqual(refs('b', 3));
  });

  it('runs a shard through acquire, claim and complete, and drops its targets when done', async () => {
    const job = aJob(1);
    await store.createJob(job, [refs('c', 3)], 3600);
    const key = { messageId: job.messageId, planId: job.planId, index: 0 };

    expect(await store.acquire(key, 'w1', 10_000, 1_000)).toMatchObject({ cursor: 0, claimedUntil: 0, owner: 'w1' });
    expect(await store.claim(key, 'w1', 0, 2, 10_000)).toBe(true);
    expect(await store.complete(key, 'w1', 0, 2, { ...emptyShardCounts(), delivered: 2 }, false)).toBe(true);
    expect(await store.claim(key, 'w1', 2, 3, 10_000)).toBe(true);
    // `done` only at the shard's end.
    expect(await store.complete(key, 'w1', 2, 2, emptyShardCounts(), true)).toBe(false);
    expect(await store.complete(key, 'w1', 2, 3, { ...emptyShardCounts(), gone: 1 }, true)).toBe(true);

    const shard = await store.getShard(key);
    expect(shard).toMatchObject({ cursor: 3, claimedUntil: 3, done: true, counts: { delivered: 2, gone: 1, inDoubt: 0 } });
    expect(shard!.targets).toBeUndefined();
    expect(await store.acquire(key, 'w2', 99_000, 50_000)).toBeUndefined();
  });

  it('completes a chunk and claims the next one in one write', async () => {
    const job = aJob(1);
    await store.createJob(job, [refs('n', 5)], 3600);
    const key = { messageId: job.messageId, planId: job.planId, index: 0 };
    await store.acquire(key, 'w1', 10_000, 1_000);
    await store.claim(key, 'w1', 0, 2, 10_000);

    expect(await store.complete(key, 'w1', 0, 2, { ...emptyShardCounts(), delivered: 2 }, false, { until: 4, leaseUntilMs: 30_000 })).toBe(true);
    expect(await store.getShard(key)).toMatchObject({ cursor: 2, claimedUntil: 4, leaseUntilMs: 30_000, done: false, targets: refs('n', 5) });
    // The claim it made is as fenced as any other: a repeat of the same write fails.
    expect(await store.complete(key, 'w1', 0, 2, emptyShardCounts(), false, { until: 4, leaseUntilMs: 30_000 })).toBe(false);
    expect(await store.complete(key, 'w1', 2, 4, { ...emptyShardCounts(), delivered: 2 }, false, { until: 5, leaseUntilMs: 30_000 })).toBe(true);
    expect(await store.complete(key, 'w1', 4, 5, { ...emptyShardCounts(), delivered: 1 }, true)).toBe(true);
    expect(await store.getShard(key)).toMatchObject({ cursor: 5, claimedUntil: 5, done: true, counts: { delivered: 5 } });
  });

  it('hands a taker-over the claim a combined write left behind', async () => {
    const job = aJob(1);
    await store.createJob(job, [refs('m', 6)], 3600);
    const key = { messageId: job.messageId, planId: job.planId, index: 0 };
    await store.acquire(key, 'crashed', 5_000, 1_000);
    await store.claim(key, 'crashed', 0, 3, 5_000);
    await store.complete(key, 'crashed', 0, 3, { ...emptyShardCounts(), delivered: 3 }, false, { until: 6, leaseUntilMs: 5_000 });

    expect(await store.acquire(key, 'next', 20_000, 6_000)).toMatchObject({ cursor: 3, claimedUntil: 6, owner: 'next', targets: refs('m', 6) });
    expect(await store.abandon(key, 'next', 3, 6)).toBe(true);
    expect(await store.complete(key, 'next', 6, 6, emptyShardCounts(), true)).toBe(true);
    expect(await store.getShard(key)).toMatchObject({ done: true, counts: { delivered: 3, inDoubt: 3 } });
  });

  it('fences owners: no second lease while one holds, and a new owner takes over an abandoned claim as in doubt', async () => {
    const job = aJob(1);
    await store.createJob(job, [refs('d', 5)], 3600);
    const key = { messageId: job.messageId, planId: job.planId, index: 0 };
    await store.acquire(key, 'crashed', 5_000, 1_000);
    await store.claim(key, 'crashed', 0, 2, 5_000);

    // The lease holds until 5 000.
    expect(await store.acquire(key, 'next', 20_000, 4_000)).toBeUndefined();
    const taken = await store.acquire(key, 'next', 20_000, 6_000);
    expect(taken).toMatchObject({ cursor: 0, claimedUntil: 2, owner: 'next' });
    // The crashed owner can no longer record anything.
    expect(await store.complete(key, 'crashed', 0, 2, emptyShardCounts(), false)).toBe(false);
    expect(await store.abandon(key, 'next', 0, 2)).toBe(true);
    expect(await store.claim(key, 'next', 2, 5, 20_000)).toBe(true);

    expect(await store.getShard(key)).toMatchObject({ cursor: 2, claimedUntil: 5, counts: { inDoubt: 2 } });
  });

  it("extends the owner's lease, and no one else's", async () => {
    const job = aJob(1);
    await store.createJob(job, [refs('x', 2)], 3600);
    const key = { messageId: job.messageId, planId: job.planId, index: 0 };
    await store.acquire(key, 'slow', 5_000, 1_000);

    expect(await store.extend(key, 'slow', 9_000)).toBe(true);
    expect(await store.extend(key, 'stranger', 30_000)).toBe(false);

    // Held until 9 000 now, not 5 000.
    expect(await store.acquire(key, 'next', 20_000, 6_000)).toBeUndefined();
    expect(await store.getShard(key)).toMatchObject({ owner: 'slow', leaseUntilMs: 9_000 });
  });

  it('takes the lease and claims the first chunk in one write, only on a shard as planned and free', async () => {
    const job = aJob(1);
    await store.createJob(job, [refs('y', 5)], 3600);
    const key = { messageId: job.messageId, planId: job.planId, index: 0 };

    const first = await store.acquireAndClaim(key, 'one', 5_000, 1_000, 0, 3, true);
    expect(first).toMatchObject({ owner: 'one', cursor: 0, claimedUntil: 3, leaseUntilMs: 5_000 });
    expect(first?.targets).toHaveLength(5);
    // Held: another run gets nothing, and neither does one that expects a clean shard later.
    expect(await store.acquireAndClaim(key, 'two', 20_000, 2_000, 0, 3, false)).toBeUndefined();
    expect(await store.acquireAndClaim(key, 'two', 20_000, 6_000, 0, 3, false)).toBeUndefined();
    // The long way finds the claim left behind, for the in-doubt rule.
    expect(await store.acquire(key, 'two', 20_000, 6_000)).toMatchObject({ owner: 'two', cursor: 0, claimedUntil: 3 });
  });

  it('lets a released shard be taken at once', async () => {
    const job = aJob(1);
    await store.createJob(job, [refs('e', 2)], 3600);
    const key = { messageId: job.messageId, planId: job.planId, index: 0 };
    await store.acquire(key, 'tired', 60_000, 1_000);

    await store.release(key, 'tired');

    expect(await store.acquire(key, 'fresh', 60_000, 2_000)).toMatchObject({ owner: 'fresh' });
  });
});
