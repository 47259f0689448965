import { GetCommand, PutCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TransientError } from '../../domain/errors.js';
import {
  isRead,
  markReadState,
  markResult,
  placeExceptions,
  READ_ABOVE_IN_STATE,
  type InboxItem,
  type InboxMarkResult,
  type InboxPage,
  type InboxPageRequest,
  type InboxReadState,
  type PlacedChange,
  type UnreadEntry,
} from '../../domain/inbox-state.js';
import type { InboxStore } from '../../domain/ports.js';
import type { NotificationFrame } from '../../../protocol/frames.js';
import { cancellationReasons, errorName, isConditionalCheckFailed, translateSdkError, translatingErrors } from './error-translation.js';
import { queryPages } from './query-pages.js';
import type { DynamoDbStoreProps } from './store-props.js';
import type { TableNames } from '../../../protocol/tables.js';

/**
 * Attempts of a markRead whose conditional write lost to a concurrent one. Each round
 * one writer wins, so n devices marking at once settle within n rounds; the jittered
 * pause between attempts keeps them from colliding in lockstep.
 */
const MARK_ATTEMPTS = 16;
const MARK_PAUSE_MS = 15;

/** A stored read state, with the version its conditional write compares. */
interface VersionedState extends InboxReadState {
  /** Undefined: no state item yet (nothing was ever marked read). */
  readonly version?: number;
  /** The positions of `readAbove` stored as items of their own. */
  readonly asItems: ReadonlySet<string>;
}

/** The unread items, and when each one's stream item expires (epoch seconds). */
interface Unread {
  readonly entries: UnreadEntry[];
  readonly expiresAt: ReadonlyMap<string, number>;
}

/** The partition of a user's read state, beside the `user#` stream. */
function inboxPartition(userId: string): string {
  return `inbox#${userId}`;
}

/** The key of a user's read-state item. */
export function inboxStateKey(userId: string): { pk: string; sk: string } {
  return { pk: inboxPartition(userId), sk: 'state' };
}

/** The key of an exception kept as an item of its own. */
function exceptionKey(userId: string, position: string): { pk: string; sk: string } {
  return { pk: inboxPartition(userId), sk: `${EXCEPTION_PREFIX}${position}` };
}

const EXCEPTION_PREFIX = 'read#';
const EXCEPTION_TTL_MARGIN_SECONDS = 86_400;

export interface DynamoDbInboxStoreOptions {
  /** Exceptions the state item keeps before more go to items of their own. @default READ_ABOVE_IN_STATE */
  readonly readAboveInState?: number;
}

/**
 * {@link InboxStore} over the Notifications table. The items are the `user#{userId}`
 * stream items the fan-out writes anyway (sk `{acceptedAt}#{messageId}`); the read state
 * is one `inbox#{userId}` / `state` item (watermark, exceptions, version), and beyond
 * its first {@link READ_ABOVE_IN_STATE} exceptions one `read#{position}` item per
 * exception in the same partition (with the TTL of the stream item it marks), so the
 * state item stays small whatever is read. The
 * unread count is a Query of the keys above the watermark less the exceptions, so no
 * counter exists that could drift and the notification path writes nothing more. Every
 * state change is a PutItem conditional on the version read, in one transaction with the
 * exception items it writes.
 */
