import type { ConnectionRef } from '../model.js';
import type { OutcomeCounts } from './outcome-counts.js';

// The name the progress store's tests know it by.
export { emptyCounts as emptyShardCounts } from './outcome-counts.js';

/**
 * A large delivery as durable data (issue 4, "large audiences"): the fan-out snapshots a
 * record's audience once, splits it into shards, and each shard keeps a cursor, so that
 * a worker that crashes is resumed from where it stopped rather than started over.
 */

/** Names one shard of one plan. */
export interface ShardKey {
  readonly messageId: string;
  /**
   * Id of the plan the shard belongs to. Shards of a plan that lost the race to be the
   * job (two planners of one messageId) carry another id and are never read.
   */
  readonly planId: string;
  readonly index: number;
}

/**
 * What a worker invocation is asked to do: deliver one shard. The dispatch carries the
 * job and the shard's targets when they fit Lambda's asynchronous payload, so that a
 * first run reads neither; a run without them (a re-dispatch by a later invocation, a
 * payload too large) reads them from the progress store.
 */
export interface ShardRequest extends ShardKey {
  readonly job?: DeliveryJob;
  /** `[connectionId, userId]` pairs, as planned. */
  readonly targets?: readonly (readonly [string, string])[];
}

/** One record's delivery, planned. */
export interface DeliveryJob {
  readonly messageId: string;
  readonly planId: string;
  /** The frame, serialised once: every shard posts exactly these bytes. */
  readonly data: string;
  readonly shardCount: number;
  readonly targetCount: number;
  /** ISO; when the audience was read. */
  readonly plannedAt: string;
  /** Posts per second the whole job may make (its share of API Gateway's quota); its shards split it. */
  readonly postsPerSecond: number;
}

/**
 * The next range a worker claims in the same write that completes the current one: one
 * progress write per chunk rather than two.
 */
export interface NextClaim {
  /** End of the next claim, `[until of the completed range, until)`. */
  readonly until: number;
  /** The owner's lease, extended as by a claim. */
  readonly leaseUntilMs: number;
}

/** Throws when `next` cannot follow a completed `[.., until)`: never with `done`, and only forward. */
export function assertNextClaim(until: number, done: boolean, next: NextClaim | undefined): void {
  if (next && (done || next.until <= until)) throw new RangeError(`cannot claim [${until}, ${next.until}) with done=${done}`);
}

/** What became of the posts of a shard: the outcome counts, as its progress keeps them. */
export type ShardCounts = OutcomeCounts;

/** A shard as the progress store holds it. */
export interface ShardState extends ShardKey {
  /** Connections in the shard. */
  readonly total: number;
  /** Every target before this index is done (delivered, gone, failed or in doubt). */
  readonly cursor: number;
  /** Targets in `[cursor, claimedUntil)` are being posted, or were when their owner stopped. */
  readonly claimedUntil: number;
  readonly owner?: string;
  /** Epoch ms when the owner's lease ends; 0 when nobody holds it. */
  readonly leaseUntilMs: number;
  readonly done: boolean;
  readonly counts: ShardCounts;
  /** The shard's audience; present on reads for a worker, dropped once the shard is done. */
  readonly targets?: readonly ConnectionRef[];
}

/** Splits an audience into shards of at most `shardSize` connections, in listing order. */
export function splitIntoShards(audience: readonly ConnectionRef[], shardSize: number): ConnectionRef[][] {
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new RangeError(`shardSize must be a positive integer, got ${shardSize}`);
  const shards: ConnectionRef[][] = [];
  for (let start = 0; start < audience.length; start += shardSize) shards.push(audience.slice(start, start + shardSize));
  return shards;
}
