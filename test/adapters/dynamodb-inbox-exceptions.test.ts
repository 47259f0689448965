import { randomUUID } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoDbInboxStore, inboxStateKey } from '../../lambdas/adapters/dynamodb/inbox-store.js';
import { DynamoDbNotificationLog } from '../../lambdas/adapters/dynamodb/notification-log.js';
import { READ_ABOVE_IN_STATE } from '../../lambdas/domain/inbox-state.js';
import type { StoredNotification } from '../../lambdas/domain/ports.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';
import { aNotification } from './contracts/notification-log.contract.js';

const HISTORY_TTL_SECONDS = 3_600;

/**
 * The read state of a user who reads many items one by one around an old unread one:
 * the state item keeps a bounded number of exceptions and the rest live as items of
 * their own (DynamoDB Local). Without the bound the state item grew by 62 bytes per read
 * until DynamoDB's 400 KB item limit refused it (about 6,500 reads).
 */
describe('DynamoDbInboxStore: exceptions beyond the state item', () => {
  async function anInbox(db: TestTables, count: number): Promise<{ userId: string; sent: StoredNotification[] }> {
    const log = new DynamoDbNotificationLog(db);
    const userId = `reader-${randomUUID()}`;
    const sent = Array.from({ length: count }, (_, index) => aNotification(new Date(Date.UTC(2035, 0, 1, 0, 0, index)).toISOString()));
    await Promise.all(sent.map((notification) => log.append(notification, [{ kind: 'user', userId }], HISTORY_TTL_SECONDS)));
    return { userId, sent };
  }

  /** The tables' client, recording the partition of every Query it sends. */
  function recording(db: TestTables): { db: TestTables; queried: string[] } {
    const queried: string[] = [];
    const client = {
      send: (command: { input: Record<string, unknown> }) => {
        if (command instanceof QueryCommand) queried.push(String((command.input.ExpressionAttributeValues as Record<string, unknown>)[':pk']));
        return db.client.send(command as never);
      },
    } as unknown as DynamoDBDocumentClient;
    return { db: { ...db, client }, queried };
  }

  /** What the user's `inbox#` partition holds: the state item's exceptions and the exception items. */
  async function stored(db: TestTables, userId: string): Promise<{ inState: string[]; itemsAbove: unknown; items: { sk: string; expiresAt: unknown }[] }> {
    const state = await db.client.send(new GetCommand({ TableName: db.tables.Notifications, Key: inboxStateKey(userId), ConsistentRead: true }));
    const partition = await db.client.send(
      new QueryCommand({
        TableName: db.tables.Notifications,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :read)',
        ExpressionAttributeValues: { ':pk': inboxStateKey(userId).pk, ':read': 'read#' },
        ConsistentRead: true,
      }),
    );
    return {
      inState: (state.Item?.readAbove as string[] | undefined) ?? [],
      itemsAbove: state.Item?.itemsAbove,
      items: (partition.Items ?? []).map((item) => ({ sk: item.sk as string, expiresAt: item.expiresAt })),
    };
  }

  it('keeps at most the limit in the state item, the rest as items with a TTL, and the count exact', async () => {
    const db = await createTestTables();
    const { db: watched, queried } = recording(db);
    const inbox = new DynamoDbInboxStore(watched, { readAboveInState: 3 });
    const { userId, sent } = await anInbox(db, 14);
    const ids = sent.map((notification) => notification.messageId);

    // The oldest stays unread; the 12 newest are read one by one, the next-to-oldest never.
    for (const messageId of ids.slice(2)) expect((await inbox.markRead(userId, [messageId])).read).toEqual([messageId]);

    const after = await stored(db, userId);
    expect(after.inState).toHaveLength(3);
    expect(after.items).toHaveLength(9);
    expect(after.itemsAbove).toBe(true);
    const now = Math.floor(Date.now() / 1000);
    for (const item of after.items) expect(item.expiresAt).toBeGreaterThan(now + HISTORY_TTL_SECONDS - 120);
    expect(await inbox.unreadCount(userId)).toBe(2);
    const page = await inbox.list(userId, { limit: 20, unreadOnly: false });
    expect(page.items.filter((item) => !item.read).map((item) => item.messageId)).toEqual([ids[1], ids[0]]);
    expect(page.unreadCount).toBe(2);
    expect((await inbox.list(userId, { limit: 20, unreadOnly: true })).items.map((item) => item.messageId)).toEqual([ids[1], ids[0]]);
    // Already read, wherever the exception lives: no change, nothing reported.
    expect(await inbox.markRead(userId, [ids[5]!, ids[13]!])).toMatchObject({ read: [], unreadCount: 2 });

    // Reading the two old ones folds every exception into the watermark. The items stay
    // until their TTL, and nothing reads them again.
    const folded = await inbox.markRead(userId, [ids[0]!, ids[1]!]);
    expect(folded).toMatchObject({ read: [ids[1], ids[0]], unreadCount: 0 });
    expect(await stored(db, userId)).toMatchObject({ inState: [], itemsAbove: undefined, items: { length: 9 } });
    queried.length = 0;
    expect(await inbox.unreadCount(userId)).toBe(0);
    expect(queried).toEqual([`user#${userId}`]);
  });

  it('takes a markRead that moves more than one transaction holds in several writes, and reports it once', async () => {
    const db = await createTestTables();
    const inbox = new DynamoDbInboxStore(db, { readAboveInState: 0 });
    const { userId, sent } = await anInbox(db, 102);
    const newest = sent.slice(2).map((notification) => notification.messageId);

    const result = await inbox.markRead(userId, newest);

    // 100 exceptions to store and 99 items a transaction beside the state: two writes.
    expect(result.unreadCount).toBe(2);
    expect(result.read).toEqual([...newest].reverse());
    expect((await stored(db, userId)).items).toHaveLength(100);
    expect(await inbox.unreadCount(userId)).toBe(2);

    // Mark-all is one write of the state item whatever lies above the watermark, and then
    // reads around a new unread item make exception items again, above the new watermark.
    expect(await inbox.markRead(userId, 'all')).toMatchObject({ unreadCount: 0, read: [sent[1]!.messageId, sent[0]!.messageId] });
    expect(await stored(db, userId)).toMatchObject({ inState: [], itemsAbove: undefined });
    const later = Array.from({ length: 3 }, (_, index) => aNotification(new Date(Date.UTC(2035, 0, 2, 0, 0, index)).toISOString()));
    for (const notification of later) await new DynamoDbNotificationLog(db).append(notification, [{ kind: 'user', userId }], HISTORY_TTL_SECONDS);
    expect(await inbox.markRead(userId, [later[2]!.messageId])).toMatchObject({ unreadCount: 2, read: [later[2]!.messageId] });
    expect(await stored(db, userId)).toMatchObject({ inState: [], itemsAbove: true, items: { length: 101 } });
    expect((await inbox.list(userId, { limit: 3, unreadOnly: false })).items.map((item) => item.read)).toEqual([true, false, false]);
  });

  it('writes the state item alone while its exceptions fit, then one exception item beside it', async () => {
    const db = await createTestTables();
    const inbox = new DynamoDbInboxStore(db);
    const { userId, sent } = await anInbox(db, 20);

    for (const notification of sent.slice(1, 1 + READ_ABOVE_IN_STATE)) await inbox.markRead(userId, [notification.messageId]);
    expect(await stored(db, userId)).toMatchObject({ inState: { length: READ_ABOVE_IN_STATE }, itemsAbove: undefined, items: [] });

    await inbox.markRead(userId, [sent[1 + READ_ABOVE_IN_STATE]!.messageId]);
    expect(await stored(db, userId)).toMatchObject({ inState: { length: READ_ABOVE_IN_STATE }, itemsAbove: true, items: { length: 1 } });
    expect(await inbox.unreadCount(userId)).toBe(20 - READ_ABOVE_IN_STATE - 1);
  });
});
