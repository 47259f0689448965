import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { NotificationLog, PositionedNotification, StoredNotification, StreamHead, StreamSlice } from '../../domain/ports.js';
import type { NotificationFrame, StreamPosition } from '../../../protocol/frames.js';
import type { Target } from '../../../protocol/records.js';
import { batchGetAll, batchWriteAll } from './batch-operations.js';
import { isConditionalCheckFailed, translateSdkError, translatingErrors } from './error-translation.js';
import { queryPages } from './query-pages.js';
import type { DynamoDbStoreProps } from './store-props.js';
import type { TableNames } from '../../../protocol/tables.js';
import { epochCeilingKey, instantKey, newEpoch, offsetFloorKey, offsetKey, storedSortKey, streamKey } from '../../domain/notification-streams.js';

/** A day past history_ttl: a head outlives every item whose offset it gave. */
const HEAD_GRACE_SECONDS = 86_400;
/** Most tombstones one read returns; they are rare (a redelivered duplicate, a released run). */
const MAX_SKIPS_READ = 1000;

/** The items that keep `notification` on each stream (one per distinct stream). */
export function streamItems(notification: StoredNotification, streams: readonly Target[], ttlSeconds: number): Record<string, unknown>[] {
  const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
  const acceptedAt = instantKey(notification.acceptedAt);
  const frame = JSON.stringify(notification.frame);
  const sk = storedSortKey(notification);
  return [...new Set(streams.map(streamKey))].map((pk) => ({
    pk,
    sk,
    messageId: notification.messageId,
    acceptedAt,
    frame,
    expiresAt,
    ...(notification.takenAtMs !== undefined ? { takenAtMs: notification.takenAtMs } : {}),
  }));
}

/** The key of the item that tells when `messageId` was accepted: the fan-out ledger's entry. */
export function messageKey(messageId: string): { pk: string; sk: string } {
  return { pk: `message#${messageId}`, sk: 'message' };
}

/** The key of a stream's head: its offset counter and epoch. */
export function headKey(stream: string): { pk: string; sk: string } {
  return { pk: `head#${stream}`, sk: 'head' };
}

/** The partition of a stream's tombstones: offsets that will never hold a notification. */
export function skipPartition(stream: string): string {
  return `skip#${stream}`;
}

