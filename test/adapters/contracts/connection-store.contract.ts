import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConnectionLimitError } from '../../../lambdas/domain/errors.js';
import type { Connection } from '../../../lambdas/domain/model.js';
import { personalChannel } from '../../../protocol/channels.js';
import { GENEROUS_LIMIT, aConnection, collectPages, inBatches, type PortSet, type PortSetFactory } from './port-set.js';

/** What every ConnectionStore must do, whatever it stores into. */
export function describeConnectionStoreContract(implementation: string, createPorts: PortSetFactory): void {
  describe(`ConnectionStore contract: ${implementation}`, () => {
    let ports: PortSet;
    beforeAll(async () => {
      ports = await createPorts();
    });

    async function subscriberIds(channel: string): Promise<string[]> {
      const { items } = await collectPages(ports.subscriptions.listSubscribers(channel));
      return items.map((ref) => ref.connectionId).sort();
    }

    describe('open', () => {
      it('stores the connection, its subscriptions and its presence entry', async () => {
        // Prepare
        const connection = aConnection({ roles: ['admin'], subprotocol: 'chat' });

        // Act
        await ports.connections.open(connection, GENEROUS_LIMIT);

        // Assess
        expect(await ports.connections.get(connection.connectionId)).toEqual({
          ...connection,
          channels: [...connection.channels].sort(),
        });
        expect(await subscriberIds(personalChannel(connection.userId))).toEqual([connection.connectionId]);
        const presence = await ports.presence.getPresence([connection.userId]);
        expect(presence.get(connection.userId)).toEqual({ connections: 1, lastSeenAt: connection.lastSeenAt });
      });

      it('lets exactly `limit` of 20 simultaneous connects of one user through, and the refused leave nothing behind', async () => {
        // Prepare
        const userId = `racer-${randomUUID()}`;
        const attempts = Array.from({ length: 20 }, () => aConnection({ userId }));
        const options = { limit: 5, staleBefore: '1970-01-01T00:00:00.000Z' };

        // Act
        const outcomes = await Promise.allSettled(attempts.map((connection) => ports.connections.open(connection, options)));

        // Assess
        const admitted = attempts.filter((_, index) => outcomes[index]?.status === 'fulfilled');
        const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
        expect(admitted).toHaveLength(5);
        expect(refused).toHaveLength(15);
        for (const outcome of refused) expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(ConnectionLimitError);
        const admittedIds = admitted.map((connection) => connection.connectionId).sort();
        expect((await ports.connections.listByUser(userId)).map((ref) => ref.connectionId).sort()).toEqual(admittedIds);
        expect(await subscriberIds(personalChannel(userId))).toEqual(admittedIds);
        expect((await ports.presence.getPresence([userId])).get(userId)?.connections).toBe(5);
        for (const connection of attempts.filter((attempt) => !admitted.includes(attempt))) {
          expect(await ports.connections.get(connection.connectionId)).toBeUndefined();
        }
      });

      it("refuses a connect over the limit while the user's connections are live", async () => {
        // Prepare
        const userId = `full-${randomUUID()}`;
        const options = { limit: 2, staleBefore: '2000-01-01T00:00:00.000Z' };
        await ports.connections.open(aConnection({ userId }), options);
        await ports.connections.open(aConnection({ userId }), options);
        const third = aConnection({ userId });

        // Act
        const opening = ports.connections.open(third, options);

        // Assess
        await expect(opening).rejects.toBeInstanceOf(ConnectionLimitError);
        await expect(opening).rejects.toMatchObject({ userId, limit: 2 });
        expect(await ports.connections.get(third.connectionId)).toBeUndefined();
      });

      it('heals an entry whose connection is gone from the store, so it does not block a connect', async () => {
        // Prepare
        const userId = `lost-${randomUUID()}`;
        const options = { limit: 2, staleBefore: '2000-01-01T00:00:00.000Z' };
        const lost = aConnection({ userId });
        await ports.connections.open(lost, options);
        await ports.connections.open(aConnection({ userId }), options);
        await ports.loseConnectionItem(lost.connectionId);
        const next = aConnection({ userId });

        // Act
        await ports.connections.open(next, options);

        // Assess
        expect(await ports.connections.get(next.connectionId)).toBeDefined();
        expect((await ports.presence.getPresence([userId])).get(userId)?.connections).toBe(2);
      });

      it('heals an entry whose connection was last seen before staleBefore, so it does not block a connect', async () => {
        // Prepare
        const userId = `stale-${randomUUID()}`;
        const longAgo = '2020-01-01T00:00:00.000Z';
        const options = { limit: 2, staleBefore: '2021-01-01T00:00:00.000Z' };
        await ports.connections.open(aConnection({ userId, connectedAt: longAgo, lastSeenAt: longAgo }), options);
        await ports.connections.open(aConnection({ userId }), options);
        const next = aConnection({ userId });

        // Act
        await ports.connections.open(next, options);

        // Assess
        expect(await ports.connections.get(next.connectionId)).toBeDefined();
        expect((await ports.presence.getPresence([userId])).get(userId)?.connections).toBe(2);
      });

      it('accepts the same connection twice from the same user (a retried $connect) without counting it twice', async () => {
        // Prepare
        const connection = aConnection();
        await ports.connections.open(connection, { limit: 1, staleBefore: '2000-01-01T00:00:00.000Z' });

        // Act
        await ports.connections.open(connection, { limit: 1, staleBefore: '2000-01-01T00:00:00.000Z' });

        // Assess
        expect((await ports.presence.getPresence([connection.userId])).get(connection.userId)?.connections).toBe(1);
      });
    });

    describe('remove', () => {
      it('removes the connection, every subscription it held and its presence entry', async () => {
        // Prepare
        const connection = aConnection();
        await ports.connections.open(connection, GENEROUS_LIMIT);
        await ports.subscriptions.subscribe(connection, ['booking-updates']);

        // Act
        const removed = await ports.connections.remove(connection.connectionId);

        // Assess
        expect(removed?.connectionId).toBe(connection.connectionId);
        expect(removed?.channels).toEqual(['booking-updates', ...connection.channels].sort());
        expect(await ports.connections.get(connection.connectionId)).toBeUndefined();
        for (const channel of removed?.channels ?? []) {
          expect(await subscriberIds(channel)).not.toContain(connection.connectionId);
        }
        expect(await ports.connections.listByUser(connection.userId)).toEqual([]);
        expect((await ports.presence.getPresence([connection.userId])).get(connection.userId)?.connections).toBe(0);
      });

      it('is idempotent: removing twice, or an unknown connection, answers undefined', async () => {
        // Prepare
        const connection = aConnection();
        await ports.connections.open(connection, GENEROUS_LIMIT);
        await ports.connections.remove(connection.connectionId);

        // Act
        const again = await ports.connections.remove(connection.connectionId);
        const unknown = await ports.connections.remove('never-connected');

        // Assess
        expect(again).toBeUndefined();
        expect(unknown).toBeUndefined();
      });

      it("leaves the user's presence lastSeenAt at the closed connection's last activity, never moving it back", async () => {
        // Prepare: two connections of one user, the later one seen later.
        const userId = `user-${randomUUID()}`;
        const early = aConnection({ userId, connectedAt: '2030-01-01T00:00:00.000Z', lastSeenAt: '2030-01-01T00:10:00.000Z' });
        const late = aConnection({ userId, connectedAt: '2030-01-01T00:20:00.000Z', lastSeenAt: '2030-01-01T00:20:00.000Z' });
        await ports.connections.open(early, GENEROUS_LIMIT);
        await ports.connections.open(late, GENEROUS_LIMIT);
        const seen = async () => (await ports.presence.getPresence([userId])).get(userId);

        // Act / Assess: closing the later one moves nothing back (its lastSeenAt is the Users item's already) ...
        await ports.connections.remove(late.connectionId);
        expect(await seen()).toEqual({ connections: 1, lastSeenAt: '2030-01-01T00:20:00.000Z' });
        // ... nor does closing the one last seen earlier: the user was seen at 00:20.
        await ports.connections.remove(early.connectionId);
        expect(await seen()).toEqual({ connections: 0, lastSeenAt: '2030-01-01T00:20:00.000Z' });
      });

      it('frees a place under the per-user limit', async () => {
        // Prepare
        const userId = `freed-${randomUUID()}`;
        const options = { limit: 1, staleBefore: '2000-01-01T00:00:00.000Z' };
        const first = aConnection({ userId });
        await ports.connections.open(first, options);
        await ports.connections.remove(first.connectionId);

        // Act
        const opening = ports.connections.open(aConnection({ userId }), options);

        // Assess
        await expect(opening).resolves.toBeUndefined();
      });
    });

    describe('listing', () => {
      it("lists a user's connections and no one else's", async () => {
        // Prepare
        const userId = `lister-${randomUUID()}`;
        const mine = [aConnection({ userId }), aConnection({ userId }), aConnection({ userId })];
        for (const connection of [...mine, aConnection()]) await ports.connections.open(connection, GENEROUS_LIMIT);

        // Act
        const listed = await ports.connections.listByUser(userId);

        // Assess
        expect(listed.sort((a, b) => a.connectionId.localeCompare(b.connectionId))).toEqual(
          mine.map(({ connectionId }) => ({ connectionId, userId })).sort((a, b) => a.connectionId.localeCompare(b.connectionId)),
        );
      });

      it('lists every connection (across all activity shards), and the idle ones by lastSeenAt', async () => {
        // Prepare: far-past and far-future activity, so connections of other tests fall in between.
        const idle: Connection[] = Array.from({ length: 24 }, (_, index) =>
          aConnection({ lastSeenAt: `1999-01-01T00:00:${String(index).padStart(2, '0')}.000Z` }),
        );
        const active: Connection[] = Array.from({ length: 24 }, () => aConnection({ lastSeenAt: '2999-01-01T00:00:00.000Z' }));
        await inBatches([...idle, ...active], 8, (connection) => ports.connections.open(connection, GENEROUS_LIMIT));

        // Act
        const all = await collectPages(ports.connections.listAll());
        const idleSince = await collectPages(ports.connections.listIdleSince('2000-01-01T00:00:00.000Z'));

        // Assess
        const allIds = new Set(all.items.map((summary) => summary.connectionId));
        for (const connection of [...idle, ...active]) expect(allIds.has(connection.connectionId)).toBe(true);
        const idleIds = new Set(idleSince.items.map((summary) => summary.connectionId));
        for (const connection of idle) expect(idleIds.has(connection.connectionId)).toBe(true);
        for (const connection of active) expect(idleIds.has(connection.connectionId)).toBe(false);
        const sample = idle[3] as Connection;
        expect(all.items.find((summary) => summary.connectionId === sample.connectionId)).toEqual({
          connectionId: sample.connectionId,
          userId: sample.userId,
          lastSeenAt: sample.lastSeenAt,
          channels: [...sample.channels].sort(),
        });
      });
    });
  });
}
