import { randomUUID } from 'node:crypto';
import type { Connection, ConnectionRef } from '../../../lambdas/domain/model.js';
import type { ConnectionStore, DeliveryLedger, NotificationLog, PresenceStore, RateLimiter, SubscriptionStore } from '../../../lambdas/domain/ports.js';
import { automaticChannels } from '../../../protocol/channels.js';

/** The ports of one implementation, sharing one store, as the contract suites use them. */
export interface PortSet {
  readonly connections: ConnectionStore;
  readonly subscriptions: SubscriptionStore;
  readonly presence: PresenceStore;
  readonly notifications: NotificationLog;
  /** Over the same notifications store. */
  readonly ledger: DeliveryLedger;
  /** A new limiter over the same store: a second call is a second Lambda container. */
  rateLimiter(options: { ratePerSecond: number; burst: number }): RateLimiter;
  /**
   * Deletes only the connection's own item, leaving the user's entry and the
   * subscriptions behind, as a TTL expiry or a lost `$disconnect` would.
   */
  loseConnectionItem(connectionId: string): Promise<void>;
  /**
   * Stores subscriptions of `channel` in bulk, as that many subscribe calls would, but
   * without a connection each: test data for listing large channels, cheaply.
   */
  seedSubscriptions(channel: string, subscribers: readonly ConnectionRef[]): Promise<void>;
}

export type PortSetFactory = () => Promise<PortSet>;

/** A connection of a user of its own, unless told otherwise. */
export function aConnection(overrides: Partial<Connection> = {}): Connection {
  const userId = overrides.userId ?? `user-${randomUUID()}`;
  const now = new Date().toISOString();
  return {
    connectionId: `conn-${randomUUID()}`,
    userId,
    roles: [],
    connectedAt: now,
    lastSeenAt: now,
    channels: automaticChannels(userId),
    ...overrides,
  };
}

/** Everything an async iterable of pages yields, and how many pages there were. */
export async function collectPages<T>(pages: AsyncIterable<T[]>): Promise<{ items: T[]; pageCount: number }> {
  const items: T[] = [];
  let pageCount = 0;
  for await (const page of pages) {
    pageCount++;
    items.push(...page);
  }
  return { items, pageCount };
}

/** Runs `work` over `inputs`, at most `concurrency` at a time. */
export async function inBatches<T>(inputs: readonly T[], concurrency: number, work: (input: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, inputs.length) }, async () => {
    while (next < inputs.length) await work(inputs[next++] as T);
  });
  await Promise.all(lanes);
}

export const GENEROUS_LIMIT = { limit: 1_000, staleBefore: '1970-01-01T00:00:00.000Z' } as const;
