import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { UserPresence } from '../../domain/model.js';
import type { PresenceStore, UserPresenceWithChannels } from '../../domain/ports.js';
import { batchGetAll } from './batch-operations.js';
import { sortedChannels } from './connection-item.js';
import type { DynamoDbStoreProps } from './store-props.js';
import type { TableNames } from '../../../protocol/tables.js';

/** Presence from the Users items: how many connection ids the user's set lists, and when last seen. */
export class DynamoDbPresenceStore implements PresenceStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tables: TableNames;

  constructor(props: DynamoDbStoreProps) {
    this.client = props.client;
    this.tables = props.tables;
  }

  async getPresence(userIds: readonly string[]): Promise<Map<string, UserPresence>> {
    const presence = new Map<string, UserPresence>();
    for (const [userId, entry] of await this.readUsers(userIds)) {
      presence.set(userId, { connections: entry.connectionIds.length, ...(entry.lastSeenAt ? { lastSeenAt: entry.lastSeenAt } : {}) });
    }
    return presence;
  }

  /**
   * Two batched key reads: the Users items, then the Connections items they list
   * (channels only). Never a query of a channel's subscribers: a popular channel may
   * have millions, a user has at most `connectionsPerUser` connections read.
   */
  async getPresenceWithChannels(userIds: readonly string[], options: { readonly connectionsPerUser: number }): Promise<Map<string, UserPresenceWithChannels>> {
    const users = await this.readUsers(userIds);
    const owners = new Map<string, string>();
    for (const [userId, entry] of users) {
      for (const connectionId of entry.connectionIds.slice(0, options.connectionsPerUser)) owners.set(connectionId, userId);
    }
    const connections = await batchGetAll(
      this.client,
      this.tables.Connections,
      [...owners.keys()].map((connectionId) => ({ connectionId })),
      { projection: ['connectionId', 'userId', 'channels'] },
    );
    const channelsByUser = new Map<string, Set<string>>();
    for (const item of connections) {
      const userId = owners.get(item.connectionId as string);
      // A connection id is never reused for another user; checked all the same.
      if (userId === undefined || item.userId !== userId) continue;
      let channels = channelsByUser.get(userId);
      if (!channels) channelsByUser.set(userId, (channels = new Set()));
      for (const channel of sortedChannels(item.channels)) channels.add(channel);
    }
    const presence = new Map<string, UserPresenceWithChannels>();
    for (const [userId, entry] of users) {
      presence.set(userId, {
        connections: entry.connectionIds.length,
        ...(entry.lastSeenAt ? { lastSeenAt: entry.lastSeenAt } : {}),
        channels: channelsByUser.get(userId) ?? new Set(),
      });
    }
    return presence;
  }

  private async readUsers(userIds: readonly string[]): Promise<Map<string, { connectionIds: string[]; lastSeenAt?: string }>> {
    const unique = [...new Set(userIds)];
    // Eventually consistent: presence a second old is still presence, at half the cost.
    const items = await batchGetAll(
      this.client,
      this.tables.Users,
      unique.map((userId) => ({ userId })),
      { projection: ['userId', 'connectionIds', 'lastSeenAt'] },
    );
    const users = new Map<string, { connectionIds: string[]; lastSeenAt?: string }>();
    for (const item of items) {
      users.set(item.userId as string, {
        // sortedChannels reads any string set as a sorted list; here, of connection ids.
        connectionIds: sortedChannels(item.connectionIds),
        ...(typeof item.lastSeenAt === 'string' ? { lastSeenAt: item.lastSeenAt } : {}),
      });
    }
    return users;
  }
}
