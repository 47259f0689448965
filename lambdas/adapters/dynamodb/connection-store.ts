import { DeleteCommand, GetCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { ConnectionLimitError, NotificationServiceError, ThrottledError, TransientError } from '../../domain/errors.js';
import type { Connection, ConnectionRef, ConnectionSummary } from '../../domain/model.js';
import type { ConnectionStore } from '../../domain/ports.js';
import { fullJitterDelayMs, realSleep } from '../../domain/retry.js';
import { batchGetAll, batchWriteAll } from './batch-operations.js';
import { fromActivityIndexItem, fromConnectionItem, lastSeenAtOf, sortedChannels, toConnectionItem, type ConnectionItem } from './connection-item.js';
import { cancellationReasons, errorName, isConditionalCheckFailed, translateSdkError, translatingErrors } from './error-translation.js';
import { queryPages } from './query-pages.js';
import { DEFAULT_PAGE_SIZE, type DynamoDbStoreProps } from './store-props.js';
import {
  ACTIVITY_SHARDS,
  CONNECTIONS_BY_ACTIVITY_INDEX,
  CONNECTIONS_BY_TOKEN_EXPIRY_INDEX,
  CONNECTIONS_BY_USER_INDEX,
  type TableNames,
} from '../../../protocol/tables.js';

/**
 * Concurrent transactions on one user's item (a user opening several tabs at once)
 * cancel each other with TransactionConflict; each retry after a jittered pause lets one
 * of them through. Bounded so a pathological burst ends in a TransientError, not a hang.
 */
const MAX_CONFLICT_RETRIES = 30;
/** Healing rounds per open: each round frees at least one entry or ends in the limit error. */
const MAX_HEAL_ROUNDS = 3;

type OpenOutcome = 'opened' | 'limit' | 'exists' | 'conflict';

/**
 * Connections, their automatic subscriptions and the per-user set of connection ids
 * (presence and the per-user limit) in DynamoDB. See docs/data-model.md.
 */
export class DynamoDbConnectionStore implements ConnectionStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tables: TableNames;
  private readonly pageSize: number;
  /** The page size as given; undefined means DynamoDB's 1 MB pages. */
  private readonly listingPageSize: number | undefined;

  constructor(props: DynamoDbStoreProps) {
    this.client = props.client;
    this.tables = props.tables;
    this.pageSize = props.pageSize ?? DEFAULT_PAGE_SIZE;
    this.listingPageSize = props.pageSize;
  }

  async open(connection: Connection, options: { readonly limit: number; readonly staleBefore: string }): Promise<void> {
    const item = toConnectionItem(connection);
    let conflicts = 0;
    let healRounds = 0;
    for (;;) {
      const outcome = await this.tryOpen(item, options.limit);
      switch (outcome) {
        case 'opened':
          return;
        case 'exists':
          return this.confirmSameOwner(connection);
        case 'conflict':
          if (++conflicts > MAX_CONFLICT_RETRIES) {
            throw new TransientError(`opening ${connection.connectionId}: too many concurrent writes to user ${connection.userId}`);
          }
          await realSleep(fullJitterDelayMs(conflicts, 10, 250));
          continue;
        case 'limit':
          if (healRounds++ >= MAX_HEAL_ROUNDS || !(await this.heal(connection.userId, options.staleBefore))) {
            throw new ConnectionLimitError(connection.userId, options.limit);
          }
          continue;
      }
    }
  }

  /** One atomic step: the user's set gains the id (if below the limit), the items appear. */
  private async tryOpen(item: ConnectionItem, limit: number): Promise<OpenOutcome> {
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tables.Users,
                Key: { userId: item.userId },
                UpdateExpression: 'ADD #ids :id SET #seen = :seen',
                ConditionExpression: 'attribute_not_exists(#ids) OR size(#ids) < :limit',
                ExpressionAttributeNames: { '#ids': 'connectionIds', '#seen': 'lastSeenAt' },
                ExpressionAttributeValues: { ':id': new Set([item.connectionId]), ':seen': item.lastSeenAt, ':limit': limit },
              },
            },
            {
              Put: {
                TableName: this.tables.Connections,
                Item: item,
                ConditionExpression: 'attribute_not_exists(connectionId)',
              },
            },
            ...sortedChannels(item.channels).map((channel) => ({
              Put: {
                TableName: this.tables.Subscriptions,
                Item: { channel, connectionId: item.connectionId, userId: item.userId, expiresAt: item.expiresAt },
              },
            })),
          ],
        }),
      );
      return 'opened';
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (!reasons) {
        if (errorName(error) === 'TransactionConflictException') return 'conflict';
        throw translateSdkError(error, 'TransactWriteItems');
      }
      // Reasons are positional: [0] the user's set, [1] the connection, then subscriptions.
      if (reasons[1] === 'ConditionalCheckFailed') return 'exists';
      if (reasons[0] === 'ConditionalCheckFailed') return 'limit';
      if (reasons.includes('TransactionConflict')) return 'conflict';
      if (reasons.some((reason) => reason === 'ThrottlingError' || reason === 'ProvisionedThroughputExceeded')) {
        throw new ThrottledError(`DynamoDB throttled opening ${item.connectionId}`, { cause: error });
      }
      throw new TransientError(`opening ${item.connectionId} was cancelled (${reasons.join(', ')})`, { cause: error });
    }
  }

  /** A retried `$connect` finds its own connection stored already; anything else is a bug. */
  private async confirmSameOwner(connection: Connection): Promise<void> {
    const stored = await this.get(connection.connectionId);
    if (stored && stored.userId !== connection.userId) {
      throw new NotificationServiceError(`connection ${connection.connectionId} is already stored for another user`);
    }
  }

  /**
   * Removes from the user's set the ids whose connection is gone (TTL, a lost
   * `$disconnect`) or silent since before `staleBefore`.
   * @returns true when an entry was removed, so that another attempt may fit.
   */
  private async heal(userId: string, staleBefore: string): Promise<boolean> {
    const user = await translatingErrors('GetItem', () =>
      this.client.send(
        new GetCommand({
          TableName: this.tables.Users,
          Key: { userId },
          ConsistentRead: true,
          ProjectionExpression: '#ids',
          ExpressionAttributeNames: { '#ids': 'connectionIds' },
        }),
      ),
    );
    const listed = sortedChannels(user.Item?.connectionIds);
    if (listed.length === 0) return false;
    const found = await batchGetAll(
      this.client,
      this.tables.Connections,
      listed.map((connectionId) => ({ connectionId })),
      { consistentRead: true, projection: ['connectionId', 'lastSeenAt', 'heartbeatAt'] },
    );
    const lastSeen = new Map(found.map((item) => [item.connectionId as string, lastSeenAtOf(item)]));
    const stale = listed.filter((connectionId) => {
      const seen = lastSeen.get(connectionId);
      return seen === undefined || seen < staleBefore;
    });
    if (stale.length === 0) return false;
    // Conditional on the item existing, so healing never creates a user item. A stale
    // connection that wakes up in the meantime is only undercounted until it closes.
    await this.removeFromUserSet(userId, stale);
    return true;
  }

  /**
   * Deletes ids from the user's set, retrying the conflicts that concurrent opens cause.
   * With `seenAt` (a closing connection's last activity), the same write moves presence's
   * lastSeenAt forward to it: heartbeats do not write the Users item, closes do.
   */
  private async removeFromUserSet(userId: string, connectionIds: readonly string[], seenAt?: string): Promise<void> {
    let moveSeen = seenAt !== undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tables.Users,
            Key: { userId },
            UpdateExpression: moveSeen ? 'DELETE #ids :ids SET #seen = :seen' : 'DELETE #ids :ids',
            ConditionExpression: moveSeen ? 'attribute_exists(userId) AND (attribute_not_exists(#seen) OR #seen < :seen)' : 'attribute_exists(userId)',
            ExpressionAttributeNames: { '#ids': 'connectionIds', ...(moveSeen ? { '#seen': 'lastSeenAt' } : {}) },
            ExpressionAttributeValues: { ':ids': new Set(connectionIds), ...(moveSeen ? { ':seen': seenAt } : {}) },
            ReturnValuesOnConditionCheckFailure: moveSeen ? 'ALL_OLD' : 'NONE',
          }),
        );
        return;
      } catch (error) {
        if (isConditionalCheckFailed(error)) {
          // The user item exists but was seen later (another connection): delete only.
          if (moveSeen && (error as { Item?: unknown }).Item !== undefined) {
            moveSeen = false;
            continue;
          }
          return;
        }
        if (errorName(error) === 'TransactionConflictException' && attempt < MAX_CONFLICT_RETRIES) {
          await realSleep(fullJitterDelayMs(attempt, 10, 250));
          continue;
        }
        throw translateSdkError(error, 'UpdateItem');
      }
    }
  }

  async get(connectionId: string): Promise<Connection | undefined> {
    const output = await translatingErrors('GetItem', () =>
      this.client.send(new GetCommand({ TableName: this.tables.Connections, Key: { connectionId }, ConsistentRead: true })),
    );
    return output.Item ? fromConnectionItem(output.Item) : undefined;
  }

  async remove(connectionId: string): Promise<Connection | undefined> {
    const current = await this.get(connectionId);
    if (!current) return undefined;
    // The connection item goes last: if anything before fails, a retry still finds it
    // and knows which subscriptions and which user entry to remove.
    await this.deleteSubscriptions(connectionId, current.channels);
    await this.removeFromUserSet(current.userId, [connectionId], current.lastSeenAt);
    const deleted = await translatingErrors('DeleteItem', () =>
      this.client.send(new DeleteCommand({ TableName: this.tables.Connections, Key: { connectionId }, ReturnValues: 'ALL_OLD' })),
    );
    // Another remove (a 410 during fan-out racing `$disconnect`) got there first.
    if (!deleted.Attributes) return undefined;
    const removed = fromConnectionItem(deleted.Attributes);
    // A subscribe that landed between our read and the delete.
    const late = removed.channels.filter((channel) => !current.channels.includes(channel));
    if (late.length > 0) await this.deleteSubscriptions(connectionId, late);
    return removed;
  }

  private deleteSubscriptions(connectionId: string, channels: readonly string[]): Promise<void> {
    return batchWriteAll(
      this.client,
      this.tables.Subscriptions,
      channels.map((channel) => ({ DeleteRequest: { Key: { channel, connectionId } } })),
    );
  }

  async listByUser(userId: string): Promise<ConnectionRef[]> {
    const refs: ConnectionRef[] = [];
    for await (const page of queryPages(this.client, this.pageSize, {
      TableName: this.tables.Connections,
      IndexName: CONNECTIONS_BY_USER_INDEX,
      KeyConditionExpression: '#user = :user',
      ExpressionAttributeNames: { '#user': 'userId' },
      ExpressionAttributeValues: { ':user': userId },
    })) {
      for (const item of page) refs.push({ connectionId: item.connectionId as string, userId: item.userId as string });
    }
    return refs;
  }

  listAll(): AsyncIterable<ConnectionSummary[]> {
    // A broadcast's audience (and stats) read everything: DynamoDB's 1 MB pages, a request
    // per several thousand connections, unless a page size was set.
    return this.listActivity(undefined, this.listingPageSize);
  }

  listIdleSince(cutoff: string): AsyncIterable<ConnectionSummary[]> {
    // Cleanup removes each one page by page: small pages keep its work between checks small.
    return this.listActivity(cutoff, this.pageSize);
  }

  async extendToken(
    connectionId: string,
    userId: string,
    expiresAt: string,
  ): Promise<{ readonly status: 'extended' } | { readonly status: 'not-later'; readonly current: string } | { readonly status: 'unknown' }> {
    try {
      // One write; the refused case reads the item back from the failed condition, not
      // with a second request.
      await this.client.send(
        new UpdateCommand({
          TableName: this.tables.Connections,
          Key: { connectionId },
          UpdateExpression: 'SET #exp = :exp',
          ConditionExpression: 'attribute_exists(connectionId) AND #user = :user AND (attribute_not_exists(#exp) OR #exp < :exp)',
          ExpressionAttributeNames: { '#exp': 'tokenExpiresAt', '#user': 'userId' },
          ExpressionAttributeValues: { ':exp': expiresAt, ':user': userId },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { status: 'extended' };
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw translateSdkError(error, 'UpdateItem');
      // The item of a failed condition comes back marshalled: lib-dynamodb converts outputs, not errors.
      const item = (error as { Item?: Record<string, { S?: string } | undefined> }).Item;
      if (item === undefined || item.userId?.S !== userId) return { status: 'unknown' };
      return { status: 'not-later', current: item.tokenExpiresAt?.S ?? '' };
    }
  }

  async *listTokenExpiredBefore(cutoff: string): AsyncIterable<ConnectionRef[]> {
    for (let shard = 0; shard < ACTIVITY_SHARDS; shard++) {
      for await (const page of queryPages(this.client, this.pageSize, {
        TableName: this.tables.Connections,
        IndexName: CONNECTIONS_BY_TOKEN_EXPIRY_INDEX,
        KeyConditionExpression: '#shard = :shard AND #exp < :cutoff',
        ExpressionAttributeNames: { '#shard': 'shard', '#exp': 'tokenExpiresAt' },
        ExpressionAttributeValues: { ':shard': shard, ':cutoff': cutoff },
      })) {
        yield page.map((item) => ({ connectionId: item.connectionId as string, userId: item.userId as string }));
      }
    }
  }

  private async *listActivity(before: string | undefined, pageSize: number | undefined): AsyncIterable<ConnectionSummary[]> {
    for (let shard = 0; shard < ACTIVITY_SHARDS; shard++) {
      const input: QueryCommandInput = {
        TableName: this.tables.Connections,
        IndexName: CONNECTIONS_BY_ACTIVITY_INDEX,
        KeyConditionExpression: before === undefined ? '#shard = :shard' : '#shard = :shard AND #seen < :before',
        ExpressionAttributeNames: before === undefined ? { '#shard': 'shard' } : { '#shard': 'shard', '#seen': 'lastSeenAt' },
        ExpressionAttributeValues: before === undefined ? { ':shard': shard } : { ':shard': shard, ':before': before },
      };
      for await (const page of queryPages(this.client, pageSize, input)) yield page.map(fromActivityIndexItem);
    }
  }
}
