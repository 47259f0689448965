import { describe, expect, it } from 'vitest';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll } from '../../lambdas/adapters/dynamodb/batch-operations.js';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb/connection-store.js';
import { DynamoDbDeliveryLedger } from '../../lambdas/adapters/dynamodb/delivery-ledger.js';
import { DynamoDbInboxStore } from '../../lambdas/adapters/dynamodb/inbox-store.js';
import { DynamoDbNotificationLog } from '../../lambdas/adapters/dynamodb/notification-log.js';
import { DynamoDbPresenceChannelStore } from '../../lambdas/adapters/dynamodb/presence-channel-store.js';
import { DynamoDbPresenceStore } from '../../lambdas/adapters/dynamodb/presence-store.js';
import { DynamoDbRateLimiter } from '../../lambdas/adapters/dynamodb/rate-limiter.js';
import { DynamoDbSubscriptionStore } from '../../lambdas/adapters/dynamodb/subscription-store.js';
import { createTestTables } from '../support/dynamodb.js';
import { describeConnectionStoreContract } from './contracts/connection-store.contract.js';
import { describeDeliveryLedgerContract } from './contracts/delivery-ledger.contract.js';
import { describeInboxStoreContract } from './contracts/inbox-store.contract.js';
import { describeNotificationLogContract } from './contracts/notification-log.contract.js';
import type { PortSetFactory } from './contracts/port-set.js';
import { describePresenceChannelStoreContract } from './contracts/presence-channel-store.contract.js';
import { describePresenceStoreContract } from './contracts/presence-store.contract.js';
import { describeRateLimiterContract } from './contracts/rate-limiter.contract.js';
import { describeSubscriptionStoreContract } from './contracts/subscription-store.contract.js';

/** Fresh tables in the run's DynamoDB Local for each suite. */
const createDynamoDbPorts: PortSetFactory = async () => {
  const { client, tables } = await createTestTables();
  const props = { client, tables };
  return {
    connections: new DynamoDbConnectionStore(props),
    // 1,000 a page rather than DynamoDB's 1 MB, so that the contract's 1,500 span pages.
    subscriptions: new DynamoDbSubscriptionStore({ ...props, pageSize: 1000 }),
    presence: new DynamoDbPresenceStore(props),
    notifications: new DynamoDbNotificationLog(props),
    ledger: new DynamoDbDeliveryLedger(props),
    rateLimiter: (options) => new DynamoDbRateLimiter({ ...props, ...options }),
    loseConnectionItem: async (connectionId) => {
      await client.send(new DeleteCommand({ TableName: tables.Connections, Key: { connectionId } }));
    },
    seedSubscriptions: (channel, subscribers) =>
      batchWriteAll(
        client,
        tables.Subscriptions,
        subscribers.map(({ connectionId, userId }) => ({ PutRequest: { Item: { channel, connectionId, userId } } })),
      ),
  };
};

describeConnectionStoreContract('DynamoDB', createDynamoDbPorts);
describeSubscriptionStoreContract('DynamoDB', createDynamoDbPorts);
describePresenceStoreContract('DynamoDB', createDynamoDbPorts);
describeNotificationLogContract('DynamoDB', createDynamoDbPorts);
describeDeliveryLedgerContract('DynamoDB', createDynamoDbPorts);
describeRateLimiterContract('DynamoDB', createDynamoDbPorts);
describePresenceChannelStoreContract('DynamoDB', async () => new DynamoDbPresenceChannelStore(await createTestTables()));
describeInboxStoreContract('DynamoDB', async () => {
  const { client, tables } = await createTestTables();
  return { inbox: new DynamoDbInboxStore({ client, tables }), notifications: new DynamoDbNotificationLog({ client, tables }) };
});
// The same contract with the exceptions beyond the first 2 (or all of them) kept as
// items of their own, as a user who reads more than 100 items around an unread one has.
for (const readAboveInState of [2, 0]) {
  describeInboxStoreContract(`DynamoDB, ${readAboveInState} exceptions in the state item`, async () => {
    const { client, tables } = await createTestTables();
    return { inbox: new DynamoDbInboxStore({ client, tables }, { readAboveInState }), notifications: new DynamoDbNotificationLog({ client, tables }) };
  });
}

describe('DynamoDbSubscriptionStore without a page size', () => {
  it('lists a channel in DynamoDB pages of up to 1 MB: 1,500 subscribers in one request', async () => {
    const { client, tables } = await createTestTables();
    const store = new DynamoDbSubscriptionStore({ client, tables });
    const channel = 'crowd-one-page';
    const crowd = Array.from({ length: 1_500 }, (_, index) => ({ connectionId: `c-${String(index).padStart(4, '0')}`, userId: `u-${index}` }));
    await batchWriteAll(
      client,
      tables.Subscriptions,
      crowd.map((ref) => ({ PutRequest: { Item: { channel, ...ref, expiresAt: 4_102_444_800 } } })),
    );

    const pages: number[] = [];
    for await (const page of store.listSubscribers(channel)) pages.push(page.length);

    expect(pages).toEqual([1_500]);
  });
});
