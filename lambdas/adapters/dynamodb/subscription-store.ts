import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConnectionNotFoundError } from '../../domain/errors.js';
import type { ConnectionRef } from '../../domain/model.js';
import type { SubscriptionStore } from '../../domain/ports.js';
import { batchWriteAll } from './batch-operations.js';
import { sortedChannels } from './connection-item.js';
import { isConditionalCheckFailed, translateSdkError, translatingErrors } from './error-translation.js';
import { queryPages } from './query-pages.js';
import type { DynamoDbStoreProps } from './store-props.js';
import type { TableNames } from '../../../protocol/tables.js';

/**
 * A connection's channels live twice: as a set on its Connections item (what the
 * connection holds, for `subscription` replies and for removal) and as one Subscriptions
 * item per channel (who holds a channel, for fan-out, without reading connections).
 */
export class DynamoDbSubscriptionStore implements SubscriptionStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tables: TableNames;
  /** Undefined: DynamoDB's 1 MB pages (about 10,000 subscribers a request). */
  private readonly pageSize: number | undefined;

  constructor(props: DynamoDbStoreProps) {
    this.client = props.client;
    this.tables = props.tables;
    // The fan-out reads the whole audience anyway; only the request count depends on the page.
    this.pageSize = props.pageSize;
  }

  async subscribe(ref: ConnectionRef, channels: readonly string[]): Promise<string[]> {
    const connection = await this.updateChannels(ref.connectionId, 'ADD', channels);
    if (!connection) throw new ConnectionNotFoundError(ref.connectionId);
    const wanted = [...new Set(channels)];
    await batchWriteAll(
      this.client,
      this.tables.Subscriptions,
      wanted.map((channel) => ({
        PutRequest: {
          Item: {
            channel,
            connectionId: ref.connectionId,
            userId: connection.userId,
            // Expires with its connection.
            expiresAt: connection.expiresAt,
          },
        },
      })),
    );
    return connection.channels;
  }

  async unsubscribe(connectionId: string, channels: readonly string[]): Promise<string[]> {
    const connection = await this.updateChannels(connectionId, 'DELETE', channels);
    // Deleted even when the connection is gone: that clears what a lost removal left.
    await batchWriteAll(
      this.client,
      this.tables.Subscriptions,
      [...new Set(channels)].map((channel) => ({ DeleteRequest: { Key: { channel, connectionId } } })),
    );
    return connection?.channels ?? [];
  }

  /** Adds or deletes channels in the connection's set; undefined when the connection is gone. */
  private async updateChannels(connectionId: string, action: 'ADD' | 'DELETE', channels: readonly string[]): Promise<ChannelState | undefined> {
    if (channels.length === 0) {
      // DynamoDB has no empty sets; with nothing to change, a read tells the same.
      const output = await translatingErrors('GetItem', () =>
        this.client.send(new GetCommand({ TableName: this.tables.Connections, Key: { connectionId }, ConsistentRead: true })),
      );
      return output.Item ? toChannelState(output.Item) : undefined;
    }
    try {
      const output = await this.client.send(
        new UpdateCommand({
          TableName: this.tables.Connections,
          Key: { connectionId },
          UpdateExpression: `${action} #channels :channels`,
          ConditionExpression: 'attribute_exists(#id)',
          ExpressionAttributeNames: { '#channels': 'channels', '#id': 'connectionId' },
          ExpressionAttributeValues: { ':channels': new Set(channels) },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toChannelState(output.Attributes ?? {});
    } catch (error) {
      if (isConditionalCheckFailed(error)) return undefined;
      throw translateSdkError(error, 'UpdateItem');
    }
  }

  async *listSubscribers(channel: string): AsyncIterable<ConnectionRef[]> {
    for await (const page of queryPages(this.client, this.pageSize, {
      TableName: this.tables.Subscriptions,
      KeyConditionExpression: '#channel = :channel',
      ProjectionExpression: '#id, #user',
      ExpressionAttributeNames: { '#channel': 'channel', '#id': 'connectionId', '#user': 'userId' },
      ExpressionAttributeValues: { ':channel': channel },
    })) {
      yield page.map((item) => ({ connectionId: item.connectionId as string, userId: item.userId as string }));
    }
  }
}

interface ChannelState {
  readonly userId: string;
  readonly expiresAt: number;
  readonly channels: string[];
}

function toChannelState(item: Record<string, unknown>): ChannelState {
  return { userId: item.userId as string, expiresAt: item.expiresAt as number, channels: sortedChannels(item.channels) };
}
