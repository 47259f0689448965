import { beforeAll, describe, expect, it } from 'vitest';
import { aConnection, GENEROUS_LIMIT, inBatches, type PortSet, type PortSetFactory } from './port-set.js';

/** What every PresenceStore must do, whatever it reads from. */
export function describePresenceStoreContract(implementation: string, createPorts: PortSetFactory): void {
  describe(`PresenceStore contract: ${implementation}`, () => {
    let ports: PortSet;
    beforeAll(async () => {
      ports = await createPorts();
    });

    it('counts each user\'s connections, keeps a gone user at 0 and leaves unknown users out', async () => {
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

    it('answers an empty map for no users', async () => {
      // Act
      const presence = await ports.presence.getPresence([]);

      // Assess
      expect(presence.size).toBe(0);
    });
  });
}
