import { beforeAll, describe, expect, it } from 'vitest';
import { aConnection, GENEROUS_LIMIT, inBatches, type PortSet, type PortSetFactory } from './port-set.js';

/** What every PresenceStore must do, whatever it reads from. */
export function describePresenceStoreContract(implementation: string, createPorts: PortSetFactory): void {
  describe(`PresenceStore contract: ${implementation}`, () => {
    let ports: PortSet;
    beforeAll(async () => {
      ports = await createPorts();
    });

    it("counts each user's connections, keeps a gone user at 0 and leaves unknown users out", async () => {
      // Prepare
      const twice = aConnection({ lastSeenAt: '2030-01-01T00:00:00.000Z' });
      await ports.connections.open(twice, GENEROUS_LIMIT);
      await ports.connections.open(aConnection({ userId: twice.userId, lastSeenAt: '2030-01-01T00:01:00.000Z' }), GENEROUS_LIMIT);
      const gone = aConnection({ lastSeenAt: '2030-02-01T00:00:00.000Z' });
      await ports.connections.open(gone, GENEROUS_LIMIT);
      await ports.connections.remove(gone.connectionId);

      // Act
      const presence = await ports.presence.getPresence([twice.userId, gone.userId, 'nobody-by-this-name', twice.userId]);

      // Assess
      expect(Object.fromEntries(presence)).toEqual({
        [twice.userId]: { connections: 2, lastSeenAt: '2030-01-01T00:01:00.000Z' },
        [gone.userId]: { connections: 0, lastSeenAt: '2030-02-01T00:00:00.000Z' },
      });
    });

    it('answers for more users than one batch read holds (150)', async () => {
      // Prepare
      const connections = Array.from({ length: 150 }, () => aConnection());
      await inBatches(connections, 16, (connection) => ports.connections.open(connection, GENEROUS_LIMIT));

      // Act
      const presence = await ports.presence.getPresence(connections.map((connection) => connection.userId));

      // Assess
      expect(presence.size).toBe(150);
      for (const connection of connections) expect(presence.get(connection.userId)?.connections).toBe(1);
    });

    describe('getPresenceWithChannels', () => {
      it('unites the channels of every connection of each user, and leaves unknown users out', async () => {
        // Prepare
        const first = aConnection();
        const second = aConnection({ userId: first.userId });
        const other = aConnection();
        for (const connection of [first, second, other]) await ports.connections.open(connection, GENEROUS_LIMIT);
        await ports.subscriptions.subscribe(first, ['team-a']);
        await ports.subscriptions.subscribe(second, ['team-b']);

        // Act
        const presence = await ports.presence.getPresenceWithChannels([first.userId, other.userId, 'nobody-by-this-name'], {
          connectionsPerUser: 10,
        });

        // Assess
        expect(presence.size).toBe(2);
        expect(presence.get(first.userId)).toMatchObject({ connections: 2, lastSeenAt: expect.any(String) });
        expect([...presence.get(first.userId)!.channels].sort()).toEqual(['system-announcements', 'team-a', 'team-b', `user-${first.userId}`].sort());
        expect([...presence.get(other.userId)!.channels].sort()).toEqual(['system-announcements', `user-${other.userId}`]);
      });

      it('adds no channel for a listed connection whose item is gone, and none for a user with no connection', async () => {
        // Prepare
        const lost = aConnection();
        await ports.connections.open(lost, GENEROUS_LIMIT);
        await ports.subscriptions.subscribe(lost, ['team-lost']);
        await ports.loseConnectionItem(lost.connectionId);
        const closed = aConnection();
        await ports.connections.open(closed, GENEROUS_LIMIT);
        await ports.connections.remove(closed.connectionId);

        // Act
        const presence = await ports.presence.getPresenceWithChannels([lost.userId, closed.userId], { connectionsPerUser: 10 });

        // Assess
        expect(presence.get(lost.userId)).toMatchObject({ connections: 1 });
        expect(presence.get(lost.userId)!.channels.size).toBe(0);
        expect(presence.get(closed.userId)).toMatchObject({ connections: 0 });
        expect(presence.get(closed.userId)!.channels.size).toBe(0);
      });

      it('reads at most connectionsPerUser connections of a user, the first by connection id', async () => {
        // Prepare
        const userId = aConnection().userId;
        const connections = ['conn-a', 'conn-b', 'conn-c'].map((prefix) => aConnection({ userId, connectionId: `${prefix}-${userId}` }));
        for (const connection of connections) await ports.connections.open(connection, GENEROUS_LIMIT);
        await ports.subscriptions.subscribe(connections[0]!, ['only-on-a']);
        await ports.subscriptions.subscribe(connections[2]!, ['only-on-c']);

        // Act
        const presence = await ports.presence.getPresenceWithChannels([userId], { connectionsPerUser: 2 });

        // Assess
        const channels = presence.get(userId)!.channels;
        expect(presence.get(userId)?.connections).toBe(3);
        expect(channels.has('only-on-a')).toBe(true);
        expect(channels.has('only-on-c')).toBe(false);
      });

      it('answers for more users than one batch read holds (150)', async () => {
        // Prepare
        const connections = Array.from({ length: 150 }, () => aConnection());
        await inBatches(connections, 16, (connection) => ports.connections.open(connection, GENEROUS_LIMIT));

        // Act
        const presence = await ports.presence.getPresenceWithChannels(
          connections.map((connection) => connection.userId),
          { connectionsPerUser: 5 },
        );

        // Assess
        expect(presence.size).toBe(150);
        for (const connection of connections) expect(presence.get(connection.userId)?.channels.has(`user-${connection.userId}`)).toBe(true);
      });
    });

    it('answers an empty map for no users', async () => {
      // Act
      const presence = await ports.presence.getPresence([]);
      const withChannels = await ports.presence.getPresenceWithChannels([], { connectionsPerUser: 5 });

      // Assess
      expect(presence.size).toBe(0);
      expect(withChannels.size).toBe(0);
    });
  });
}
