import { beforeAll, describe, expect, it } from 'vitest';
import { aConnection, GENEROUS_LIMIT, type PortSet, type PortSetFactory } from './port-set.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

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
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, index) => containers[index % containers.length]?.tryTake(connectionId, T0)),
      );

      // Assess
      expect(outcomes.filter(Boolean).length).toBeLessThanOrEqual(5);
      expect(outcomes.filter(Boolean).length).toBeGreaterThanOrEqual(1);
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
