import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { PresenceChannelStore } from '../../../lambdas/domain/ports.js';

export type PresenceChannelStoreFactory = () => Promise<PresenceChannelStore>;

const AT = '2030-01-01T00:00:00.000Z';
const LATER = '2030-01-01T00:05:00.000Z';

/** What every PresenceChannelStore must do, whatever it keeps members in. */
export function describePresenceChannelStoreContract(implementation: string, createStore: PresenceChannelStoreFactory): void {
  describe(`PresenceChannelStore contract: ${implementation}`, () => {
    let store: PresenceChannelStore;
    let channel: string;
    beforeEach(async () => {
      store ??= await createStore();
      channel = `presence-${randomUUID()}`;
    });

    it('reports a join for the first connection of a user only, and a leave for the last only', async () => {
      // Act
      const first = await store.join(channel, { connectionId: 'c-1', userId: 'alice' }, AT);
      const second = await store.join(channel, { connectionId: 'c-2', userId: 'alice' }, LATER);
      const bob = await store.join(channel, { connectionId: 'c-3', userId: 'bob' }, LATER);
      const oneTabClosed = await store.leave(channel, { connectionId: 'c-1', userId: 'alice' });
      const lastTabClosed = await store.leave(channel, { connectionId: 'c-2', userId: 'alice' });

      // Assess
      expect([first, second, bob]).toEqual([{ transition: true, count: 1 }, { transition: false }, { transition: true, count: 2 }]);
      expect(oneTabClosed).toEqual({ transition: false });
      expect(lastTabClosed).toEqual({ transition: true, count: 1 });
      expect(await store.members(channel, 100)).toEqual({ count: 1, members: [{ userId: 'bob', connections: 1, joinedAt: LATER }], truncated: false });
    });

    it('answers each user once with their connection count and when their first connection joined', async () => {
      await store.join(channel, { connectionId: 'c-1', userId: 'alice' }, AT);
      await store.join(channel, { connectionId: 'c-2', userId: 'alice' }, LATER);
      await store.join(channel, { connectionId: 'c-2', userId: 'alice' }, LATER); // repeated: changes nothing
      const answer = await store.members(channel, 100);
      expect(answer).toEqual({ count: 1, members: [{ userId: 'alice', connections: 2, joinedAt: AT }], truncated: false });
    });

    it('ignores a leave of a connection that is not in, and a repeated leave', async () => {
      await store.join(channel, { connectionId: 'c-1', userId: 'alice' }, AT);
      expect(await store.leave(channel, { connectionId: 'c-9', userId: 'alice' })).toEqual({ transition: false });
      expect(await store.leave(channel, { connectionId: 'c-1', userId: 'nobody' })).toEqual({ transition: false });
      expect(await store.leave(channel, { connectionId: 'c-1', userId: 'alice' })).toEqual({ transition: true, count: 0 });
      expect(await store.leave(channel, { connectionId: 'c-1', userId: 'alice' })).toEqual({ transition: false });
      expect(await store.members(channel, 100)).toEqual({ count: 0, members: [], truncated: false });
    });

    it('gives a user who left and came back a new joinedAt', async () => {
      await store.join(channel, { connectionId: 'c-1', userId: 'alice' }, AT);
      await store.leave(channel, { connectionId: 'c-1', userId: 'alice' });
      expect(await store.join(channel, { connectionId: 'c-2', userId: 'alice' }, LATER)).toEqual({ transition: true, count: 1 });
      expect((await store.members(channel, 100)).members).toEqual([{ userId: 'alice', connections: 1, joinedAt: LATER }]);
    });

    it('answers the count only, truncated, above the limit', async () => {
      for (const userId of ['a', 'b', 'c']) await store.join(channel, { connectionId: `c-${userId}`, userId }, AT);
      expect(await store.members(channel, 2)).toEqual({ count: 3, members: [], truncated: true });
      expect((await store.members(channel, 3)).members).toHaveLength(3);
    });

    it('keeps channels apart', async () => {
      await store.join(channel, { connectionId: 'c-1', userId: 'alice' }, AT);
      expect(await store.members(`${channel}-other`, 100)).toEqual({ count: 0, members: [], truncated: false });
    });

    it('ends concurrent joins and leaves of one user (8 connections) with exactly one join and one leave per transition', async () => {
      // Prepare
      const refs = Array.from({ length: 8 }, (_, index) => ({ connectionId: `c-${index}`, userId: 'alice' }));

      // Act: all join at once, then half leave at once, then the rest leave at once.
      const joins = await Promise.all(refs.map((ref) => store.join(channel, ref, AT)));
      const afterJoins = await store.members(channel, 100);
      const firstLeaves = await Promise.all(refs.slice(0, 4).map((ref) => store.leave(channel, ref)));
      const afterHalf = await store.members(channel, 100);
      const lastLeaves = await Promise.all(refs.slice(4).map((ref) => store.leave(channel, ref)));

      // Assess
      expect(joins.filter((change) => change.transition)).toHaveLength(1);
      expect(afterJoins.members).toEqual([{ userId: 'alice', connections: 8, joinedAt: AT }]);
      expect(firstLeaves.filter((change) => change.transition)).toHaveLength(0);
      expect(afterHalf.members).toEqual([{ userId: 'alice', connections: 4, joinedAt: AT }]);
      expect(lastLeaves.filter((change) => change.transition)).toHaveLength(1);
      expect(await store.members(channel, 100)).toEqual({ count: 0, members: [], truncated: false });
    });

    it('counts transitions exactly when joins and leaves of one user interleave at random', async () => {
      // Prepare: each of 6 connections joins then leaves, all running at once, 5 times over.
      for (let run = 0; run < 5; run++) {
        const refs = Array.from({ length: 6 }, (_, index) => ({ connectionId: `r${run}-${index}`, userId: 'bob' }));
        // Act
        const changes = await Promise.all(refs.map(async (ref) => [await store.join(channel, ref, AT), await store.leave(channel, ref)]));
        // Assess: every join transition is matched by a leave transition, and the channel ends empty.
        const flat = changes.flat();
        const joinsMade = changes.filter(([join]) => join?.transition).length;
        const leavesMade = changes.filter(([, leave]) => leave?.transition).length;
        expect(joinsMade).toBeGreaterThanOrEqual(1);
        expect(leavesMade).toBe(joinsMade);
        expect(flat.length).toBe(12);
        expect(await store.members(channel, 100)).toEqual({ count: 0, members: [], truncated: false });
      }
    });
  });
}
