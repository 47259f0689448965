import type { Connection, ConnectionSummary } from '../../domain/model.js';
import { ACTIVITY_SHARDS } from '../../../protocol/tables.js';

/**
 * The Connections item (docs/data-model.md). Subscriptions items carry the same
 * `expiresAt`, so that what TTL removes, it removes together.
 */

/**
 * API Gateway closes every connection after 2 hours; an item that outlives that by an
 * hour belongs to a connection whose `$disconnect` never ran.
 */
export const CONNECTION_TTL_SECONDS = 3 * 60 * 60;

export interface ConnectionItem {
  readonly connectionId: string;
  readonly userId: string;
  readonly roles: string[];
  readonly connectedAt: string;
  /**
   * The activity index's sort key: the connect, then the heartbeats that find it older
   * than their `indexIfBefore`. It lags the last heartbeat, never leads it.
   */
  readonly lastSeenAt: string;
  /**
   * The last heartbeat, exactly: written with the heartbeat's rate token, in no index,
   * so keeping it exact costs nothing. Absent until the first heartbeat.
   */
  readonly heartbeatAt?: string;
  /** A string set; absent when the connection holds no channel (DynamoDB has no empty sets). */
  readonly channels?: Set<string>;
  readonly subprotocol?: string;
  /**
   * ISO; when the connection's token expires. The token-expiry index's sort key (sparse:
   * absent, the connection is not listed there); moved only by `refresh`.
   */
  readonly tokenExpiresAt?: string;
  /** True when the client drops duplicates by stream position (`?dedupe=1`); read only by a takeover. */
  readonly dedupe?: boolean;
  /** Partition of the activity index and of the token-expiry index. */
  readonly shard: number;
  /** Epoch seconds; the table's TTL attribute. */
  readonly expiresAt: number;
}

/**
 * A stable shard for a connection id (FNV-1a, 32 bit): the same id always lands in the
 * same partition of the activity index, and ids spread evenly over ACTIVITY_SHARDS.
 */
export function activityShard(connectionId: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < connectionId.length; index++) {
    hash ^= connectionId.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % ACTIVITY_SHARDS;
}

export function connectionExpiresAt(connectedAt: string): number {
  return Math.floor(Date.parse(connectedAt) / 1000) + CONNECTION_TTL_SECONDS;
}

export function toConnectionItem(connection: Connection): ConnectionItem {
  return {
    connectionId: connection.connectionId,
    userId: connection.userId,
    roles: [...connection.roles],
    connectedAt: connection.connectedAt,
    lastSeenAt: connection.lastSeenAt,
    ...(connection.channels.length > 0 ? { channels: new Set(connection.channels) } : {}),
    ...(connection.subprotocol !== undefined ? { subprotocol: connection.subprotocol } : {}),
    ...(connection.tokenExpiresAt !== undefined ? { tokenExpiresAt: connection.tokenExpiresAt } : {}),
    ...(connection.dedupe ? { dedupe: true } : {}),
    shard: activityShard(connection.connectionId),
    expiresAt: connectionExpiresAt(connection.connectedAt),
  };
}

export function fromConnectionItem(item: Record<string, unknown>): Connection {
  return {
    connectionId: item.connectionId as string,
    userId: item.userId as string,
    roles: (item.roles as string[] | undefined) ?? [],
    connectedAt: item.connectedAt as string,
    lastSeenAt: lastSeenAtOf(item),
    channels: sortedChannels(item.channels),
    ...(typeof item.subprotocol === 'string' ? { subprotocol: item.subprotocol } : {}),
    ...(typeof item.tokenExpiresAt === 'string' ? { tokenExpiresAt: item.tokenExpiresAt } : {}),
    ...(item.dedupe === true ? { dedupe: true } : {}),
  };
}

/**
 * When the connection was last seen, exactly: the later of the index's `lastSeenAt` and
 * `heartbeatAt`. Every decision that a connection is stale is taken on this value.
 */
export function lastSeenAtOf(item: Record<string, unknown>): string {
  const indexed = item.lastSeenAt as string;
  const beat = item.heartbeatAt;
  return typeof beat === 'string' && beat > indexed ? beat : indexed;
}

/**
 * A connection as the activity index lists it. Its `lastSeenAt` is the index's copy and
 * may lag the last heartbeat (heartbeatAt is not projected: projecting it would cost two
 * index writes per heartbeat), so a listing by age is a superset to check with a read.
 */
export function fromActivityIndexItem(item: Record<string, unknown>): ConnectionSummary {
  return {
    connectionId: item.connectionId as string,
    userId: item.userId as string,
    lastSeenAt: item.lastSeenAt as string,
    channels: sortedChannels(item.channels),
  };
}

/** A string set attribute as a sorted list; absent means none. */
export function sortedChannels(value: unknown): string[] {
  if (value instanceof Set) return [...(value as Set<string>)].sort();
  if (Array.isArray(value)) return [...(value as string[])].sort();
  return [];
}
