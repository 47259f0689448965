import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb/connection-store.js';
import { MemoryConnectionStore, MemoryState } from '../../lambdas/adapters/memory/index.js';
import type { Connection } from '../../lambdas/domain/model.js';
import type { ConnectionStore } from '../../lambdas/domain/ports.js';
import { createTestTables } from '../support/dynamodb.js';

/**
 * The token expiry of a connection in both ConnectionStore implementations, one suite:
 * stored at open, moved later only by extendToken, listed by listTokenExpiredBefore
 * (DynamoDB: the byTokenExpiry index, no scan).
 */

const LIMIT = { limit: 10, staleBefore: '1970-01-01T00:00:00.000Z' };
const T0 = '2030-01-01T00:00:00.000Z';

function aConnection(connectionId: string, overrides: Partial<Connection> = {}): Connection {
  return {
    connectionId,
    userId: `user-${connectionId}`,
    roles: [],
    connectedAt: T0,
    lastSeenAt: T0,
    channels: [],
    ...overrides,
  };
}

const implementations: [string, () => Promise<ConnectionStore>][] = [
  ['memory', async () => new MemoryConnectionStore(new MemoryState(), { pageSize: 2 })],
  [
    'DynamoDB',
    async () => {
      const { client, tables } = await createTestTables();
      return new DynamoDbConnectionStore({ client, tables, pageSize: 2 });
    },
  ],
];

describe.each(implementations)('ConnectionStore token expiry (%s)', (_name, create) => {
  let store: ConnectionStore;

  beforeEach(async () => {
    store = await create();
  });

  describe('open', () => {
    it('stores the token expiry with the connection, and none when the connection has none', async () => {
      // Prepare
      await store.open(aConnection('with', { tokenExpiresAt: '2030-01-01T01:00:00.000Z' }), LIMIT);
      await store.open(aConnection('without'), LIMIT);

      // Assess
      expect((await store.get('with'))?.tokenExpiresAt).toBe('2030-01-01T01:00:00.000Z');
      expect((await store.get('without'))?.tokenExpiresAt).toBeUndefined();
    });
  });

  describe('extendToken', () => {
    it('moves the expiry to a later one', async () => {
      // Prepare
      await store.open(aConnection('c1', { tokenExpiresAt: '2030-01-01T01:00:00.000Z' }), LIMIT);

      // Act
      const outcome = await store.extendToken('c1', 'user-c1', '2030-01-01T02:00:00.000Z');

      // Assess
      expect(outcome).toEqual({ status: 'extended' });
      expect((await store.get('c1'))?.tokenExpiresAt).toBe('2030-01-01T02:00:00.000Z');
    });

    it('refuses an earlier or equal expiry with the stored one, changing nothing', async () => {
      // Prepare
      await store.open(aConnection('c1', { tokenExpiresAt: '2030-01-01T01:00:00.000Z' }), LIMIT);
      const before = await store.get('c1');

      // Act
      const earlier = await store.extendToken('c1', 'user-c1', '2030-01-01T00:30:00.000Z');
      const same = await store.extendToken('c1', 'user-c1', '2030-01-01T01:00:00.000Z');

      // Assess
      expect(earlier).toEqual({ status: 'not-later', current: '2030-01-01T01:00:00.000Z' });
      expect(same).toEqual({ status: 'not-later', current: '2030-01-01T01:00:00.000Z' });
      expect(await store.get('c1')).toEqual(before);
    });

    it("answers unknown for another user's connection or none, creating and changing nothing", async () => {
      // Prepare
      await store.open(aConnection('c1', { tokenExpiresAt: '2030-01-01T01:00:00.000Z' }), LIMIT);
      const before = await store.get('c1');

      // Act
      const otherUser = await store.extendToken('c1', 'mallory', '2030-01-01T02:00:00.000Z');
      const missing = await store.extendToken('never-connected', 'user-c1', '2030-01-01T02:00:00.000Z');

      // Assess
      expect(otherUser).toEqual({ status: 'unknown' });
      expect(missing).toEqual({ status: 'unknown' });
      expect(await store.get('c1')).toEqual(before);
      expect(await store.get('never-connected')).toBeUndefined();
    });

    it('gives an expiry to a connection opened without one', async () => {
      // Prepare
      await store.open(aConnection('legacy'), LIMIT);

      // Act
      const outcome = await store.extendToken('legacy', 'user-legacy', '2030-01-01T02:00:00.000Z');

      // Assess
      expect(outcome).toEqual({ status: 'extended' });
      expect((await store.get('legacy'))?.tokenExpiresAt).toBe('2030-01-01T02:00:00.000Z');
    });
  });

  describe('listTokenExpiredBefore', () => {
    it('lists, across pages, exactly the connections whose token expired before the cutoff', async () => {
      // Prepare: five expired, two not yet, one without an expiry.
      const expired = ['e1', 'e2', 'e3', 'e4', 'e5'];
      for (const [index, id] of expired.entries()) {
        await store.open(aConnection(id, { tokenExpiresAt: `2030-01-01T00:0${index}:00.000Z` }), LIMIT);
      }
      await store.open(aConnection('at-cutoff', { tokenExpiresAt: '2030-01-01T00:10:00.000Z' }), LIMIT);
      await store.open(aConnection('later', { tokenExpiresAt: '2030-01-01T05:00:00.000Z' }), LIMIT);
      await store.open(aConnection('no-expiry'), LIMIT);

      // Act
      const listed = [];
      for await (const page of store.listTokenExpiredBefore('2030-01-01T00:10:00.000Z')) listed.push(...page);

      // Assess
      expect(listed.map((ref) => ref.connectionId).sort()).toEqual(expired);
      expect(listed.find((ref) => ref.connectionId === 'e1')?.userId).toBe('user-e1');
    });

    it('no longer lists a connection once a refresh moved its expiry past the cutoff, nor once removed', async () => {
      // Prepare
      await store.open(aConnection('refreshed', { tokenExpiresAt: '2030-01-01T00:01:00.000Z' }), LIMIT);
      await store.open(aConnection('removed', { tokenExpiresAt: '2030-01-01T00:01:00.000Z' }), LIMIT);

      // Act
      await store.extendToken('refreshed', 'user-refreshed', '2030-01-01T03:00:00.000Z');
      await store.remove('removed');
      const listed = [];
      for await (const page of store.listTokenExpiredBefore('2030-01-01T01:00:00.000Z')) listed.push(...page);

      // Assess
      expect(listed).toEqual([]);
    });
  });
});
