import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { InboxStore, NotificationLog, StoredNotification } from '../../../lambdas/domain/ports.js';
import { aNotification } from './notification-log.contract.js';

const HISTORY_TTL_SECONDS = 3_600;

/** An InboxStore and the NotificationLog over the same store (it writes the inbox items). */
export interface InboxPorts {
  readonly inbox: InboxStore;
  readonly notifications: NotificationLog;
}

export type InboxPortsFactory = () => Promise<InboxPorts>;

/** What every InboxStore must do, whatever it stores into. */
export function describeInboxStoreContract(implementation: string, createPorts: InboxPortsFactory): void {
  describe(`InboxStore contract: ${implementation}`, () => {
    let inbox: InboxStore;
    let notifications: NotificationLog;
    beforeAll(async () => {
      ({ inbox, notifications } = await createPorts());
    });

    /** A user of their own with `count` notifications, one a second from 2033-01-01, oldest first. */
    async function anInbox(count: number): Promise<{ userId: string; sent: StoredNotification[] }> {
      const userId = `inbox-${randomUUID()}`;
      const sent = Array.from({ length: count }, (_, index) => aNotification(new Date(Date.UTC(2033, 0, 1, 0, 0, index)).toISOString()));
      for (const notification of sent) await notifications.append(notification, [{ kind: 'user', userId }], HISTORY_TTL_SECONDS);
      return { userId, sent };
    }

    const ids = (items: readonly { messageId: string }[]): string[] => items.map((item) => item.messageId);

    it('lists a new inbox newest first, every item unread, and counts them', async () => {
      const { userId, sent } = await anInbox(3);

      const page = await inbox.list(userId, { limit: 20, unreadOnly: false });

      expect(ids(page.items)).toEqual(ids([...sent].reverse()));
      expect(page.items.every((item) => !item.read)).toBe(true);
      expect(page.items[0]).toMatchObject({ acceptedAt: sent[2]!.acceptedAt, frame: sent[2]!.frame });
      expect(page.unreadCount).toBe(3);
      expect(page.next).toBeUndefined();
      expect(await inbox.unreadCount(userId)).toBe(3);
    });

    it('counts 0 for a user with no inbox, and channel notifications are no inbox items', async () => {
      const userId = `inbox-${randomUUID()}`;
      await notifications.append(
        aNotification('2033-01-01T00:00:00.000Z'),
        [{ kind: 'channel', channel: `user-${userId}-elsewhere` }, { kind: 'broadcast' }],
        HISTORY_TTL_SECONDS,
      );

      expect(await inbox.unreadCount(userId)).toBe(0);
      expect(await inbox.list(userId, { limit: 5, unreadOnly: false })).toEqual({ items: [], unreadCount: 0 });
    });

    it('pages with `before` until the oldest, each item once', async () => {
      const { userId, sent } = await anInbox(7);

      const seen: string[] = [];
      let before: string | undefined;
      let pages = 0;
      do {
        const page = await inbox.list(userId, { limit: 3, unreadOnly: false, ...(before ? { before } : {}) });
        seen.push(...ids(page.items));
        before = page.next;
        pages++;
      } while (before !== undefined && pages < 10);

      expect(seen).toEqual(ids([...sent].reverse()));
      expect(pages).toBe(3);
    });

    it('marks ids read: only those change, the answer names them and the count drops', async () => {
      const { userId, sent } = await anInbox(5);

      const result = await inbox.markRead(userId, [sent[1]!.messageId, sent[3]!.messageId]);

      expect(result.read.sort()).toEqual([sent[1]!.messageId, sent[3]!.messageId].sort());
      expect(result.unreadCount).toBe(3);
      const page = await inbox.list(userId, { limit: 20, unreadOnly: false });
      expect(page.items.map((item) => item.read)).toEqual([false, true, false, true, false]);
      expect(page.unreadCount).toBe(3);
    });

    it("changes nothing for ids already read, unknown, or someone else's", async () => {
      const { userId, sent } = await anInbox(2);
      const other = await anInbox(2);
      await inbox.markRead(userId, [sent[0]!.messageId]);

      const result = await inbox.markRead(userId, [sent[0]!.messageId, randomUUID(), other.sent[0]!.messageId]);

      expect(result).toMatchObject({ unreadCount: 1, read: [] });
      expect(await inbox.unreadCount(other.userId)).toBe(2);
      expect((await inbox.list(other.userId, { limit: 5, unreadOnly: false })).items.every((item) => !item.read)).toBe(true);
    });

    it('marks all read in one change; a later notification is unread', async () => {
      const { userId, sent } = await anInbox(4);
      await inbox.markRead(userId, [sent[2]!.messageId]);

      const all = await inbox.markRead(userId, 'all');
      const later = aNotification('2033-01-02T00:00:00.000Z');
      await notifications.append(later, [{ kind: 'user', userId }], HISTORY_TTL_SECONDS);

      expect(all.read.sort()).toEqual([sent[0], sent[1], sent[3]].map((n) => n!.messageId).sort());
      expect(all.unreadCount).toBe(0);
      const page = await inbox.list(userId, { limit: 20, unreadOnly: false });
      expect(page.items.map((item) => [item.messageId, item.read])).toEqual([[later.messageId, false], ...[...sent].reverse().map((n) => [n.messageId, true])]);
      expect(page.unreadCount).toBe(1);
      expect(await inbox.markRead(userId, 'all')).toMatchObject({ unreadCount: 0, read: [later.messageId] });
    });

    it('lists unread only, newest first, in pages, skipping items read above and below the watermark', async () => {
      const { userId, sent } = await anInbox(8);
      // 0 and 1 read (the watermark moves past them), 4 and 6 read above it.
      await inbox.markRead(
        userId,
        [0, 1, 4, 6].map((index) => sent[index]!.messageId),
      );

      const first = await inbox.list(userId, { limit: 2, unreadOnly: true });
      const second = await inbox.list(userId, { limit: 2, unreadOnly: true, before: first.next! });

      expect(ids(first.items)).toEqual([sent[7], sent[5]].map((n) => n!.messageId));
      expect(ids(second.items)).toEqual([sent[3], sent[2]].map((n) => n!.messageId));
      expect(second.next).toBeUndefined();
      expect(first.unreadCount).toBe(4);
    });

    it('keeps the count equal to the unread items listed after reads in any order', async () => {
      const { userId, sent } = await anInbox(10);
      const order = [5, 9, 0, 3, 1, 2, 8, 4, 7, 6];

      for (const [step, index] of order.entries()) {
        await inbox.markRead(userId, [sent[index]!.messageId]);
        const page = await inbox.list(userId, { limit: 100, unreadOnly: false });
        expect(page.items.filter((item) => !item.read)).toHaveLength(page.unreadCount);
        expect(page.unreadCount).toBe(10 - step - 1);
      }
    });

    it('loses no read when several markRead calls of one user run at once', async () => {
      const { userId, sent } = await anInbox(12);

      const results = await Promise.all(sent.map((notification) => inbox.markRead(userId, [notification.messageId])));

      expect(results.flatMap((result) => result.read).sort()).toEqual(ids(sent).sort());
      expect(await inbox.unreadCount(userId)).toBe(0);
    });
  });
}
