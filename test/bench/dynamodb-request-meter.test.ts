import { ConditionalCheckFailedException, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  failedConditionalWriteUnits,
  itemBytes,
  meterEveryDynamoDbClient,
  meteredRequests,
  readMeter,
  requestTarget,
  resetMeter,
  sequentialRoundTrips,
} from '../../bench/dynamodb-request-meter.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';

const at = (startMs: number, endMs: number) => ({ startMs, endMs });

describe('sequentialRoundTrips', () => {
  it('counts requests that overlap in time once', () => {
    // Two requests issued together, then a third after both.
    expect(sequentialRoundTrips([at(0, 10), at(1, 12), at(13, 20)])).toBe(2);
  });

  it('counts back-to-back requests (one starts when the other ends) one after another', () => {
    expect(sequentialRoundTrips([at(0, 5), at(5, 9), at(9, 14)])).toBe(3);
  });

  it('counts two sequential requests nested inside a long one as two', () => {
    // A long request spans two short ones made one after the other: the chain is 2.
    expect(sequentialRoundTrips([at(0, 100), at(10, 20), at(30, 40)])).toBe(2);
  });

  it('counts waves, not requests: three waves of parallel requests are 3', () => {
    const wave = (from: number) => [at(from, from + 8), at(from + 1, from + 6), at(from + 2, from + 9)];
    expect(sequentialRoundTrips([...wave(0), ...wave(10), ...wave(20)])).toBe(3);
  });

  it('takes the requests in any order', () => {
    expect(sequentialRoundTrips([at(30, 40), at(0, 100), at(10, 20), at(41, 50)])).toBe(3);
  });

  it('counts only the requests that started before the given time (the first post)', () => {
    // Two sequential requests before the post at 25, one under way across it, one after.
    expect(sequentialRoundTrips([at(0, 10), at(11, 20), at(22, 30), at(40, 50)], 25)).toBe(3);
    expect(sequentialRoundTrips([at(0, 10), at(11, 20), at(26, 30)], 25)).toBe(2);
  });

  it('is 0 with no request', () => {
    expect(sequentialRoundTrips([])).toBe(0);
    expect(sequentialRoundTrips([at(10, 20)], 5)).toBe(0);
  });
});

describe('requestTarget', () => {
  it('names the table and the partition of a single-item request, plain or wire form', () => {
    expect(requestTarget({ TableName: 'p-Notifications', Item: { pk: 'user#ada', sk: 'x' } })).toEqual({ table: 'p-Notifications', partition: 'user#ada' });
    expect(requestTarget({ TableName: 'p-Subscriptions', Key: { channel: { S: 'presence#lobby' }, connectionId: { S: '#count' } } })).toEqual({
      table: 'p-Subscriptions',
      partition: 'presence#lobby',
    });
  });

  it("names a Query's partition by its first value, and only the tables of a batch or a transaction", () => {
    expect(
      requestTarget({ TableName: 't', KeyConditionExpression: 'pk = :pk AND sk > :after', ExpressionAttributeValues: { ':pk': 'inbox#ada', ':after': 'a' } }),
    ).toEqual({ table: 't', partition: 'inbox#ada' });
    expect(requestTarget({ RequestItems: { a: [], b: [] } })).toEqual({ table: 'a,b' });
    expect(requestTarget({ TransactItems: [{ Put: { TableName: 'a' } }, { Update: { TableName: 'a' } }, { Put: { TableName: 'c' } }] })).toEqual({
      table: 'a,c',
    });
  });
});

