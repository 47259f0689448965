import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { activityShard, CONNECTION_TTL_SECONDS } from '../../lambdas/adapters/dynamodb/connection-item.js';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb/connection-store.js';
import { DynamoDbDeliveryLedger } from '../../lambdas/adapters/dynamodb/delivery-ledger.js';
import { DynamoDbNotificationLog } from '../../lambdas/adapters/dynamodb/notification-log.js';
import { ACTIVITY_SHARDS, TABLES } from '../../protocol/tables.js';
import { createTables } from '../../local/dynamodb-local.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';
import { aConnection, GENEROUS_LIMIT } from './contracts/port-set.js';

/** The items as docs/data-model.md describes them, read back raw from DynamoDB Local. */
describe('DynamoDB data model', () => {
  let dynamoDb: TestTables;
  beforeAll(async () => {
    dynamoDb = await createTestTables();
  });

  describe('createTables', () => {
    it('creates every table with its indexes and TTL, and leaves existing tables alone when run again', async () => {
      // Prepare
      const prefix = dynamoDb.tables.Connections.slice(0, -'Connections'.length);
      const client = new DynamoDBClient({ endpoint: dynamoDb.endpoint });

      // Act
      const again = await createTables(client, prefix);

      // Assess
      expect(again).toEqual(dynamoDb.tables);
      for (const table of TABLES) {
        const name = dynamoDb.tables[table.id];
        const described = await dynamoDb.client.send(new DescribeTableCommand({ TableName: name }));
        expect(described.Table?.BillingModeSummary?.BillingMode ?? 'PAY_PER_REQUEST').toBe('PAY_PER_REQUEST');
        expect((described.Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName).sort()).toEqual(
          table.globalSecondaryIndexes.map((index) => index.indexName).sort(),
        );
        const ttl = await dynamoDb.client.send(new DescribeTimeToLiveCommand({ TableName: name }));
        expect(ttl.TimeToLiveDescription?.AttributeName).toBe(table.timeToLiveAttribute);
      }
    });
  });

  describe('Connections and Subscriptions items', () => {
    it('carry the shard of the activity index and a TTL of connectedAt + 3 h, shared with the subscriptions', async () => {
      // Prepare
      const store = new DynamoDbConnectionStore(dynamoDb);
      const connection = aConnection({ connectedAt: '2030-01-01T00:00:00.000Z', lastSeenAt: '2030-01-01T00:00:00.000Z' });

      // Act
      await store.open(connection, GENEROUS_LIMIT);

      // Assess
      const expiresAt = Date.parse(connection.connectedAt) / 1000 + CONNECTION_TTL_SECONDS;
      const { Item: item } = await dynamoDb.client.send(
        new GetCommand({ TableName: dynamoDb.tables.Connections, Key: { connectionId: connection.connectionId } }),
      );
      expect(item).toMatchObject({
        connectionId: connection.connectionId,
        userId: connection.userId,
        roles: [],
        shard: activityShard(connection.connectionId),
        expiresAt,
        channels: new Set(connection.channels),
      });
      const subscriptions = await dynamoDb.client.send(
        new QueryCommand({
          TableName: dynamoDb.tables.Subscriptions,
          KeyConditionExpression: 'channel = :channel',
          ExpressionAttributeValues: { ':channel': connection.channels[0] },
        }),
      );
      expect(subscriptions.Items).toEqual([{ channel: connection.channels[0], connectionId: connection.connectionId, userId: connection.userId, expiresAt }]);
      const { Item: user } = await dynamoDb.client.send(new GetCommand({ TableName: dynamoDb.tables.Users, Key: { userId: connection.userId } }));
      expect(user).toEqual({
        userId: connection.userId,
        connectionIds: new Set([connection.connectionId]),
        lastSeenAt: connection.lastSeenAt,
      });
    });

    it('spreads connection ids over every activity shard, each id always to the same one', () => {
      // Act
      const shards = Array.from({ length: 2_000 }, (_, index) => activityShard(`connection-${index}=`));

      // Assess
      expect(new Set(shards).size).toBe(ACTIVITY_SHARDS);
      expect(activityShard('connection-7=')).toBe(shards[7]);
      expect(Math.min(...shards)).toBe(0);
      expect(Math.max(...shards)).toBe(ACTIVITY_SHARDS - 1);
    });
  });

  describe('Notifications items', () => {
    it('keep one item per stream sorted by acceptedAt#messageId, and a messageId lookup, all with a TTL', async () => {
      // Prepare
      const log = new DynamoDbNotificationLog(dynamoDb);
      const messageId = '9c8f9a43-3f53-4c8e-9e55-2f0f6b7a0d11';
      const acceptedAt = '2030-01-01T00:00:00.000Z';
      const frame = {
        messageId,
        type: 'notification' as const,
        timestamp: acceptedAt,
        channel: 'booking-updates',
        payload: { notificationId: 'n1', title: 't', message: 'm', priority: 'low' as const, createdAt: acceptedAt },
      };
      const before = Math.floor(Date.now() / 1000);

      // Act: the fan-out's ledger writes the lookup item (its entry) and the stream items at once.
      await log.append({ messageId, acceptedAt, frame }, [{ kind: 'channel', channel: 'booking-updates' }], 600);
      await new DynamoDbDeliveryLedger(dynamoDb).begin(
        { messageId, acceptedAt, frame },
        [{ kind: 'user', userId: 'alice' }],
        { owner: 'run-1', leaseUntilMs: 1 },
        600,
      );

      // Assess
      for (const pk of ['channel#booking-updates', 'user#alice']) {
        const { Item } = await dynamoDb.client.send(
          new GetCommand({ TableName: dynamoDb.tables.Notifications, Key: { pk, sk: `${acceptedAt}#${messageId}` } }),
        );
        expect(Item).toMatchObject({ messageId, acceptedAt, frame: JSON.stringify(frame) });
        expect(Item?.expiresAt).toBeGreaterThanOrEqual(before + 600);
      }
      const { Item: lookup } = await dynamoDb.client.send(
        new GetCommand({ TableName: dynamoDb.tables.Notifications, Key: { pk: `message#${messageId}`, sk: 'message' } }),
      );
      expect(lookup).toMatchObject({ acceptedAt, status: 'posting', owner: 'run-1', leaseUntilMs: 1 });
      expect(lookup?.expiresAt).toBeGreaterThanOrEqual(before + 600);
    });
  });
});
