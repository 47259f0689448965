import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TransientError } from '../../domain/errors.js';
import {
  NOTIFICATION_COUNT_NAMES,
  type LedgerClaim,
  type LedgerEntry,
  type LedgerHandover,
  type NotificationCounts,
} from '../../domain/fanout/delivery-ledger.js';
import type { DeliveryLedger, StoredNotification } from '../../domain/ports.js';
import type { Target } from '../../../protocol/records.js';
import { countsFrom } from '../../domain/fanout/outcome-counts.js';
import { instantKey, positionOf } from '../../domain/notification-streams.js';
import { isConditionalCheckFailed, translateSdkError, translatingErrors } from './error-translation.js';
import { messageKey, streamItems } from './notification-log.js';
import type { DynamoDbStoreProps } from './store-props.js';
import type { TableNames } from '../../../protocol/tables.js';

/**
 * {@link DeliveryLedger} in the Notifications table: the entry is the `message#{id}` item
 * that also tells `recover` when a message was accepted, so the duplicate check, the
 * in-progress marker and that lookup are one item of well under 1 KB (one write unit a
 * write). `begin` writes it (conditional) and the stream item at the same time: two
 * requests, one round trip.
 */
export class DynamoDbDeliveryLedger implements DeliveryLedger {
  private readonly client: DynamoDBDocumentClient;
  private readonly tables: TableNames;

  constructor(props: DynamoDbStoreProps) {
    this.client = props.client;
    this.tables = props.tables;
  }

  async begin(notification: StoredNotification, streams: readonly Target[], claim: LedgerClaim, ttlSeconds: number): Promise<LedgerEntry | undefined> {
    const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
    const acceptedAt = instantKey(notification.acceptedAt);
    const items = streamItems(notification, streams, ttlSeconds);
    const position = positionOf(notification.frame);
    const entryWrite = (async (): Promise<LedgerEntry | undefined> => {
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tables.Notifications,
            Item: {
              ...messageKey(notification.messageId),
              acceptedAt,
              status: 'posting',
              owner: claim.owner,
              leaseUntilMs: claim.leaseUntilMs,
              expiresAt,
              ...(position ? { stream: position.stream, epoch: position.epoch, offset: position.offset } : {}),
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        return undefined;
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw translateSdkError(error, 'PutItem');
        const existing = await this.get(notification.messageId);
        // Released between the two requests: the caller's retry claims it afresh.
        if (!existing) throw new TransientError(`the ledger entry of ${notification.messageId} vanished while it was read`);
        return existing;
      }
    })();
    // Stream items are written whatever the entry's fate, in the same round trip; a
    // duplicate's are removed again below (a rare path: redeliveries).
    const streamWrites = Promise.all(
      items.map((Item) => translatingErrors('PutItem', () => this.client.send(new PutCommand({ TableName: this.tables.Notifications, Item })))),
    );
    const [entryOutcome, streamOutcome] = await Promise.allSettled([entryWrite, streamWrites]);
    if (entryOutcome.status === 'rejected') {
      // Whether the entry is ours is unknown; the retry finds out (its owner is ours, or not).
      await streamOutcome;
      throw entryOutcome.reason;
    }
    const existing = entryOutcome.value;
    if (existing && existing.owner !== claim.owner && !samePlace(existing, acceptedAt, position)) {
      await this.deleteStreamItems(items);
      if (streamOutcome.status === 'rejected') return existing;
    }
    if (streamOutcome.status === 'rejected') throw streamOutcome.reason;
    return existing && existing.owner === claim.owner ? undefined : existing;
  }

  async get(messageId: string): Promise<LedgerEntry | undefined> {
    const output = await translatingErrors('GetItem', () =>
      this.client.send(new GetCommand({ TableName: this.tables.Notifications, Key: messageKey(messageId), ConsistentRead: true })),
    );
    return output.Item ? toEntry(messageId, output.Item) : undefined;
  }

  async takeOver(messageId: string, claim: LedgerClaim, nowMs: number): Promise<LedgerEntry | undefined> {
    const attributes = await this.conditionalUpdate(messageId, {
      UpdateExpression: 'SET #owner = :owner, leaseUntilMs = :lease',
      ConditionExpression: 'attribute_exists(pk) AND #status = :posting AND (leaseUntilMs <= :now OR #owner = :owner)',
      ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
      ExpressionAttributeValues: { ':owner': claim.owner, ':lease': claim.leaseUntilMs, ':now': nowMs, ':posting': 'posting' },
      ReturnValues: 'ALL_NEW',
    });
    return attributes ? toEntry(messageId, attributes) : undefined;
  }

  async extend(messageId: string, owner: string, leaseUntilMs: number): Promise<boolean> {
    return (
      (await this.conditionalUpdate(messageId, {
        UpdateExpression: 'SET leaseUntilMs = :lease',
        ConditionExpression: '#owner = :owner AND #status = :posting',
        ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
        ExpressionAttributeValues: { ':owner': owner, ':lease': leaseUntilMs, ':posting': 'posting' },
      })) !== undefined
    );
  }

