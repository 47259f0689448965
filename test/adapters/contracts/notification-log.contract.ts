import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NotificationLog, StoredNotification } from '../../../lambdas/domain/ports.js';
import type { Target } from '../../../protocol/records.js';
import type { PortSet, PortSetFactory } from './port-set.js';

const HISTORY_TTL_SECONDS = 3_600;

/** A stored notification accepted at `acceptedAt`; `payload` overrides the payload's fields. */
export function aNotification(
  acceptedAt: string,
  messageId: string = randomUUID(),
  payload: Partial<StoredNotification['frame']['payload']> = {},
): StoredNotification {
  return {
    messageId,
    acceptedAt,
    frame: {
      messageId,
      type: 'notification',
      timestamp: acceptedAt,
      payload: {
        notificationId: randomUUID(),
        title: 'Booking Confirmed',
        message: `accepted at ${acceptedAt}`,
        priority: 'medium',
        createdAt: acceptedAt,
        ...payload,
      },
    },
  };
}

/** What every NotificationLog must do, whatever it stores into. */
export function describeNotificationLogContract(implementation: string, createPorts: PortSetFactory): void {
  describe(`NotificationLog contract: ${implementation}`, () => {
    let log: NotificationLog;
    let ports: PortSet;
    beforeAll(async () => {
      ports = await createPorts();
      log = ports.notifications;
    });

    /** Streams of their own for each test: a user inbox, a channel and (shared) broadcast. */
    function freshStreams(): { inbox: Target; channel: Target } {
      return {
        inbox: { kind: 'user', userId: `reader-${randomUUID()}` },
        channel: { kind: 'channel', channel: `history-${randomUUID()}` },
      };
    }

    it('reads across streams oldest first by (acceptedAt, messageId), each message once', async () => {
      // Prepare
      const { inbox, channel } = freshStreams();
      const sameInstant = '2031-05-05T10:00:01.000Z';
      const [lowId, highId] = [randomUUID(), randomUUID()].sort();
      const first = aNotification('2031-05-05T10:00:00.000Z');
      const tiedHigh = aNotification(sameInstant, highId);
      const tiedLow = aNotification(sameInstant, lowId);
      const last = aNotification('2031-05-05T10:00:02.000Z');
      await log.append(last, [channel], HISTORY_TTL_SECONDS);
      await log.append(tiedHigh, [inbox, channel], HISTORY_TTL_SECONDS);
      await log.append(first, [inbox], HISTORY_TTL_SECONDS);
      await log.append(tiedLow, [channel], HISTORY_TTL_SECONDS);

      // Act
      const read = await log.readSince([inbox, channel], '2031-05-05T09:00:00.000Z', 10);

      // Assess
      expect(read.notifications.map((n) => n.messageId)).toEqual([first, tiedLow, tiedHigh, last].map((n) => n.messageId));
      expect(read.notifications[1]).toEqual(tiedLow);
      expect(read.truncated).toBe(false);
    });

    it('includes a message accepted exactly at `since`, however the instant is written', async () => {
      // Prepare
      const { inbox } = freshStreams();
      const before = aNotification('2032-01-01T11:59:59.999Z');
      const atSince = aNotification('2032-01-01T12:00:00.000Z');
      await log.append(before, [inbox], HISTORY_TTL_SECONDS);
      await log.append(atSince, [inbox], HISTORY_TTL_SECONDS);

      // Act
      const exact = await log.readSince([inbox], '2032-01-01T12:00:00.000Z', 10);
      const withoutMillis = await log.readSince([inbox], '2032-01-01T12:00:00Z', 10);
      const withOffset = await log.readSince([inbox], '2032-01-01T13:00:00+01:00', 10);

      // Assess
      for (const read of [exact, withoutMillis, withOffset]) {
        expect(read.notifications.map((n) => n.messageId)).toEqual([atSince.messageId]);
      }
    });

    it('answers at most `limit`, the oldest, and says more were left', async () => {
      // Prepare
      const { inbox, channel } = freshStreams();
      const notifications = Array.from({ length: 7 }, (_, index) => aNotification(`2033-03-03T00:00:0${index}.000Z`));
      for (const [index, notification] of notifications.entries()) {
        await log.append(notification, [index % 2 === 0 ? inbox : channel], HISTORY_TTL_SECONDS);
      }

      // Act
      const limited = await log.readSince([inbox, channel], '2033-01-01T00:00:00.000Z', 4);
      const exactlyAll = await log.readSince([inbox, channel], '2033-01-01T00:00:00.000Z', 7);

      // Assess
      expect(limited.notifications.map((n) => n.messageId)).toEqual(notifications.slice(0, 4).map((n) => n.messageId));
      expect(limited.truncated).toBe(true);
      expect(exactlyAll.notifications).toHaveLength(7);
      expect(exactlyAll.truncated).toBe(false);
    });

    it('counts a message on several streams once towards the limit', async () => {
      // Prepare
      const { inbox, channel } = freshStreams();
      const everywhere = [aNotification('2034-04-04T00:00:01.000Z'), aNotification('2034-04-04T00:00:02.000Z')];
      for (const notification of everywhere) await log.append(notification, [inbox, channel], HISTORY_TTL_SECONDS);

      // Act
      const read = await log.readSince([inbox, channel], '2034-01-01T00:00:00.000Z', 2);

      // Assess
      expect(read.notifications.map((n) => n.messageId)).toEqual(everywhere.map((n) => n.messageId));
      expect(read.truncated).toBe(false);
    });

    it('keeps broadcasts in their own stream', async () => {
      // Prepare
      const { inbox } = freshStreams();
      const broadcast = aNotification('2035-05-05T00:00:00.000Z');
      await log.append(broadcast, [{ kind: 'broadcast' }], HISTORY_TTL_SECONDS);

      // Act
      const withBroadcast = await log.readSince([inbox, { kind: 'broadcast' }], '2035-05-05T00:00:00.000Z', 100);
      const inboxOnly = await log.readSince([inbox], '2035-05-05T00:00:00.000Z', 100);

      // Assess
      expect(withBroadcast.notifications.map((n) => n.messageId)).toContain(broadcast.messageId);
      expect(inboxOnly.notifications).toEqual([]);
    });

    it('tells when a message was accepted (the ledger entry), and nothing for an unknown one', async () => {
      // Prepare
      const { inbox } = freshStreams();
      const notification = aNotification('2036-06-06T06:06:06.006Z');
      await ports.ledger.begin(notification, [inbox], { owner: 'run-1', leaseUntilMs: Date.now() + 60_000 }, HISTORY_TTL_SECONDS);

      // Act
      const known = await log.acceptedAt(notification.messageId);
      const unknown = await log.acceptedAt(randomUUID());

      // Assess
      expect(known).toBe('2036-06-06T06:06:06.006Z');
      expect(unknown).toBeUndefined();
    });
  });
}
