import { DynamoDBClient, InternalServerError, ThrottlingException, TransactionCanceledException, TransactionConflictException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb/connection-store.js';
import { DynamoDbInboxStore } from '../../lambdas/adapters/dynamodb/inbox-store.js';
import { tableNamesFromEnvironment, tableEnvironment } from '../../protocol/tables.js';
import { ConnectionLimitError, ThrottledError, TransientError } from '../../lambdas/domain/errors.js';
import { aConnection } from './contracts/port-set.js';

/**
 * Faults DynamoDB Local will not produce on demand (throttling, 5xx, transaction
 * conflicts, unprocessed batch items), injected with aws-sdk-client-mock.
 */

const tables = tableNamesFromEnvironment(tableEnvironment('faults-'));
const metadata = { $metadata: {} };

function cancelled(...codes: string[]): TransactionCanceledException {
  return new TransactionCanceledException({
    message: `Transaction cancelled [${codes.join(', ')}]`,
    ...metadata,
    CancellationReasons: codes.map((Code) => ({ Code })),
  });
}

describe('DynamoDbConnectionStore under injected faults', () => {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }));
  const dynamoDb = mockClient(client);
  const store = new DynamoDbConnectionStore({ client, tables });

  beforeEach(() => {
    dynamoDb.reset();
  });

  describe('open', () => {
    it('retries a transaction that a concurrent one cancelled (TransactionConflict) instead of reporting the limit', async () => {
      // Prepare
      dynamoDb
        .on(TransactWriteCommand)
        .rejectsOnce(cancelled('TransactionConflict', 'None', 'None', 'None'))
        .rejectsOnce(cancelled('None', 'None', 'TransactionConflict', 'None'))
        .resolves({});

      // Act
      const opening = store.open(aConnection(), { limit: 5, staleBefore: '2000-01-01T00:00:00.000Z' });

      // Assess
      await expect(opening).resolves.toBeUndefined();
      expect(dynamoDb.commandCalls(TransactWriteCommand)).toHaveLength(3);
    });

    it('reports the limit, without writing, when every listed connection is live', async () => {
      // Prepare: the one listed connection is fresh, so there is nothing to heal.
      const connection = aConnection();
      dynamoDb.on(TransactWriteCommand).rejects(cancelled('ConditionalCheckFailed', 'None', 'None', 'None'));
      dynamoDb.on(GetCommand).resolves({ Item: { connectionIds: new Set(['live']) } });
      dynamoDb.on(BatchGetCommand).resolves({ Responses: { [tables.Connections]: [{ connectionId: 'live', lastSeenAt: '2999-01-01T00:00:00.000Z' }] } });

      // Act
      const opening = store.open(connection, { limit: 1, staleBefore: '2000-01-01T00:00:00.000Z' });

      // Assess
      await expect(opening).rejects.toBeInstanceOf(ConnectionLimitError);
      expect(dynamoDb.commandCalls(UpdateCommand)).toHaveLength(0);
    });

    it('reports a throttled transaction as ThrottledError', async () => {
      // Prepare
      dynamoDb.on(TransactWriteCommand).rejects(cancelled('ThrottlingError', 'None', 'None', 'None'));

      // Act
      const opening = store.open(aConnection(), { limit: 5, staleBefore: '2000-01-01T00:00:00.000Z' });

      // Assess
      await expect(opening).rejects.toBeInstanceOf(ThrottledError);
    });
  });

  describe('get', () => {
    it('reports throttling that outlasted the SDK retries as ThrottledError', async () => {
      // Prepare
      dynamoDb.on(GetCommand).rejects(new ThrottlingException({ message: 'Rate exceeded', ...metadata }));

      // Act
      const getting = store.get('any');

      // Assess
      await expect(getting).rejects.toBeInstanceOf(ThrottledError);
    });

    it('reports a DynamoDB 5xx as TransientError, keeping the cause', async () => {
      // Prepare
      // As the SDK deserializes it: the answer's status with the error.
      const failure = new InternalServerError({ message: 'boom', $metadata: { httpStatusCode: 500 } });
      dynamoDb.on(GetCommand).rejects(failure);

      // Act
      const getting = store.get('any');

      // Assess
      await expect(getting).rejects.toBeInstanceOf(TransientError);
      await expect(getting).rejects.toMatchObject({ cause: failure });
    });
  });

  describe('remove', () => {
    it('resubmits subscription deletes that BatchWriteItem left unprocessed', async () => {
      // Prepare
      const connection = aConnection({ channels: ['a', 'b', 'c'] });
      const item = { ...connection, channels: new Set(connection.channels) };
      dynamoDb.on(GetCommand).resolves({ Item: item });
      dynamoDb
        .on(BatchWriteCommand)
        .resolvesOnce({
          UnprocessedItems: {
            [tables.Subscriptions]: [{ DeleteRequest: { Key: { channel: 'c', connectionId: connection.connectionId } } }],
          },
        })
        .resolves({});
      dynamoDb.on(UpdateCommand).resolves({});
      dynamoDb.on(DeleteCommand).resolves({ Attributes: item });

      // Act
      const removed = await store.remove(connection.connectionId);

      // Assess
      expect(removed?.connectionId).toBe(connection.connectionId);
      const batches = dynamoDb.commandCalls(BatchWriteCommand).map((call) => call.args[0].input.RequestItems?.[tables.Subscriptions]);
      expect(batches).toHaveLength(2);
      expect(batches[1]).toEqual([{ DeleteRequest: { Key: { channel: 'c', connectionId: connection.connectionId } } }]);
    });
  });
});

