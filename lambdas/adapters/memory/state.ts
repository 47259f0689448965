import type { LedgerEntry } from '../../domain/fanout/delivery-ledger.js';
import type { Connection } from '../../domain/model.js';
import type { InboxReadState } from '../../domain/inbox-state.js';
import type { StoredNotification } from '../../domain/ports.js';

/**
 * The data of the in-memory adapters, shared by all of them the way the DynamoDB tables
 * are shared by the DynamoDB adapters. Nothing expires: TTL is DynamoDB's business.
 */
export class MemoryState {
  /** Connections by id (the Connections table). */
  readonly connections = new Map<string, Connection>();
  /** Channel -> connection id -> user id (the Subscriptions table). */
  readonly subscriptions = new Map<string, Map<string, string>>();
  /** User id -> the user's connection ids and when last seen (the Users table). */
  readonly users = new Map<string, { connectionIds: Set<string>; lastSeenAt?: string }>();
  /** Stream key -> sort key -> notification (the Notifications table's stream items). */
  readonly notifications = new Map<string, Map<string, StoredNotification>>();
  /** Stream key -> its head (the `head#` items). */
  readonly heads = new Map<string, { epoch: string; offset: number; takenAtMs: number }>();
  /** Stream key -> tombstoned positions, `{epoch}#{offset}` (the `skip#` items). */
  readonly skips = new Map<string, Set<string>>();
  /** User id -> the inbox read state (the `inbox#` state items). */
  readonly inboxes = new Map<string, InboxReadState>();
  /** messageId -> the fan-out's ledger entry (the `message#` items). */
  readonly ledger = new Map<string, LedgerEntry>();
  /** messageId -> acceptedAt (the `message#` lookup items). */
  readonly acceptedAt = new Map<string, string>();
  /** Token buckets per connection (rateTokens / rateAt on the Connections item). */
  readonly rateBuckets = new Map<string, { tokens: number; at: number }>();
}

/** Items per page when listing. */
export const DEFAULT_MEMORY_PAGE_SIZE = 1000;

export function* pagesOf<T>(items: readonly T[], pageSize: number): Iterable<T[]> {
  for (let start = 0; start < items.length; start += pageSize) yield items.slice(start, start + pageSize);
}
