import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { UserPresence } from '../../domain/model.js';
import type { PresenceStore } from '../../domain/ports.js';
import { batchGetAll } from './batch-operations.js';
import type { DynamoDbStoreProps } from './store-props.js';
import type { TableNames } from './tables.js';

/** Presence from the Users items: how many connection ids the user's set lists, and when last seen. */
export class DynamoDbPresenceStore implements PresenceStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tables: TableNames;

  constructor(props: DynamoDbStoreProps) {
    this.client = props.client;
    this.tables = props.tables;
  }

  async getPresence(userIds: readonly string[]): Promise<Map<string, UserPresence>> {
    const unique = [...new Set(userIds)];
    // Eventually consistent: presence a second old is still presence, at half the cost.
    const items = await batchGetAll(
      this.client,
      this.tables.Users,
      unique.map((userId) => ({ userId })),
      { projection: ['userId', 'connectionIds', 'lastSeenAt'] },
    );
    const presence = new Map<string, UserPresence>();
    for (const item of items) {
      const connectionIds = item.connectionIds;
      presence.set(item.userId as string, {
        connections: connectionIds instanceof Set ? connectionIds.size : 0,
        ...(typeof item.lastSeenAt === 'string' ? { lastSeenAt: item.lastSeenAt } : {}),
      });
    }
    return presence;
  }
}
