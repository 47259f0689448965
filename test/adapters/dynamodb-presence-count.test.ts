import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbPresenceChannelStore, MEMBER_COUNT_KEY, presencePartition } from '../../lambdas/adapters/dynamodb/presence-channel-store.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';

const CAP = 100;

/**
 * A presence channel's `#count` off from its member items, as a transition cut between
 * its two writes leaves it (docs/data-model.md, "Can #count drift"): `members` answers
 * from the member items and sets the counter back, against DynamoDB Local.
 */
describe('DynamoDbPresenceChannelStore: a drifted member count', () => {
  let tables: TestTables;
  let store: DynamoDbPresenceChannelStore;
  const channel = 'presence-lobby';
  const key = { channel: presencePartition(channel), connectionId: MEMBER_COUNT_KEY };

  const setCounter = (members: number) =>
    tables.client.send(
      new UpdateCommand({
        TableName: tables.tables.Subscriptions,
        Key: key,
        UpdateExpression: 'SET members = :members',
        ExpressionAttributeValues: { ':members': members },
      }),
    );
  const counter = async () =>
    (await tables.client.send(new GetCommand({ TableName: tables.tables.Subscriptions, Key: key, ConsistentRead: true }))).Item?.members;

  beforeEach(async () => {
    tables = await createTestTables();
    store = new DynamoDbPresenceChannelStore(tables);
    for (const userId of ['ada', 'bo', 'cy']) await store.join(channel, { connectionId: `conn-${userId}`, userId }, '2033-01-01T00:00:00.000Z');
  });

  it('lists the members and heals a counter left above the cap (a leave cut before its ADD -1, many times)', async () => {
    // Prepare
    await setCounter(CAP + 50);

    // Act
    const answer = await store.members(channel, CAP);

    // Assess: without the heal this answered { count: 150, truncated: true } and join / leave stayed silent.
    expect(answer).toMatchObject({ count: 3, truncated: false });
    expect(answer.members.map((member) => member.userId).sort()).toEqual(['ada', 'bo', 'cy']);
    expect(await counter()).toBe(3);
    expect(await store.join(channel, { connectionId: 'conn-di', userId: 'di' }, '2033-01-01T00:00:01.000Z')).toEqual({ transition: true, count: 4 });
  });

  it('heals a counter left low (a join cut before its ADD 1)', async () => {
    await setCounter(1);

    const answer = await store.members(channel, CAP);

    expect(answer.count).toBe(3);
    expect(await counter()).toBe(3);
  });

  it('still answers truncated, reading no more than the cap and one, when the members are above the cap', async () => {
    for (let index = 0; index < 3; index++) await store.join(channel, { connectionId: `conn-${index}`, userId: `user-${index}` }, '2033-01-01T00:00:02.000Z');

    const answer = await store.members(channel, 4);

    expect(answer).toEqual({ count: 6, members: [], truncated: true });
    expect(await counter()).toBe(6);
  });
});
