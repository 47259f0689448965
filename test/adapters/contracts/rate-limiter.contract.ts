import { beforeAll, describe, expect, it } from 'vitest';
import { ConnectionNotFoundError } from '../../../lambdas/domain/errors.js';
import type { HeartbeatActivity } from '../../../lambdas/domain/ports.js';
import { aConnection, GENEROUS_LIMIT, type PortSet, type PortSetFactory } from './port-set.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
/** A heartbeat at `ms`, moving the activity index when its copy is 750 s old (the default). */
const beatAt = (ms: number): HeartbeatActivity => ({ at: iso(ms), indexIfBefore: iso(ms - 750_000) });

/** What every RateLimiter must do, whatever it stores into. */
export function describeRateLimiterContract(implementation: string, createPorts: PortSetFactory): void {
  describe(`RateLimiter contract: ${implementation}`, () => {
    let ports: PortSet;
    beforeAll(async () => {
      ports = await createPorts();
    });

    async function openConnection(): Promise<string> {
      const connection = aConnection();
      await ports.connections.open(connection, GENEROUS_LIMIT);
      return connection.connectionId;
    }

    async function takeMany(take: () => Promise<boolean>, times: number): Promise<boolean[]> {
      const outcomes: boolean[] = [];
      for (let attempt = 0; attempt < times; attempt++) outcomes.push(await take());
      return outcomes;
    }

    it('allows `burst` frames at once, then refuses', async () => {
      // Prepare
      const connectionId = await openConnection();
      const limiter = ports.rateLimiter({ ratePerSecond: 2, burst: 5 });

      // Act
      const outcomes = await takeMany(() => limiter.tryTake(connectionId, T0), 7);

      // Assess
      expect(outcomes).toEqual([true, true, true, true, true, false, false]);
    });

    it('refills at ratePerSecond, never beyond burst', async () => {
      // Prepare
      const connectionId = await openConnection();
      const limiter = ports.rateLimiter({ ratePerSecond: 2, burst: 3 });
      await takeMany(() => limiter.tryTake(connectionId, T0), 3);

      // Act
      const afterHalfSecond = await takeMany(() => limiter.tryTake(connectionId, T0 + 500), 2);
      const afterAnHour = await takeMany(() => limiter.tryTake(connectionId, T0 + 3_600_000), 4);

      // Assess
      expect(afterHalfSecond).toEqual([true, false]);
      expect(afterAnHour).toEqual([true, true, true, false]);
    });

    it('shares one bucket between limiters of several containers', async () => {
      // Prepare
      const connectionId = await openConnection();
      const containerA = ports.rateLimiter({ ratePerSecond: 1, burst: 4 });
      const containerB = ports.rateLimiter({ ratePerSecond: 1, burst: 4 });

      // Act: the two containers alternate, each with its own view of the bucket.
      const outcomes: boolean[] = [];
      for (let attempt = 0; attempt < 6; attempt++) {
        outcomes.push(await (attempt % 2 === 0 ? containerA : containerB).tryTake(connectionId, T0));
      }

      // Assess
      expect(outcomes.filter(Boolean)).toHaveLength(4);
      expect(outcomes.slice(4)).toEqual([false, false]);
    });

    it('never lets more than `burst` through when containers take at the same time', async () => {
      // Prepare
      const connectionId = await openConnection();
      const containers = Array.from({ length: 4 }, () => ports.rateLimiter({ ratePerSecond: 1, burst: 5 }));

      // Act
      const outcomes = await Promise.all(Array.from({ length: 12 }, (_, index) => containers[index % containers.length]?.tryTake(connectionId, T0)));

      // Assess
      expect(outcomes.filter(Boolean).length).toBeLessThanOrEqual(5);
      expect(outcomes.filter(Boolean).length).toBeGreaterThanOrEqual(1);
    });

    describe('heartbeats', () => {
      async function openAt(ms: number): Promise<string> {
        const connection = aConnection({ connectedAt: iso(ms), lastSeenAt: iso(ms) });
        await ports.connections.open(connection, GENEROUS_LIMIT);
        return connection.connectionId;
      }

      it('records each heartbeat exactly, in the write that takes its token', async () => {
        // Prepare
        const connectionId = await openAt(T0);
        const limiter = ports.rateLimiter({ ratePerSecond: 10, burst: 20 });

        // Act: beats 300 s apart, of which only the third is due to move the index.
        const seen: string[] = [];
        for (const seconds of [300, 600, 900]) {
          expect(await limiter.tryTake(connectionId, T0 + seconds * 1000, beatAt(T0 + seconds * 1000))).toBe(true);
          seen.push((await ports.connections.get(connectionId))!.lastSeenAt);
        }

        // Assess: what every stale decision reads (get) is the last heartbeat, each time.
        expect(seen).toEqual([iso(T0 + 300_000), iso(T0 + 600_000), iso(T0 + 900_000)]);
      });

      it('leaves presence alone while beating, and the last heartbeat as presence lastSeenAt once closed', async () => {
        // Prepare
        const connection = aConnection({ connectedAt: iso(T0), lastSeenAt: iso(T0) });
        await ports.connections.open(connection, GENEROUS_LIMIT);
        const limiter = ports.rateLimiter({ ratePerSecond: 10, burst: 20 });
        const presence = async () => (await ports.presence.getPresence([connection.userId])).get(connection.userId);

        // Act
        await limiter.tryTake(connection.connectionId, T0 + 300_000, beatAt(T0 + 300_000));
        const whileOpen = await presence();
        await ports.connections.remove(connection.connectionId);

        // Assess: no Users write per heartbeat; the close carries the heartbeat there.
        expect(whileOpen).toEqual({ connections: 1, lastSeenAt: iso(T0) });
        expect(await presence()).toEqual({ connections: 0, lastSeenAt: iso(T0 + 300_000) });
      });

      it('records nothing for a heartbeat it refuses', async () => {
        // Prepare
        const connectionId = await openAt(T0);
        const limiter = ports.rateLimiter({ ratePerSecond: 0.01, burst: 1 });
        await limiter.tryTake(connectionId, T0);

        // Act
        const taken = await limiter.tryTake(connectionId, T0 + 1000, beatAt(T0 + 1000));

        // Assess
        expect(taken).toBe(false);
        expect((await ports.connections.get(connectionId))?.lastSeenAt).toBe(iso(T0));
      });

      it('charges heartbeats from several containers to one bucket', async () => {
        // Prepare
        const connectionId = await openAt(T0);
        const containers = Array.from({ length: 3 }, () => ports.rateLimiter({ ratePerSecond: 0.01, burst: 4 }));

        // Act
        const outcomes = await Promise.all(Array.from({ length: 9 }, (_, index) => containers[index % 3]!.tryTake(connectionId, T0 + 1000, beatAt(T0 + 1000))));

        // Assess
        expect(outcomes.filter(Boolean)).toHaveLength(4);
      });

      it('refuses a heartbeat of a connection it does not know with ConnectionNotFoundError, creating nothing', async () => {
        // Prepare
        const limiter = ports.rateLimiter({ ratePerSecond: 1, burst: 1 });

        // Act
        const beating = limiter.tryTake('never-connected', T0, beatAt(T0));

        // Assess
        await expect(beating).rejects.toBeInstanceOf(ConnectionNotFoundError);
        expect(await ports.connections.get('never-connected')).toBeUndefined();
      });
    });

    it('lets frames of an unknown connection through: there is nothing to charge', async () => {
      // Prepare
      const limiter = ports.rateLimiter({ ratePerSecond: 1, burst: 1 });

      // Act
      const outcomes = await takeMany(() => limiter.tryTake('never-connected', T0), 3);

      // Assess
      expect(outcomes).toEqual([true, true, true]);
    });
  });
}