export class DynamoDbInboxStore implements InboxStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tables: TableNames;
  private readonly readAboveInState: number;

  constructor(props: DynamoDbStoreProps, options: DynamoDbInboxStoreOptions = {}) {
    this.client = props.client;
    this.tables = props.tables;
    this.readAboveInState = options.readAboveInState ?? READ_ABOVE_IN_STATE;
  }

  async list(userId: string, request: InboxPageRequest): Promise<InboxPage> {
    const state = await this.readState(userId);
    const [page, unread] = await Promise.all([this.readPage(userId, state, request), this.unread(userId, state)]);
    return { ...page, unreadCount: unread.entries.length };
  }

  async unreadCount(userId: string): Promise<number> {
    return (await this.unread(userId, await this.readState(userId))).entries.length;
  }

  async markRead(userId: string, target: readonly string[] | 'all'): Promise<InboxMarkResult> {
    // Read by earlier writes of this call, when the change took more than one.
    const earlier: UnreadEntry[] = [];
    let conflicts = 0;
    while (conflicts < MARK_ATTEMPTS) {
      const state = await this.readState(userId);
      const unread = await this.unread(userId, state);
      const change = markReadState(state, unread.entries, target);
      if (!change) return markResult(unread.entries.length, earlier, state.readUpTo);
      const placed = placeExceptions(state.asItems, change, this.readAboveInState);
      if (await this.write(userId, state, change.next.readUpTo, placed, unread)) {
        if (!placed.deferred) return markResult(unread.entries.length - placed.changed.length, [...earlier, ...placed.changed], change.next.readUpTo);
        earlier.push(...placed.changed);
        continue;
      }
      // Another markRead of this user won the write: read again and redo ours on top of it.
      conflicts += 1;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * MARK_PAUSE_MS * conflicts));
    }
    throw new TransientError(`the inbox of ${userId} kept changing; markRead did not settle in ${MARK_ATTEMPTS} attempts`);
  }

  /**
   * The state item (strongly consistent GetItem) and, when it says some lie above its
   * watermark, the exception items there (a strongly consistent Query of that range only:
   * those the watermark passed are never read again). The two reads are not one snapshot,
   * but exception items are only ever added and the watermark only rises, so what they
   * show together is read; a markRead's write is conditional on the version read first.
   */
  private async readState(userId: string): Promise<VersionedState> {
    const output = await translatingErrors('GetItem', () =>
      this.client.send(new GetCommand({ TableName: this.tables.Notifications, Key: inboxStateKey(userId), ConsistentRead: true })),
    );
    const item = output.Item;
    if (!item) return { readUpTo: '', readAbove: new Set(), asItems: new Set() };
    const readUpTo = typeof item.readUpTo === 'string' ? item.readUpTo : '';
    const asItems = new Set<string>();
    if (item.itemsAbove === true) {
      for await (const page of queryPages(this.client, undefined, {
        TableName: this.tables.Notifications,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :after AND :last',
        ExpressionAttributeValues: { ':pk': inboxPartition(userId), ':after': `${EXCEPTION_PREFIX}${readUpTo}`, ':last': `${EXCEPTION_PREFIX}\uffff` },
        ProjectionExpression: 'sk',
        ConsistentRead: true,
      })) {
        for (const exception of page) {
          const position = (exception.sk as string).slice(EXCEPTION_PREFIX.length);
          if (position > readUpTo) asItems.add(position);
        }
      }
    }
    const inState = Array.isArray(item.readAbove) ? (item.readAbove as string[]) : [];
    return { readUpTo, readAbove: new Set([...inState, ...asItems]), asItems, version: Number(item.version ?? 0) };
  }

  /**
   * Puts the state item conditional on the version read; with exception items to write,
   * all of it in one transaction. False when the state moved on since that version (or an
   * item of the transaction was being changed by another one).
   */
  private async write(userId: string, state: VersionedState, readUpTo: string, placed: PlacedChange, unread: Unread): Promise<boolean> {
    const put = {
      TableName: this.tables.Notifications,
      Item: {
        ...inboxStateKey(userId),
        readUpTo,
        readAbove: [...placed.inState].sort(),
        ...(placed.itemsAbove ? { itemsAbove: true } : {}),
        version: (state.version ?? 0) + 1,
      },
      ...(state.version === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : { ConditionExpression: 'version = :version', ExpressionAttributeValues: { ':version': state.version } }),
    };
    if (placed.newItems.length === 0) {
      try {
        await this.client.send(new PutCommand(put));
        return true;
      } catch (error) {
        // A conflict: another device's transaction on the state item was in flight.
        if (isConditionalCheckFailed(error) || errorName(error) === 'TransactionConflictException') return false;
        throw translateSdkError(error, 'PutItem');
      }
    }
    // An exception item outlives the stream item it marks by a day (a redelivery rewrites a
    // stream item with a later TTL); one the state held before, whose stream item this
    // read did not see, takes the newest unread item's, which is newer.
    let latest = 0;
    for (const expiresAt of unread.expiresAt.values()) latest = Math.max(latest, expiresAt);
    const expiry = (position: string) => (unread.expiresAt.get(position) ?? latest) + EXCEPTION_TTL_MARGIN_SECONDS;
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: put },
            ...placed.newItems.map((position) => ({
              Put: { TableName: this.tables.Notifications, Item: { ...exceptionKey(userId, position), expiresAt: expiry(position) } },
            })),
          ],
        }),
      );
      return true;
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (reasons?.every((code) => code === 'None' || code === 'ConditionalCheckFailed' || code === 'TransactionConflict')) return false;
      throw translateSdkError(error, 'TransactWriteItems');
    }
  }

  /** Every unread item: the keys above the watermark (strongly consistent) less the exceptions. */
  private async unread(userId: string, state: InboxReadState): Promise<Unread> {
    const entries: UnreadEntry[] = [];
    const expiresAt = new Map<string, number>();
    for await (const page of queryPages(this.client, undefined, {
      TableName: this.tables.Notifications,
      ...aboveCondition(userId, state.readUpTo),
      ProjectionExpression: 'sk, messageId, expiresAt',
      ConsistentRead: true,
    })) {
      for (const item of page) {
        const position = item.sk as string;
        if (state.readAbove.has(position)) continue;
        entries.push({ position, messageId: item.messageId as string });
        if (typeof item.expiresAt === 'number') expiresAt.set(position, item.expiresAt);
      }
    }
    return { entries, expiresAt };
  }

  private async readPage(userId: string, state: InboxReadState, request: InboxPageRequest): Promise<Omit<InboxPage, 'unreadCount'>> {
    const lower = request.unreadOnly ? state.readUpTo : '';
    // Nothing unread lies at or below the watermark.
    if (request.before !== undefined && lower !== '' && request.before <= lower) return { items: [] };
    const values: Record<string, unknown> = { ':pk': `user#${userId}` };
    let condition = 'pk = :pk';
    if (request.before !== undefined && lower !== '') {
      // BETWEEN is inclusive at both ends: the ends themselves are dropped below.
      condition += ' AND sk BETWEEN :lower AND :before';
      values[':lower'] = lower;
      values[':before'] = request.before;
    } else if (request.before !== undefined) {
      condition += ' AND sk < :before';
      values[':before'] = request.before;
    } else if (lower !== '') {
      condition += ' AND sk > :lower';
      values[':lower'] = lower;
    }
    const wanted = request.limit + 1;
    const items: (InboxItem & { position: string })[] = [];
    for await (const page of queryPages(this.client, wanted, {
      TableName: this.tables.Notifications,
      KeyConditionExpression: condition,
      ExpressionAttributeValues: values,
      ScanIndexForward: false,
      ConsistentRead: true,
    })) {
      for (const item of page) {
        const position = item.sk as string;
        if (position === request.before || (lower !== '' && position <= lower)) continue;
        const read = isRead(state, position);
        if (request.unreadOnly && read) continue;
        items.push({
          position,
          messageId: item.messageId as string,
          acceptedAt: item.acceptedAt as string,
          read,
          frame: JSON.parse(item.frame as string) as NotificationFrame,
        });
      }
      if (items.length >= wanted) break;
    }
    const shown = items.slice(0, request.limit);
    return {
      items: shown.map(({ position: _position, ...item }) => item),
      ...(items.length > request.limit ? { next: shown[shown.length - 1]!.position } : {}),
    };
  }
}

function aboveCondition(userId: string, readUpTo: string): { KeyConditionExpression: string; ExpressionAttributeValues: Record<string, unknown> } {
  return readUpTo === ''
    ? { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `user#${userId}` } }
    : { KeyConditionExpression: 'pk = :pk AND sk > :readUpTo', ExpressionAttributeValues: { ':pk': `user#${userId}`, ':readUpTo': readUpTo } };
}