/**
 * Inboxes and channel histories in the Notifications table: one partition per stream
 * (`user#{id}`, `channel#{name}`, `broadcast`), sorted by `{epoch}#{offset}#{acceptedAt}#{messageId}`,
 * so "everything after a position" is one Query per stream. Beside them, per stream, a
 * head item (`head#{stream}`: the offset counter and epoch) and a partition of
 * tombstones (`skip#{stream}`). A `message#{id}` item (the ledger's entry) answers when
 * a message was accepted, for `recover` from a messageId.
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

  async takeOffset(stream: string, nowMs: number, ttlSeconds: number): Promise<StreamPosition> {
    const nowSeconds = Math.floor(nowMs / 1000);
    const expiresAt = nowSeconds + ttlSeconds + HEAD_GRACE_SECONDS;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        // One write: the next offset, the epoch kept (or made, for a new head).
        const output = await this.client.send(
          new UpdateCommand({
            TableName: this.tables.Notifications,
            Key: headKey(stream),
            UpdateExpression: 'SET epoch = if_not_exists(epoch, :epoch), takenAtMs = :now, expiresAt = :expiresAt ADD #offset :one',
            ConditionExpression: 'attribute_not_exists(pk) OR expiresAt > :nowSeconds',
            ExpressionAttributeNames: { '#offset': 'offset' },
            ExpressionAttributeValues: { ':epoch': newEpoch(nowMs), ':now': nowMs, ':expiresAt': expiresAt, ':one': 1, ':nowSeconds': nowSeconds },
            ReturnValues: 'UPDATED_NEW',
          }),
        );
        return { epoch: output.Attributes!.epoch as string, offset: Number(output.Attributes!.offset) };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw translateSdkError(error, 'UpdateItem');
      }
      // The head expired (DynamoDB deletes expired items lazily): its history is gone
      // with it, so the stream starts again in a new epoch.
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tables.Notifications,
            Key: headKey(stream),
            UpdateExpression: 'SET epoch = :epoch, takenAtMs = :now, expiresAt = :expiresAt, #offset = :one',
            ConditionExpression: 'expiresAt <= :nowSeconds',
            ExpressionAttributeNames: { '#offset': 'offset' },
            ExpressionAttributeValues: { ':epoch': newEpoch(nowMs), ':now': nowMs, ':expiresAt': expiresAt, ':one': 1, ':nowSeconds': nowSeconds },
          }),
        );
        return { epoch: newEpoch(nowMs), offset: 1 };
      } catch (error) {
        // Another run restarted it first: take the next offset of the new epoch.
        if (!isConditionalCheckFailed(error)) throw translateSdkError(error, 'UpdateItem');
      }
    }
    throw translateSdkError(new Error(`could not take an offset of ${stream}`), 'UpdateItem');
  }

  async heads(streams: readonly string[], nowMs: number): Promise<Map<string, StreamHead>> {
    const heads = new Map<string, StreamHead>();
    const nowSeconds = Math.floor(nowMs / 1000);
    for (const item of await batchGetAll(this.client, this.tables.Notifications, [...new Set(streams)].map(headKey))) {
      if (Number(item.expiresAt ?? Number.POSITIVE_INFINITY) <= nowSeconds) continue;
      heads.set((item.pk as string).slice('head#'.length), {
        epoch: item.epoch as string,
        offset: Number(item.offset),
        takenAtMs: Number(item.takenAtMs ?? 0),
      });
    }
    return heads;
  }

  async skip(stream: string, position: StreamPosition, ttlSeconds: number): Promise<void> {
    await translatingErrors('PutItem', () =>
      this.client.send(
        new PutCommand({
          TableName: this.tables.Notifications,
          Item: {
            pk: skipPartition(stream),
            sk: offsetFloorKey(position.epoch, position.offset),
            expiresAt: Math.floor(Date.now() / 1000) + ttlSeconds + HEAD_GRACE_SECONDS,
          },
        }),
      ),
    );
  }

  async giveBack(stream: string, position: StreamPosition, ttlSeconds: number): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tables.Notifications,
          Key: headKey(stream),
          UpdateExpression: 'ADD #offset :minusOne',
          ConditionExpression: 'epoch = :epoch AND #offset = :offset',
          ExpressionAttributeNames: { '#offset': 'offset' },
          ExpressionAttributeValues: { ':minusOne': -1, ':epoch': position.epoch, ':offset': position.offset },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw translateSdkError(error, 'UpdateItem');
      // A later offset was taken meanwhile: this one stays empty, with a tombstone.
      await this.skip(stream, position, ttlSeconds);
    }
  }

  async readFrom(stream: string, epoch: string, fromOffset: number, limit: number, nowMs: number): Promise<StreamSlice> {
    const [notifications, skipped] = await Promise.all([this.readItems(stream, epoch, fromOffset, limit, nowMs), this.readSkips(stream, epoch, fromOffset)]);
    return { notifications, skipped };
  }

  /** Kept items of `epoch` at or after `fromOffset`, oldest first, at most `limit`; expired ones left out. */
  private async readItems(stream: string, epoch: string, fromOffset: number, limit: number, nowMs: number): Promise<PositionedNotification[]> {
    const nowSeconds = Math.floor(nowMs / 1000);
    const found: PositionedNotification[] = [];
    for await (const page of queryPages(this.client, limit, {
      TableName: this.tables.Notifications,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: { ':pk': stream, ':lo': offsetFloorKey(epoch, fromOffset), ':hi': epochCeilingKey(epoch) },
    })) {
      for (const item of page) {
        const expiresAt = Number(item.expiresAt ?? Number.POSITIVE_INFINITY);
        if (expiresAt <= nowSeconds) continue;
        found.push({
          messageId: item.messageId as string,
          acceptedAt: item.acceptedAt as string,
          frame: JSON.parse(item.frame as string) as NotificationFrame,
          offset: offsetOfSortKey(item.sk as string),
          expiresAtMs: expiresAt * 1000,
          ...(typeof item.takenAtMs === 'number' ? { takenAtMs: item.takenAtMs } : {}),
        });
      }
      if (found.length >= limit) break;
    }
    return found.slice(0, limit);
  }

  /** Tombstoned offsets of `epoch` at or after `fromOffset` (at most {@link MAX_SKIPS_READ}). */
  private async readSkips(stream: string, epoch: string, fromOffset: number): Promise<Set<number>> {
    const skipped = new Set<number>();
    for await (const page of queryPages(this.client, MAX_SKIPS_READ, {
      TableName: this.tables.Notifications,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: { ':pk': skipPartition(stream), ':lo': offsetFloorKey(epoch, fromOffset), ':hi': epochCeilingKey(epoch) },
      ProjectionExpression: 'sk',
    })) {
      for (const item of page) skipped.add(offsetOfSortKey(item.sk as string));
      if (skipped.size >= MAX_SKIPS_READ) break;
    }
    return skipped;
  }

  async placesOf(messageIds: readonly string[]): Promise<Map<string, StreamPosition | null>> {
    const places = new Map<string, StreamPosition | null>();
    const keys = [...new Set(messageIds)].map(messageKey);
    for (const item of await batchGetAll(this.client, this.tables.Notifications, keys, { projection: ['pk', 'epoch', 'offset'] })) {
      const messageId = (item.pk as string).slice('message#'.length);
      places.set(messageId, typeof item.epoch === 'string' ? { epoch: item.epoch, offset: Number(item.offset) } : null);
    }
    return places;
  }

  async readSince(streams: readonly Target[], since: string, limit: number): Promise<{ notifications: StoredNotification[]; truncated: boolean }> {
    const from = instantKey(since);
    const nowMs = Date.now();
    const keys = [...new Set(streams.map(streamKey))];
    const heads = await this.heads(keys, nowMs);
    // limit + 1 per stream: enough to fill the answer and to know whether more were left.
    const wanted = limit + 1;
    const perStream = await Promise.all(
      keys.map(async (stream) => {
        // Items without a position (written by hand, as tests do) sort by time after every positioned key.
        const unpositioned = this.readUnpositioned(stream, from, wanted);
        const head = heads.get(stream);
        if (!head) return unpositioned;
        const start = await this.firstOffsetAcceptedSince(stream, head, from, nowMs);
        const notifications = await this.readItems(stream, head.epoch, start, wanted * 2, nowMs);
        return [...notifications.filter((notification) => instantKey(notification.acceptedAt) >= from).slice(0, wanted), ...(await unpositioned)];
      }),
    );
    const byMessage = new Map<string, StoredNotification>();
    for (const notification of perStream.flat()) {
      byMessage.set(notification.messageId, { messageId: notification.messageId, acceptedAt: notification.acceptedAt, frame: notification.frame });
    }
    const merged = [...byMessage.values()].sort(compareAcceptance);
    return { notifications: merged.slice(0, limit), truncated: merged.length > limit };
  }

  /** Items of `stream` without a position accepted at or after `from`: their sort key is `{acceptedAt}#{messageId}`. */
  private async readUnpositioned(stream: string, from: string, wanted: number): Promise<StoredNotification[]> {
    const found: StoredNotification[] = [];
    for await (const page of queryPages(this.client, wanted, {
      TableName: this.tables.Notifications,
      KeyConditionExpression: 'pk = :pk AND sk >= :from',
      ExpressionAttributeValues: { ':pk': stream, ':from': from },
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

  /**
   * The first offset of the head's epoch whose item was accepted at or after `from`, or
   * about it: offsets follow acceptance closely (a run takes its offset right after it
   * accepts the record), so a binary search over offsets, one single-item Query a step,
   * finds it; it starts a little lower (64 offsets) for runs that took theirs late.
   */
  private async firstOffsetAcceptedSince(stream: string, head: StreamHead, from: string, nowMs: number): Promise<number> {
    let low = 1;
    let high = head.offset + 1;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      // One single-item Query a step: the tombstones do not matter here.
      const [first] = await this.readItems(stream, head.epoch, middle, 1, nowMs);
      if (!first) {
        high = middle;
      } else if (instantKey(first.acceptedAt) >= from) {
        high = Math.min(middle, first.offset);
      } else {
        low = first.offset + 1;
      }
    }
    return Math.max(1, low - 64);
  }
}

/** The offset inside a positioned sort key (or a tombstone's). */
function offsetOfSortKey(sk: string): number {
  return Number(sk.split('#')[1]);
}

function compareAcceptance(a: StoredNotification, b: StoredNotification): number {
  if (a.acceptedAt !== b.acceptedAt) return a.acceptedAt < b.acceptedAt ? -1 : 1;
  return a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0;
}

export { offsetKey };
