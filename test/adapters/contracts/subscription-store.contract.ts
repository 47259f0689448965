import { beforeAll, describe, expect, it } from 'vitest';
import { ConnectionNotFoundError } from '../../../lambdas/domain/errors.js';
import { aConnection, collectPages, GENEROUS_LIMIT, type PortSet, type PortSetFactory } from './port-set.js';

/** What every SubscriptionStore must do, whatever it stores into. */
export function describeSubscriptionStoreContract(implementation: string, createPorts: PortSetFactory): void {
  describe(`SubscriptionStore contract: ${implementation}`, () => {
    let ports: PortSet;
    beforeAll(async () => {
      ports = await createPorts();
    });

    async function subscriberIds(channel: string): Promise<string[]> {
      const { items } = await collectPages(ports.subscriptions.listSubscribers(channel));
      return items.map((ref) => ref.connectionId).sort();
    }

    describe('subscribe', () => {
      it('adds the channels and answers every channel the connection now holds, sorted', async () => {
        // Prepare
        const connection = aConnection();
        await ports.connections.open(connection, GENEROUS_LIMIT);
        const channel = `sub-${randomSuffix()}`;

        // Act
        const held = await ports.subscriptions.subscribe(connection, [channel, 'booking-updates', channel]);

        // Assess
        expect(held).toEqual([...connection.channels, channel, 'booking-updates'].sort());
        expect((await ports.connections.get(connection.connectionId))?.channels).toEqual(held);
        const { items } = await collectPages(ports.subscriptions.listSubscribers(channel));
        expect(items).toEqual([{ connectionId: connection.connectionId, userId: connection.userId }]);
      });

      it('is idempotent: subscribing again to a held channel changes nothing', async () => {
        // Prepare
        const connection = aConnection();
        await ports.connections.open(connection, GENEROUS_LIMIT);
        const channel = `again-${randomSuffix()}`;
        const first = await ports.subscriptions.subscribe(connection, [channel]);

        // Act
        const second = await ports.subscriptions.subscribe(connection, [channel]);

        // Assess
        expect(second).toEqual(first);
        expect(await subscriberIds(channel)).toEqual([connection.connectionId]);
      });

      it('throws ConnectionNotFoundError for a connection that is gone, and stores no subscription', async () => {
        // Prepare
        const gone = aConnection();
        const channel = `ghost-${randomSuffix()}`;

        // Act
        const subscribing = ports.subscriptions.subscribe(gone, [channel]);

        // Assess
        await expect(subscribing).rejects.toBeInstanceOf(ConnectionNotFoundError);
        expect(await subscriberIds(channel)).toEqual([]);
      });
    });

    describe('unsubscribe', () => {
      it('removes the channels and answers those still held, sorted', async () => {
        // Prepare
        const connection = aConnection();
        await ports.connections.open(connection, GENEROUS_LIMIT);
        const kept = `kept-${randomSuffix()}`;
        const dropped = `dropped-${randomSuffix()}`;
        await ports.subscriptions.subscribe(connection, [kept, dropped]);

        // Act
        const held = await ports.subscriptions.unsubscribe(connection.connectionId, [dropped, 'never-held']);

        // Assess
        expect(held).toEqual([...connection.channels, kept].sort());
        expect(await subscriberIds(dropped)).toEqual([]);
        expect(await subscriberIds(kept)).toEqual([connection.connectionId]);
      });

      it('answers an empty list for an unknown connection', async () => {
        // Act
        const held = await ports.subscriptions.unsubscribe('never-connected', ['booking-updates']);

        // Assess
        expect(held).toEqual([]);
      });
    });

    describe('listSubscribers', () => {
      it('lists 1,500 subscribers of one channel over more than one page, each once', async () => {
        // Prepare
        const channel = `crowd-${randomSuffix()}`;
        const crowd = Array.from({ length: 1_500 }, (_, index) => ({
          connectionId: `crowd-${String(index).padStart(4, '0')}-${randomSuffix()}`,
          userId: `user-${index % 300}`,
        }));
        await ports.seedSubscriptions(channel, crowd);

        // Act
        const { items, pageCount } = await collectPages(ports.subscriptions.listSubscribers(channel));

        // Assess
        expect(pageCount).toBeGreaterThan(1);
        expect(items).toHaveLength(1_500);
        expect(new Set(items.map((ref) => ref.connectionId))).toEqual(new Set(crowd.map((c) => c.connectionId)));
        const sample = crowd[700];
        expect(items).toContainEqual({ connectionId: sample?.connectionId, userId: sample?.userId });
      });

      it('lists nothing for a channel nobody holds', async () => {
        // Act
        const { items } = await collectPages(ports.subscriptions.listSubscribers(`empty-${randomSuffix()}`));

        // Assess
        expect(items).toEqual([]);
      });
    });
  });
}

function randomSuffix(): string {
  return Math.random().toString(36).slice(2, 10);
}
