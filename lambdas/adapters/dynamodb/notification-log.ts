import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { NotificationLog, StoredNotification } from '../../domain/ports.js';
import type { NotificationFrame } from '../../../protocol/frames.js';
import type { Target } from '../../../protocol/records.js';
import { batchWriteAll } from './batch-operations.js';
import { translatingErrors } from './error-translation.js';
import { queryPages } from './query-pages.js';
import type { DynamoDbStoreProps } from './store-props.js';
import type { TableNames } from '../../../protocol/tables.js';
import { instantKey, streamKey } from '../../domain/notification-streams.js';

/** The items that keep `notification` on each stream (one per distinct stream). */
export function streamItems(notification: StoredNotification, streams: readonly Target[], ttlSeconds: number): Record<string, unknown>[] {
  const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
  const acceptedAt = instantKey(notification.acceptedAt);
  const frame = JSON.stringify(notification.frame);
  return [...new Set(streams.map(streamKey))].map((pk) => ({
    pk,
    sk: streamSortKey(acceptedAt, notification.messageId),
    messageId: notification.messageId,
    acceptedAt,
    frame,
    expiresAt,
  }));
}

/** A stream item's sort key: oldest first, then by messageId. */
export function streamSortKey(acceptedAt: string, messageId: string): string {
  return `${instantKey(acceptedAt)}#${messageId}`;
}

/** The key of the item that tells when `messageId` was accepted: the fan-out ledger's entry. */
export function messageKey(messageId: string): { pk: string; sk: string } {
  return { pk: `message#${messageId}`, sk: 'message' };
}

/**
 * Inboxes and channel histories in the Notifications table: one partition per stream
 * (`user#{id}`, `channel#{name}`, `broadcast`), sorted by `{acceptedAt}#{messageId}`, so
 * "everything since" is one Query per stream. A `message#{id}` item answers when a
 * message was accepted, for `recover` from a messageId.
 */
export class DynamoDbNotificationLog implements NotificationLog {
  private readonly client: DynamoDBDocumentClient;
  private readonly tables: TableNames;

  constructor(props: DynamoDbStoreProps) {
    this.client = props.client;
    this.tables = props.tables;
  }

  async append(notification: StoredNotification, streams: readonly Target[], ttlSeconds: number): Promise<void> {
    await batchWriteAll(
      this.client,
      this.tables.Notifications,
      streamItems(notification, streams, ttlSeconds).map((Item) => ({ PutRequest: { Item } })),
    );
  }

  async acceptedAt(messageId: string): Promise<string | undefined> {
    const output = await translatingErrors('GetItem', () =>
      this.client.send(new GetCommand({ TableName: this.tables.Notifications, Key: messageKey(messageId) })),
    );
    return output.Item?.acceptedAt as string | undefined;
  }

  async readSince(streams: readonly Target[], since: string, limit: number): Promise<{ notifications: StoredNotification[]; truncated: boolean }> {
    const from = instantKey(since);
    const partitions = [...new Set(streams.map(streamKey))];
    // limit + 1 per stream: enough to fill the answer and to know whether more were left.
    const wanted = limit + 1;
    const perStream = await Promise.all(partitions.map((pk) => this.readStream(pk, from, wanted)));
    const byMessage = new Map<string, StoredNotification>();
    for (const notification of perStream.flat()) byMessage.set(notification.messageId, notification);
    const merged = [...byMessage.values()].sort(compareAcceptance);
    return { notifications: merged.slice(0, limit), truncated: merged.length > limit };
  }

  private async readStream(pk: string, from: string, wanted: number): Promise<StoredNotification[]> {
    const found: StoredNotification[] = [];
    for await (const page of queryPages(this.client, wanted, {
      TableName: this.tables.Notifications,
      KeyConditionExpression: 'pk = :pk AND sk >= :from',
      ExpressionAttributeValues: { ':pk': pk, ':from': from },
    })) {
      for (const item of page) {
        found.push({
          messageId: item.messageId as string,
          acceptedAt: item.acceptedAt as string,
          frame: JSON.parse(item.frame as string) as NotificationFrame,
        });
      }
      if (found.length >= wanted) break;
    }
    return found.slice(0, wanted);
  }
}

function compareAcceptance(a: StoredNotification, b: StoredNotification): number {
  if (a.acceptedAt !== b.acceptedAt) return a.acceptedAt < b.acceptedAt ? -1 : 1;
  return a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0;
}
