import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbDeliveryLedger } from '../../lambdas/adapters/dynamodb/delivery-ledger.js';
import { DynamoDbInboxStore } from '../../lambdas/adapters/dynamodb/inbox-store.js';
import type { InboxStore } from '../../lambdas/domain/ports.js';
import { createTestTables } from '../support/dynamodb.js';
import { aNotification } from './contracts/notification-log.contract.js';

const ROUNDS = 6;
const DEVICES = 4;
const ARRIVING_PER_ROUND = 4;

/** Every item of the user's inbox, paging with `before` as a client would. */
async function listAll(inbox: InboxStore, userId: string): Promise<{ items: { messageId: string; read: boolean }[]; unreadCount: number }> {
  const items: { messageId: string; read: boolean }[] = [];
  let before: string | undefined;
  let unreadCount = -1;
  do {
    const page = await inbox.list(userId, { limit: 7, unreadOnly: false, ...(before ? { before } : {}) });
    items.push(...page.items.map(({ messageId, read }) => ({ messageId, read })));
    unreadCount = page.unreadCount;
    before = page.next;
  } while (before !== undefined);
  return { items, unreadCount };
}

describe('DynamoDbInboxStore under races (DynamoDB Local)', () => {
  // 0: every exception lives as an item of its own, written in the state's transaction.
  it.each([{ readAboveInState: undefined }, { readAboveInState: 0 }])(
    'keeps unreadCount equal to the unread items listed while devices mark read and notifications arrive (exceptions in the state item: $readAboveInState)',
    async ({ readAboveInState }) => {
      // Prepare: one store per device, as separate Lambda containers would be, and the
      // fan-out's own write path (the ledger's begin) for arriving notifications.
      const { client, tables } = await createTestTables();
      const devices = Array.from(
        { length: DEVICES },
        () => new DynamoDbInboxStore({ client, tables }, readAboveInState === undefined ? {} : { readAboveInState }),
      );
      const ledger = new DynamoDbDeliveryLedger({ client, tables });
      const userId = `racer-${randomUUID()}`;
      let second = 0;
      const arrive = async () => {
        const notification = aNotification(new Date(Date.UTC(2034, 0, 1, 0, 0, second++)).toISOString());
        await ledger.begin(notification, [{ kind: 'user', userId }], { owner: randomUUID(), leaseUntilMs: Date.now() + 60_000 }, 3_600);
        return notification.messageId;
      };
      const known: string[] = [];
      for (let index = 0; index < 6; index++) known.push(await arrive());
      const reportedRead = new Set<string>();
      let mostExceptionItems = 0;

      for (let round = 0; round < ROUNDS; round++) {
        // Act: each device marks a few known ids (some shared with another device, so two
        // devices race for the same item); on the last device of odd rounds, all. Every
        // fifth item is never marked by id, so reads land above unread items (exceptions).
        const picks = devices.map((_, device) => known.filter((_, index) => index % 5 !== 1 && (index + device + round) % 3 === 0).slice(-5));
        const marks = devices.map((device, index) => device.markRead(userId, round % 2 === 1 && index === DEVICES - 1 ? 'all' : picks[index]!));
        const arrivals = Array.from({ length: ARRIVING_PER_ROUND }, () => arrive());
        const [marked, arrived] = await Promise.all([Promise.all(marks), Promise.all(arrivals)]);
        known.push(...arrived);

        // Assess: the invariant, each read reported once across devices, none lost.
        const listed = await listAll(devices[round % DEVICES]!, userId);
        const unreadListed = listed.items.filter((item) => !item.read).length;
        expect(listed.unreadCount, `round ${round}`).toBe(unreadListed);
        expect(await devices[0]!.unreadCount(userId), `round ${round}`).toBe(unreadListed);
        expect(listed.items).toHaveLength(known.length);
        for (const result of marked) {
          for (const messageId of result.read) {
            expect(reportedRead.has(messageId), `${messageId} reported read twice`).toBe(false);
            reportedRead.add(messageId);
          }
          expect(result.unreadCount).toBeGreaterThanOrEqual(0);
        }
        const readListed = new Set(listed.items.filter((item) => item.read).map((item) => item.messageId));
        for (const messageId of reportedRead) expect(readListed.has(messageId), `${messageId} was reported read, then lost`).toBe(true);
        const exceptionItems = await client.send(
          new QueryCommand({
            TableName: tables.Notifications,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :read)',
            ExpressionAttributeValues: { ':pk': `inbox#${userId}`, ':read': 'read#' },
            Select: 'COUNT',
          }),
        );
        mostExceptionItems = Math.max(mostExceptionItems, exceptionItems.Count ?? 0);
      }

      // With no exceptions in the state item, the races did reach the exception items.
      if (readAboveInState === 0) expect(mostExceptionItems).toBeGreaterThan(0);
      const last = await devices[1]!.markRead(userId, 'all');
      expect(last.unreadCount).toBe(0);
      expect((await listAll(devices[2]!, userId)).unreadCount).toBe(0);
    },
    60_000,
  );
});
