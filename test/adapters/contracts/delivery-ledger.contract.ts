import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryLedger, NotificationLog } from '../../../lambdas/domain/ports.js';
import type { Target } from '../../../protocol/records.js';
import { aNotification } from './notification-log.contract.js';
import type { PortSetFactory } from './port-set.js';

const TTL_SECONDS = 3_600;
const EPOCH = '2000-01-01T00:00:00.000Z';
const COUNTS = { targets: 3, shards: 1, delivered: 2, gone: 1, failed: 0, inDoubt: 0, retried: 1, throttled: 0 };

/** What every DeliveryLedger must do, whatever it stores into. */
export function describeDeliveryLedgerContract(implementation: string, createPorts: PortSetFactory): void {
  describe(`DeliveryLedger contract: ${implementation}`, () => {
    let ledger: DeliveryLedger;
    let log: NotificationLog;
    beforeAll(async () => {
      const ports = await createPorts();
      ledger = ports.ledger;
      log = ports.notifications;
    });

    const inboxOf = (): Target => ({ kind: 'user', userId: `reader-${randomUUID()}` });
    const kept = async (stream: Target) => (await log.readSince([stream], EPOCH, 10)).notifications;
    const claim = (owner: string, leaseMs = 60_000) => ({ owner, leaseUntilMs: Date.now() + leaseMs });

    describe('begin', () => {
      it('claims a new messageId and keeps the notification on its stream in the same call', async () => {
        const inbox = inboxOf();
        const notification = aNotification('2033-01-01T00:00:00.000Z');

        const existing = await ledger.begin(notification, [inbox], claim('run-1'), TTL_SECONDS);

        expect(existing).toBeUndefined();
        expect(await ledger.get(notification.messageId)).toMatchObject({ status: 'posting', owner: 'run-1', acceptedAt: notification.acceptedAt });
        expect((await kept(inbox)).map((n) => n.messageId)).toEqual([notification.messageId]);
        expect(await log.acceptedAt(notification.messageId)).toBe(notification.acceptedAt);
      });

      it('answers a second run with the entry, and leaves no second history item behind', async () => {
        const inbox = inboxOf();
        const first = aNotification('2033-01-01T00:00:00.000Z');
        await ledger.begin(first, [inbox], claim('run-1'), TTL_SECONDS);
        // A redelivery is accepted later, so its frame carries another timestamp.
        const again = { ...aNotification('2033-01-01T00:00:05.000Z', first.messageId) };

        const existing = await ledger.begin(again, [inbox], claim('run-2'), TTL_SECONDS);

        expect(existing).toMatchObject({ messageId: first.messageId, status: 'posting', owner: 'run-1', acceptedAt: first.acceptedAt });
        const items = await kept(inbox);
        expect(items.map((n) => n.acceptedAt)).toEqual([first.acceptedAt]);
      });

      it('treats its own earlier attempt (an answer lost, the call retried) as its claim', async () => {
        const inbox = inboxOf();
        const notification = aNotification('2033-01-01T00:00:00.000Z');
        const mine = claim('run-1');
        await ledger.begin(notification, [inbox], mine, TTL_SECONDS);

        expect(await ledger.begin(notification, [inbox], mine, TTL_SECONDS)).toBeUndefined();
        expect(await kept(inbox)).toHaveLength(1);
      });
    });

    describe('takeOver', () => {
      it("refuses while the owner's lease holds, and takes it once the lease ended", async () => {
        const notification = aNotification('2033-01-01T00:00:00.000Z');
        await ledger.begin(notification, [inboxOf()], { owner: 'run-1', leaseUntilMs: 5_000 }, TTL_SECONDS);

        const early = await ledger.takeOver(notification.messageId, { owner: 'run-2', leaseUntilMs: 9_000 }, 4_999);
        const late = await ledger.takeOver(notification.messageId, { owner: 'run-2', leaseUntilMs: 9_000 }, 5_000);

        expect(early).toBeUndefined();
        expect(late).toMatchObject({ owner: 'run-2', leaseUntilMs: 9_000, status: 'posting', acceptedAt: notification.acceptedAt });
        // The first owner has lost it: it can neither extend nor finish.
        expect(await ledger.extend(notification.messageId, 'run-1', 20_000)).toBe(false);
        expect(await ledger.finish(notification.messageId, 'run-1', COUNTS)).toBe(false);
      });

      it('never takes a finished entry', async () => {
        const notification = aNotification('2033-01-01T00:00:00.000Z');
        await ledger.begin(notification, [inboxOf()], { owner: 'run-1', leaseUntilMs: 5_000 }, TTL_SECONDS);
        expect(await ledger.finish(notification.messageId, 'run-1', COUNTS)).toBe(true);

        expect(await ledger.takeOver(notification.messageId, { owner: 'run-2', leaseUntilMs: 9_000 }, 10_000)).toBeUndefined();
        expect(await ledger.get(notification.messageId)).toMatchObject({ status: 'done', owner: 'run-1', counts: COUNTS });
      });
    });

    describe('finish and release', () => {
      it('marks it done with its counts; a later begin finds it done', async () => {
        const notification = aNotification('2033-01-01T00:00:00.000Z');
        await ledger.begin(notification, [inboxOf()], claim('run-1'), TTL_SECONDS);

        expect(await ledger.extend(notification.messageId, 'run-1', Date.now() + 120_000)).toBe(true);
        expect(await ledger.finish(notification.messageId, 'run-1', COUNTS)).toBe(true);
        const later = await ledger.begin(notification, [inboxOf()], claim('run-2'), TTL_SECONDS);

        expect(later).toMatchObject({ status: 'done', counts: COUNTS });
      });

      it('release takes back the entry and its history item, so the next run starts afresh', async () => {
        const inbox = inboxOf();
        const notification = aNotification('2033-01-01T00:00:00.000Z');
        await ledger.begin(notification, [inbox], claim('run-1'), TTL_SECONDS);

        await ledger.release(notification, [inbox], 'someone-else');
        expect(await ledger.get(notification.messageId)).toBeDefined();
        await ledger.release(notification, [inbox], 'run-1');

        expect(await ledger.get(notification.messageId)).toBeUndefined();
        expect(await kept(inbox)).toEqual([]);
        expect(await ledger.begin(notification, [inbox], claim('run-2'), TTL_SECONDS)).toBeUndefined();
      });
    });
  });
}
