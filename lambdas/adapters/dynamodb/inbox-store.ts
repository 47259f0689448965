import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TransientError } from '../../domain/errors.js';
import {
  isRead,
  markReadState,
  markResult,
  type InboxItem,
  type InboxMarkResult,
  type InboxPage,
  type InboxPageRequest,
  type InboxReadState,
  type UnreadEntry,
} from '../../domain/inbox-state.js';
import type { InboxStore } from '../../domain/ports.js';
import type { NotificationFrame } from '../../../protocol/frames.js';
import { isConditionalCheckFailed, translateSdkError, translatingErrors } from './error-translation.js';
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
}

/** The key of a user's read-state item, in a partition of its own beside the `user#` stream. */
export function inboxStateKey(userId: string): { pk: string; sk: string } {
  return { pk: `inbox#${userId}`, sk: 'state' };
}

/**
 * {@link InboxStore} over the Notifications table. The items are the `user#{userId}`
 * stream items the fan-out writes anyway (sk `{acceptedAt}#{messageId}`); the read state
 * is one `inbox#{userId}` / `state` item (watermark, exceptions, version). The unread
 * count is a Query of the keys above the watermark less the exceptions, so no counter
 * exists that could drift and the notification path writes nothing more. Every state
 * change is a PutItem conditional on the version read.
 */
export class DynamoDbInboxStore implements InboxStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tables: TableNames;

  constructor(props: DynamoDbStoreProps) {
    this.client = props.client;
    this.tables = props.tables;
  }

  async list(userId: string, request: InboxPageRequest): Promise<InboxPage> {
    const state = await this.readState(userId);
    const [page, unread] = await Promise.all([this.readPage(userId, state, request), this.unread(userId, state)]);
    return { ...page, unreadCount: unread.length };
  }

  async unreadCount(userId: string): Promise<number> {
    return (await this.unread(userId, await this.readState(userId))).length;
  }

  async markRead(userId: string, target: readonly string[] | 'all'): Promise<InboxMarkResult> {
    for (let attempt = 1; attempt <= MARK_ATTEMPTS; attempt += 1) {
      const state = await this.readState(userId);
      const unread = await this.unread(userId, state);
      const change = markReadState(state, unread, target);
      if (!change) return markResult(state, unread, undefined);
      if (await this.writeState(userId, change.next, state.version)) return markResult(state, unread, change);
      // Another markRead of this user won the write: read again and redo ours on top of it.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * MARK_PAUSE_MS * attempt));
    }
    throw new TransientError(`the inbox of ${userId} kept changing; markRead did not settle in ${MARK_ATTEMPTS} attempts`);
  }

  private async readState(userId: string): Promise<VersionedState> {
    const output = await translatingErrors('GetItem', () =>
      this.client.send(new GetCommand({ TableName: this.tables.Notifications, Key: inboxStateKey(userId), ConsistentRead: true })),
    );
    const item = output.Item;
    if (!item) return { readUpTo: '', readAbove: new Set() };
    return {
      readUpTo: typeof item.readUpTo === 'string' ? item.readUpTo : '',
      readAbove: new Set(Array.isArray(item.readAbove) ? (item.readAbove as string[]) : []),
      version: Number(item.version ?? 0),
    };
  }

  /** False when the state moved on since `version` was read. */
  private async writeState(userId: string, next: InboxReadState, version: number | undefined): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tables.Notifications,
          Item: { ...inboxStateKey(userId), readUpTo: next.readUpTo, readAbove: [...next.readAbove].sort(), version: (version ?? 0) + 1 },
          ...(version === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : { ConditionExpression: 'version = :version', ExpressionAttributeValues: { ':version': version } }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw translateSdkError(error, 'PutItem');
    }
  }

  /** Every unread item: the keys above the watermark (strongly consistent) less the exceptions. */
  private async unread(userId: string, state: InboxReadState): Promise<UnreadEntry[]> {
    const found: UnreadEntry[] = [];
    for await (const page of queryPages(this.client, undefined, {
      TableName: this.tables.Notifications,
      ...aboveCondition(userId, state.readUpTo),
      ProjectionExpression: 'sk, messageId',
      ConsistentRead: true,
    })) {
      for (const item of page) {
        const position = item.sk as string;
        if (!state.readAbove.has(position)) found.push({ position, messageId: item.messageId as string });
      }
    }
    return found;
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