  async giveUp(messageId: string, owner: string, handover?: LedgerHandover): Promise<boolean> {
    return (
      (await this.conditionalUpdate(messageId, {
        UpdateExpression: handover ? 'SET leaseUntilMs = :zero, handover = :handover' : 'SET leaseUntilMs = :zero',
        ConditionExpression: '#owner = :owner AND #status = :posting',
        ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
        ExpressionAttributeValues: {
          ':owner': owner,
          ':posting': 'posting',
          ':zero': 0,
          ...(handover ? { ':handover': { counts: { ...handover.counts }, pending: [...handover.pending] } } : {}),
        },
      })) !== undefined
    );
  }

  async finish(messageId: string, owner: string, counts: NotificationCounts): Promise<boolean> {
    const values: Record<string, unknown> = { ':owner': owner, ':done': 'done', ':zero': 0 };
    for (const name of NOTIFICATION_COUNT_NAMES) values[`:${name}`] = counts[name];
    return (
      (await this.conditionalUpdate(messageId, {
        UpdateExpression: `SET #status = :done, leaseUntilMs = :zero, ${NOTIFICATION_COUNT_NAMES.map((name) => `#${name} = :${name}`).join(', ')} REMOVE handover`,
        // A retried finish whose first attempt landed finds it done by its own owner.
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status', ...Object.fromEntries(NOTIFICATION_COUNT_NAMES.map((name) => [`#${name}`, name])) },
        ExpressionAttributeValues: values,
      })) !== undefined
    );
  }

  async release(notification: StoredNotification, streams: readonly Target[], owner: string): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tables.Notifications,
          Key: messageKey(notification.messageId),
          ConditionExpression: '#owner = :owner AND #status = :posting',
          ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
          ExpressionAttributeValues: { ':owner': owner, ':posting': 'posting' },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw translateSdkError(error, 'DeleteItem');
      // Already released, or not ours. An item without a position shares its key with the
      // owner's: it stays. One at this run's own offset goes, unless the entry keeps the
      // notification there (a run that took it over posts it from there).
      const position = positionOf(notification.frame);
      if (!position) return false;
      const entry = await this.get(notification.messageId);
      if (entry?.position && entry.position.epoch === position.epoch && entry.position.offset === position.offset) return false;
    }
    await this.deleteStreamItems(streamItems(notification, streams, 0));
    return positionOf(notification.frame) !== undefined;
  }

  private async deleteStreamItems(items: readonly Record<string, unknown>[]): Promise<void> {
    await Promise.all(
      items.map((item) =>
        translatingErrors('DeleteItem', () => this.client.send(new DeleteCommand({ TableName: this.tables.Notifications, Key: { pk: item.pk, sk: item.sk } }))),
      ),
    );
  }

  /** The item after the update (ALL_NEW when asked), or undefined when the condition did not hold. */
  private async conditionalUpdate(
    messageId: string,
    input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName' | 'Key'>,
  ): Promise<Record<string, unknown> | undefined> {
    try {
      const output = await this.client.send(new UpdateCommand({ TableName: this.tables.Notifications, Key: messageKey(messageId), ...input }));
      return output.Attributes ?? {};
    } catch (error) {
      if (isConditionalCheckFailed(error)) return undefined;
      throw translateSdkError(error, 'UpdateItem');
    }
  }
}

function isHandover(value: unknown): value is LedgerHandover {
  const handover = value as Partial<LedgerHandover> | undefined;
  return typeof handover === 'object' && handover !== null && Array.isArray(handover.pending) && typeof handover.counts === 'object';
}

/** Whether `existing` keeps its notification in the stream item this call wrote (then it is not removed). */
function samePlace(existing: LedgerEntry, acceptedAt: string, position: ReturnType<typeof positionOf>): boolean {
  if (position || existing.position) return existing.position?.epoch === position?.epoch && existing.position?.offset === position?.offset;
  return instantKey(existing.acceptedAt) === acceptedAt;
}

function toEntry(messageId: string, item: Record<string, unknown>): LedgerEntry {
  const status = item.status === 'done' ? 'done' : 'posting';
  return {
    messageId,
    acceptedAt: item.acceptedAt as string,
    // An entry of an older release (no status) was written by a delivery that completed.
    status: item.status === undefined ? 'done' : status,
    owner: typeof item.owner === 'string' ? item.owner : '',
    leaseUntilMs: Number(item.leaseUntilMs ?? 0),
    ...(isHandover(item.handover) ? { handover: item.handover } : {}),
    ...(typeof item.stream === 'string' && typeof item.epoch === 'string'
      ? { position: { stream: item.stream, epoch: item.epoch, offset: Number(item.offset) } }
      : {}),
    ...(item.status === 'done' || item.status === undefined ? { counts: countsFrom(NOTIFICATION_COUNT_NAMES, item) } : {}),
  };
}
