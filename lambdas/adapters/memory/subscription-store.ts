import { ConnectionNotFoundError } from '../../domain/errors.js';
import type { ConnectionRef } from '../../domain/model.js';
import type { SubscriptionStore } from '../../domain/ports.js';
import { subscribersOf } from './connection-store.js';
import { DEFAULT_MEMORY_PAGE_SIZE, pagesOf, type MemoryState } from './state.js';

/** The in-memory twin of DynamoDbSubscriptionStore. */
export class MemorySubscriptionStore implements SubscriptionStore {
  constructor(
    private readonly state: MemoryState,
    private readonly options: { readonly pageSize?: number } = {},
  ) {}

  async subscribe(ref: ConnectionRef, channels: readonly string[]): Promise<string[]> {
    const connection = this.state.connections.get(ref.connectionId);
    if (!connection) throw new ConnectionNotFoundError(ref.connectionId);
    const held = [...new Set([...connection.channels, ...channels])].sort();
    this.state.connections.set(ref.connectionId, { ...connection, channels: held });
    for (const channel of channels) subscribersOf(this.state, channel).set(ref.connectionId, connection.userId);
    return [...held];
  }

  async unsubscribe(connectionId: string, channels: readonly string[]): Promise<string[]> {
    for (const channel of channels) this.state.subscriptions.get(channel)?.delete(connectionId);
    const connection = this.state.connections.get(connectionId);
    if (!connection) return [];
    const dropped = new Set(channels);
    const held = connection.channels.filter((channel) => !dropped.has(channel));
    this.state.connections.set(connectionId, { ...connection, channels: held });
    return [...held];
  }

  async *listSubscribers(channel: string): AsyncIterable<ConnectionRef[]> {
    const subscribers = [...(this.state.subscriptions.get(channel) ?? new Map<string, string>())]
      .map(([connectionId, userId]) => ({ connectionId, userId }))
      .sort((a, b) => (a.connectionId < b.connectionId ? -1 : 1));
    yield* pagesOf(subscribers, this.options.pageSize ?? DEFAULT_MEMORY_PAGE_SIZE);
  }
}
