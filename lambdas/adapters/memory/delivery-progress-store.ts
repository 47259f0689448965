import { addCounts, emptyCounts } from '../../domain/fanout/outcome-counts.js';
import { assertNextClaim, type DeliveryJob, type NextClaim, type ShardCounts, type ShardKey, type ShardState } from '../../domain/fanout/shard-plan.js';
import type { ConnectionRef } from '../../domain/model.js';
import type { DeliveryProgressStore } from '../../domain/ports.js';

interface MutableShard {
  messageId: string;
  planId: string;
  index: number;
  total: number;
  cursor: number;
  claimedUntil: number;
  owner?: string;
  leaseUntilMs: number;
  done: boolean;
  counts: ShardCounts;
  targets?: ConnectionRef[];
}

/**
 * {@link DeliveryProgressStore} in memory, with the DynamoDB one's conditions: the twin
 * the domain tests run against, and the contract suite keeps honest.
 */
export class MemoryDeliveryProgressStore implements DeliveryProgressStore {
  readonly #jobs = new Map<string, DeliveryJob>();
  readonly #shards = new Map<string, MutableShard>();

  async getJob(messageId: string): Promise<DeliveryJob | undefined> {
    const job = this.#jobs.get(messageId);
    return job ? { ...job } : undefined;
  }

  async createJob(job: DeliveryJob, shards: readonly (readonly ConnectionRef[])[], _ttlSeconds?: number): Promise<boolean> {
    shards.forEach((targets, index) => {
      this.#shards.set(keyOf({ messageId: job.messageId, planId: job.planId, index }), {
        messageId: job.messageId,
        planId: job.planId,
        index,
        total: targets.length,
        cursor: 0,
        claimedUntil: 0,
        leaseUntilMs: 0,
        done: false,
        counts: emptyCounts(),
        targets: targets.map((ref) => ({ connectionId: ref.connectionId, userId: ref.userId })),
      });
    });
    if (this.#jobs.has(job.messageId)) return false;
    this.#jobs.set(job.messageId, { ...job });
    return true;
  }

  async getShard(key: ShardKey): Promise<ShardState | undefined> {
    const shard = this.#shards.get(keyOf(key));
    // Like DynamoDB's: the targets are read with a shard only while it is not done.
    return shard ? snapshot(shard, !shard.done) : undefined;
  }

  async listShards(job: DeliveryJob): Promise<ShardState[]> {
    const found: ShardState[] = [];
    for (let index = 0; index < job.shardCount; index += 1) {
      const shard = this.#shards.get(keyOf({ messageId: job.messageId, planId: job.planId, index }));
      if (shard) found.push(snapshot(shard, false));
    }
    return found;
  }

  async acquire(key: ShardKey, owner: string, leaseUntilMs: number, nowMs: number): Promise<ShardState | undefined> {
    const shard = this.#shards.get(keyOf(key));
    if (!shard || shard.done || !(shard.leaseUntilMs <= nowMs || shard.owner === owner)) return undefined;
    shard.owner = owner;
    shard.leaseUntilMs = leaseUntilMs;
    return snapshot(shard, true);
  }

  async acquireAndClaim(
    key: ShardKey,
    owner: string,
    leaseUntilMs: number,
    nowMs: number,
    from: number,
    until: number,
    withTargets: boolean,
  ): Promise<ShardState | undefined> {
    const shard = this.#shards.get(keyOf(key));
    if (!shard || shard.done || !(shard.leaseUntilMs <= nowMs || shard.owner === owner)) return undefined;
    if (shard.cursor !== from || shard.claimedUntil !== from) return undefined;
    shard.owner = owner;
    shard.leaseUntilMs = leaseUntilMs;
    shard.claimedUntil = until;
    return snapshot(shard, withTargets);
  }

  async claim(key: ShardKey, owner: string, from: number, until: number, leaseUntilMs: number): Promise<boolean> {
    const shard = this.#shards.get(keyOf(key));
    if (!shard || shard.owner !== owner || shard.cursor !== from || shard.claimedUntil !== from) return false;
    shard.claimedUntil = until;
    shard.leaseUntilMs = leaseUntilMs;
    return true;
  }

  async complete(key: ShardKey, owner: string, from: number, until: number, counts: ShardCounts, done: boolean, next?: NextClaim): Promise<boolean> {
    assertNextClaim(until, done, next);
    const shard = this.#shards.get(keyOf(key));
    if (!shard || shard.owner !== owner || shard.cursor !== from || shard.claimedUntil !== until) return false;
    if (done && shard.total !== until) return false;
    shard.cursor = until;
    shard.done = done;
    addCounts(shard.counts, counts);
    if (next) {
      shard.claimedUntil = next.until;
      shard.leaseUntilMs = next.leaseUntilMs;
    }
    return true;
  }

  async abandon(key: ShardKey, owner: string, from: number, until: number): Promise<boolean> {
    const shard = this.#shards.get(keyOf(key));
    if (!shard || shard.owner !== owner || shard.cursor !== from || shard.claimedUntil !== until) return false;
    shard.cursor = until;
    shard.counts.inDoubt += until - from;
    return true;
  }

  async extend(key: ShardKey, owner: string, leaseUntilMs: number): Promise<boolean> {
    const shard = this.#shards.get(keyOf(key));
    if (!shard || shard.owner !== owner || shard.done) return false;
    shard.leaseUntilMs = leaseUntilMs;
    return true;
  }

  async release(key: ShardKey, owner: string): Promise<void> {
    const shard = this.#shards.get(keyOf(key));
    if (shard && shard.owner === owner) shard.leaseUntilMs = 0;
  }
}

function keyOf(key: ShardKey): string {
  return `${key.messageId}\u0000${key.planId}\u0000${key.index}`;
}

function snapshot(shard: MutableShard, withTargets: boolean): ShardState {
  const { targets, counts, ...rest } = shard;
  return { ...rest, counts: { ...counts }, ...(withTargets && targets ? { targets: [...targets] } : {}) };
}
