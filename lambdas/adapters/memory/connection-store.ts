import { ConnectionLimitError, NotificationServiceError } from '../../domain/errors.js';
import type { Connection, ConnectionRef, ConnectionSummary } from '../../domain/model.js';
import type { ConnectionStore } from '../../domain/ports.js';
import { DEFAULT_MEMORY_PAGE_SIZE, pagesOf, type MemoryState } from './state.js';

/** The in-memory twin of DynamoDbConnectionStore: the same rules, each step atomic. */
export class MemoryConnectionStore implements ConnectionStore {
  constructor(
    private readonly state: MemoryState,
    private readonly options: { readonly pageSize?: number } = {},
  ) {}

  async open(connection: Connection, options: { readonly limit: number; readonly staleBefore: string }): Promise<void> {
    const existing = this.state.connections.get(connection.connectionId);
    if (existing) {
      if (existing.userId !== connection.userId) {
        throw new NotificationServiceError(`connection ${connection.connectionId} is already stored for another user`);
      }
      return;
    }
    const user = this.state.users.get(connection.userId) ?? { connectionIds: new Set<string>() };
    if (user.connectionIds.size >= options.limit) {
      for (const connectionId of [...user.connectionIds]) {
        const listed = this.state.connections.get(connectionId);
        if (!listed || listed.lastSeenAt < options.staleBefore) user.connectionIds.delete(connectionId);
      }
      if (user.connectionIds.size >= options.limit) throw new ConnectionLimitError(connection.userId, options.limit);
    }
    user.connectionIds.add(connection.connectionId);
    user.lastSeenAt = connection.lastSeenAt;
    this.state.users.set(connection.userId, user);
    const channels = [...new Set(connection.channels)].sort();
    this.state.connections.set(connection.connectionId, { ...connection, roles: [...connection.roles], channels });
    for (const channel of channels) subscribersOf(this.state, channel).set(connection.connectionId, connection.userId);
  }

  async get(connectionId: string): Promise<Connection | undefined> {
    const connection = this.state.connections.get(connectionId);
    return connection ? copyOf(connection) : undefined;
  }

  async remove(connectionId: string): Promise<Connection | undefined> {
    const connection = this.state.connections.get(connectionId);
    if (!connection) return undefined;
    for (const channel of connection.channels) this.state.subscriptions.get(channel)?.delete(connectionId);
    const user = this.state.users.get(connection.userId);
    if (user) {
      user.connectionIds.delete(connectionId);
      // As DynamoDbConnectionStore: presence's lastSeenAt moves on close, not per heartbeat.
      if (user.lastSeenAt === undefined || user.lastSeenAt < connection.lastSeenAt) user.lastSeenAt = connection.lastSeenAt;
    }
    this.state.connections.delete(connectionId);
    this.state.rateBuckets.delete(connectionId);
    return copyOf(connection);
  }

  async listByUser(userId: string): Promise<ConnectionRef[]> {
    return [...this.state.connections.values()]
      .filter((connection) => connection.userId === userId)
      .map((connection) => ({ connectionId: connection.connectionId, userId }))
      .sort((a, b) => (a.connectionId < b.connectionId ? -1 : 1));
  }

  listAll(): AsyncIterable<ConnectionSummary[]> {
    return this.listActivity(() => true);
  }

  listIdleSince(cutoff: string): AsyncIterable<ConnectionSummary[]> {
    return this.listActivity((connection) => connection.lastSeenAt < cutoff);
  }

  async extendToken(
    connectionId: string,
    userId: string,
    expiresAt: string,
  ): Promise<{ readonly status: 'extended' } | { readonly status: 'not-later'; readonly current: string } | { readonly status: 'unknown' }> {
    const connection = this.state.connections.get(connectionId);
    if (!connection || connection.userId !== userId) return { status: 'unknown' };
    if (connection.tokenExpiresAt !== undefined && connection.tokenExpiresAt >= expiresAt) {
      return { status: 'not-later', current: connection.tokenExpiresAt };
    }
    this.state.connections.set(connectionId, { ...connection, tokenExpiresAt: expiresAt });
    return { status: 'extended' };
  }

  async *listTokenExpiredBefore(cutoff: string): AsyncIterable<ConnectionRef[]> {
    const expired = [...this.state.connections.values()]
      .filter((connection) => connection.tokenExpiresAt !== undefined && connection.tokenExpiresAt < cutoff)
      .map((connection) => ({ connectionId: connection.connectionId, userId: connection.userId }));
    yield* pagesOf(expired, this.options.pageSize ?? DEFAULT_MEMORY_PAGE_SIZE);
  }

  private async *listActivity(include: (connection: Connection) => boolean): AsyncIterable<ConnectionSummary[]> {
    const summaries = [...this.state.connections.values()].filter(include).map((connection) => ({
      connectionId: connection.connectionId,
      userId: connection.userId,
      lastSeenAt: connection.lastSeenAt,
      channels: [...connection.channels],
    }));
    yield* pagesOf(summaries, this.options.pageSize ?? DEFAULT_MEMORY_PAGE_SIZE);
  }
}

export function subscribersOf(state: MemoryState, channel: string): Map<string, string> {
  let subscribers = state.subscriptions.get(channel);
  if (!subscribers) {
    subscribers = new Map();
    state.subscriptions.set(channel, subscribers);
  }
  return subscribers;
}

function copyOf(connection: Connection): Connection {
  return { ...connection, roles: [...connection.roles], channels: [...connection.channels] };
}
