import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb/connection-store.js';
import { DynamoDbRateLimiter } from '../../lambdas/adapters/dynamodb/rate-limiter.js';
import { CleanupService } from '../../lambdas/domain/cleanup-service.js';
import { ConnectionLimitError } from '../../lambdas/domain/errors.js';
import type { Log, MessageSender } from '../../lambdas/domain/ports.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';
import { aConnection } from './contracts/port-set.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const at = (seconds: number) => T0 + seconds * 1000;
const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The Connections item keeps two activity times (docs/decisions.md, "Idle connections"):
 * `heartbeatAt`, exact, written with each heartbeat's token, in no index; and
 * `lastSeenAt`, the activity index's sort key, moved only when older than asked. These
 * tests prove the index copy moves rarely and that no stale decision is taken on it.
 */
describe('heartbeat activity on the Connections item', () => {
  let dynamoDb: TestTables;
  let store: DynamoDbConnectionStore;
  let limiter: DynamoDbRateLimiter;

  const rawItem = async (connectionId: string) =>
    (await dynamoDb.client.send(new GetCommand({ TableName: dynamoDb.tables.Connections, Key: { connectionId }, ConsistentRead: true }))).Item;
  const beat = (connectionId: string, seconds: number) =>
    limiter.tryTake(connectionId, at(seconds), { at: iso(at(seconds)), indexIfBefore: iso(at(seconds - 750)) });
  const openAt = async (seconds: number, overrides: Parameters<typeof aConnection>[0] = {}) => {
    const connection = aConnection({ connectedAt: iso(at(seconds)), lastSeenAt: iso(at(seconds)), ...overrides });
    await store.open(connection, { limit: 10, staleBefore: '1970-01-01T00:00:00.000Z' });
    return connection;
  };

  beforeAll(async () => {
    dynamoDb = await createTestTables();
    store = new DynamoDbConnectionStore({ client: dynamoDb.client, tables: dynamoDb.tables });
    limiter = new DynamoDbRateLimiter({ client: dynamoDb.client, tables: dynamoDb.tables, ratePerSecond: 10, burst: 20 });
  });

  it('moves the index copy (lastSeenAt) only on the beat that finds it older than indexIfBefore, and heartbeatAt on every beat', async () => {
    // Prepare
    const { connectionId } = await openAt(0);

    // Act: an hour of beats at 300 s.
    const indexCopies: string[] = [];
    for (let seconds = 300; seconds <= 3600; seconds += 300) {
      await beat(connectionId, seconds);
      const item = await rawItem(connectionId);
      expect(item?.heartbeatAt).toBe(iso(at(seconds)));
      indexCopies.push(item?.lastSeenAt as string);
    }

    // Assess: four moves in the hour (900, 1800, 2700, 3600 s), each two index writes.
    const moves = [0, 0, 900, 900, 900, 1800, 1800, 1800, 2700, 2700, 2700, 3600];
    expect(indexCopies).toEqual(moves.map((seconds) => iso(at(seconds))));
  });

  it('cleanup lists a connection by its lagging index copy but spares it on its last heartbeat, and removes a silent one', async () => {
    // Prepare: both connected at 0; only `beating` beat since, at 600 s (index copy still 0).
    const beating = await openAt(0);
    const silentOne = await openAt(0);
    await beat(beating.connectionId, 600);
    const closed: string[] = [];
    const sender: MessageSender = { post: async () => {}, close: async (connectionId) => void closed.push(connectionId) };
    const cleanup = new CleanupService({
      connections: store,
      sender,
      clock: { now: () => new Date(at(1000)) },
      log: silent,
      idleTimeoutSeconds: 900,
      concurrency: 4,
    });

    // Act: at 1000 s, 900 s idle means before 100 s.
    const summary = await cleanup.run();

    // Assess
    expect((await rawItem(beating.connectionId))?.lastSeenAt).toBe(iso(at(0)));
    expect(closed).toContain(silentOne.connectionId);
    expect(closed).not.toContain(beating.connectionId);
    expect(await store.get(beating.connectionId)).toMatchObject({ lastSeenAt: iso(at(600)) });
    expect(await store.get(silentOne.connectionId)).toBeUndefined();
    expect(summary.examined).toBeGreaterThanOrEqual(2);
  });

  it('the per-user limit heals on the last heartbeat, not the index copy', async () => {
    // Prepare: a user at a limit of 1, with a connection whose index copy is old but which beat recently.
    const userId = `user-heal-${Date.now()}`;
    const first = await openAt(0, { userId });
    await beat(first.connectionId, 600);
    const second = aConnection({ userId, connectedAt: iso(at(1000)), lastSeenAt: iso(at(1000)) });

    // Act / Assess: stale means before 100 s; the index copy (0) is, the heartbeat (600) is not.
    await expect(store.open(second, { limit: 1, staleBefore: iso(at(100)) })).rejects.toBeInstanceOf(ConnectionLimitError);
    // Once the heartbeat itself is older than staleBefore, the entry heals.
    await expect(store.open(second, { limit: 1, staleBefore: iso(at(700)) })).resolves.toBeUndefined();
  });

  it('a heartbeat that meets a stale bucket from another container retries on the state that won, not on a failed write', async () => {
    // Prepare: another container took a token a moment ago.
    const { connectionId } = await openAt(0);
    await dynamoDb.client.send(
      new UpdateCommand({
        TableName: dynamoDb.tables.Connections,
        Key: { connectionId },
        UpdateExpression: 'SET rateTokens = :tokens, rateAt = :at',
        ExpressionAttributeValues: { ':tokens': 0, ':at': at(299) },
      }),
    );

    // Act: 1 s later at 10 per second and a burst of 20, ten tokens are back.
    const taken = await beat(connectionId, 300);

    // Assess
    expect(taken).toBe(true);
    expect(await rawItem(connectionId)).toMatchObject({ heartbeatAt: iso(at(300)), rateTokens: 9 });
  });
});