describe('DynamoDbInboxStore under injected faults', () => {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }));
  const dynamoDb = mockClient(client);
  // Every exception beyond the first goes to an item: a second read is a transaction.
  const inbox = new DynamoDbInboxStore({ client, tables }, { readAboveInState: 1 });
  const position = (index: number) => `2035-01-01T00:00:0${index}.000Z#m${index}`;

  beforeEach(() => {
    dynamoDb.reset();
    // The oldest item stays unread; m2 is read already (in the state item).
    dynamoDb.on(GetCommand).resolves({ Item: { pk: 'inbox#ada', sk: 'state', readUpTo: '', readAbove: [position(2)], version: 3 } });
    dynamoDb.on(QueryCommand).resolves({
      Items: [1, 2, 3, 4].map((index) => ({ sk: position(index), messageId: `m${index}`, expiresAt: 2_000_000_000 })),
    });
  });

  it("retries the state's put that met another device's transaction in flight (TransactionConflictException)", async () => {
    dynamoDb
      .on(PutCommand)
      .rejectsOnce(new TransactionConflictException({ message: 'Transaction is ongoing for the item', ...metadata }))
      .resolves({});

    const result = await inbox.markRead('ada', ['m1']);

    expect(result).toMatchObject({ read: ['m1'], unreadCount: 2 });
    expect(dynamoDb.commandCalls(PutCommand)).toHaveLength(2);
  });

  it('retries a transaction that a concurrent one cancelled, then writes the exception item beside the state', async () => {
    dynamoDb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled('TransactionConflict', 'None'))
      .rejectsOnce(cancelled('ConditionalCheckFailed', 'None'))
      .resolves({});

    const result = await inbox.markRead('ada', ['m4']);

    expect(result).toMatchObject({ read: ['m4'], unreadCount: 2 });
    const calls = dynamoDb.commandCalls(TransactWriteCommand);
    expect(calls).toHaveLength(3);
    expect(calls[2]!.args[0].input.TransactItems?.map((action) => action.Put?.Item?.sk)).toEqual(['state', `read#${position(4)}`]);
  });

  it('reports a transaction refused for another reason at once, not after 16 attempts', async () => {
    dynamoDb.on(TransactWriteCommand).rejects(cancelled('ValidationError', 'None'));

    await expect(inbox.markRead('ada', ['m4'])).rejects.toThrow(/ValidationError|cancelled/);
    expect(dynamoDb.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });
});