describe('failedConditionalWriteUnits', () => {
  it('bills at least 1 write unit, and the larger item by 1 KB', () => {
    expect(failedConditionalWriteUnits(undefined)).toBe(1);
    expect(failedConditionalWriteUnits({ pk: { S: 'a' } })).toBe(1);
    expect(failedConditionalWriteUnits({ pk: { S: 'a' }, body: { S: 'x'.repeat(2500) } })).toBe(3);
    expect(failedConditionalWriteUnits({ pk: { S: 'a' } }, { pk: 'a', body: 'x'.repeat(1500) })).toBe(2);
  });

  it('sizes items by DynamoDB rules, in wire form or plain', () => {
    // name 2 + "abc" 3; name 1 + number 12345 (5 digits: 3 + 1); names 1 + list 3 + 2 x (1 + 1)
    expect(itemBytes({ pk: { S: 'abc' }, n: { N: '12345' }, l: { L: [{ BOOL: true }, { NULL: true }] } })).toBe(5 + 5 + 8);
    expect(itemBytes({ pk: 'abc', n: 12345, l: [true, null] })).toBe(5 + 5 + 8);
  });
});

describe('the DynamoDB request meter', () => {
  let store: TestTables;
  let table: string;

  beforeAll(async () => {
    store = await createTestTables();
    table = store.tables.Connections;
    meterEveryDynamoDbClient();
  });

  beforeEach(() => resetMeter());

  it('counts a conditional write that fails, bills it the existing item (at least 1 WCU), and hands the caller the same error', async () => {
    // Prepare: an item of about 2.5 KB, then a put that may only create.
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: store.endpoint, region: 'us-east-1' }));
    const key = { connectionId: `meter-${Date.now()}` };
    await client.send(new PutCommand({ TableName: table, Item: { ...key, filler: 'x'.repeat(2500) } }));
    resetMeter();

    // Act
    const error = await client
      .send(new PutCommand({ TableName: table, Item: { ...key, small: 1 }, ConditionExpression: 'attribute_not_exists(connectionId)' }))
      .then(
        () => undefined,
        (failure: unknown) => failure,
      );

    // Assess: AWS bills the larger of the two items, here the existing 2.5 KB: 3 WCU.
    expect(error).toBeInstanceOf(ConditionalCheckFailedException);
    expect((error as ConditionalCheckFailedException).Item).toBeUndefined();
    const reading = readMeter();
    expect(reading).toMatchObject({ requests: 1, writeRequests: 1, failedRequests: 1, writeCapacityUnits: 3, failedWriteCapacityUnits: 3 });
    const [request] = meteredRequests();
    expect(request).toMatchObject({ operation: 'PutItemCommand', kind: 'write', failed: 'ConditionalCheckFailedException', capacityUnits: 3 });
    expect(request!.endMs).toBeGreaterThan(request!.startMs);
  });

  it('leaves the existing item on the error when the caller asked for it', async () => {
    // Prepare
    const client = new DynamoDBClient({ endpoint: store.endpoint, region: 'us-east-1' });
    const key = { connectionId: { S: `meter-old-${Date.now()}` } };
    await client.send(new PutItemCommand({ TableName: table, Item: key }));
    resetMeter();

    // Act
    const error = (await client
      .send(
        new PutItemCommand({
          TableName: table,
          Item: key,
          ConditionExpression: 'attribute_not_exists(connectionId)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      )
      .catch((failure: unknown) => failure)) as ConditionalCheckFailedException;

    // Assess
    expect(error.Item).toEqual(key);
    expect(readMeter()).toMatchObject({ requests: 1, failedRequests: 1, writeCapacityUnits: 1 });
  });

  it('counts successful requests with their consumed capacity, and no failure', async () => {
    // Prepare
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: store.endpoint, region: 'us-east-1' }));
    const key = { connectionId: `meter-ok-${Date.now()}` };

    // Act
    await client.send(new PutCommand({ TableName: table, Item: key, ConditionExpression: 'attribute_not_exists(connectionId)' }));
    await client.send(new UpdateCommand({ TableName: table, Key: key, UpdateExpression: 'SET n = :one', ExpressionAttributeValues: { ':one': 1 } }));

    // Assess
    expect(readMeter()).toMatchObject({ requests: 2, writeRequests: 2, failedRequests: 0, writeCapacityUnits: 2, failedWriteCapacityUnits: 0 });
    const requests = meteredRequests();
    expect(sequentialRoundTrips(requests)).toBe(2);
  });
});
