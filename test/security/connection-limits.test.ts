import { DeleteCommand, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { HandshakeRefused, mintToken, TestClient } from '../support/ws-client.js';

/**
 * The per-user connection limit as an attacker tries it: many tabs (or scripts) of one
 * user connecting at once through the local runtime, against DynamoDB Local.
 */
describe('per-user connection limit through the local runtime', () => {
  const LIMIT = 5;
  let runtime: TestRuntime;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    runtime = await startTestRuntime({ websocket: { max_connections_per_user: LIMIT } });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  /** What the store holds for a user: the Users set, the user's connections, their personal channel's subscribers. */
  async function storedFor(userId: string) {
    const { client, tables } = runtime.tables;
    const user = await client.send(new GetCommand({ TableName: tables.Users, Key: { userId }, ConsistentRead: true }));
    const connections = await client.send(
      new QueryCommand({
        TableName: tables.Connections,
        IndexName: 'byUser',
        KeyConditionExpression: 'userId = :user',
        ExpressionAttributeValues: { ':user': userId },
      }),
    );
    const subscriptions = await client.send(
      new QueryCommand({
        TableName: tables.Subscriptions,
        KeyConditionExpression: 'channel = :channel',
        ExpressionAttributeValues: { ':channel': `user-${userId}` },
        ConsistentRead: true,
      }),
    );
    return {
      userSet: [...((user.Item?.connectionIds as Set<string> | undefined) ?? [])].sort(),
      connections: (connections.Items ?? []).map((item) => item.connectionId as string).sort(),
      subscriptions: (subscriptions.Items ?? []).map((item) => item.connectionId as string).sort(),
    };
  }

  async function openAll(userId: string, count: number) {
    const token = await mintToken(userId);
    const outcomes = await Promise.allSettled(
      Array.from({ length: count }, async () => {
        const client = await TestClient.open(runtime.wsUrl, { token });
        clients.push(client);
        const welcome = await client.next((frame) => frame.type === 'welcome');
        return { client, connectionId: (welcome.payload as { connectionId: string }).connectionId };
      }),
    );
    const opened = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    const refusals = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
    return { opened, refusals };
  }

  it('opens exactly 5 of 20 simultaneous connects of one user, refuses 15 with 429, and the refused leave nothing behind', async () => {
    // Act
    const { opened, refusals } = await openAll('racer', 20);

    // Assess
    expect(opened).toHaveLength(LIMIT);
    expect(refusals).toHaveLength(15);
    for (const refusal of refusals) {
      expect(refusal).toBeInstanceOf(HandshakeRefused);
      expect((refusal as HandshakeRefused).status).toBe(429);
    }
    const openIds = opened.map((entry) => entry.connectionId).sort();
    expect(await storedFor('racer')).toEqual({ userSet: openIds, connections: openIds, subscriptions: openIds });
    for (const id of openIds) expect(runtime.connectionIds()).toContain(id);

    // Closing every socket leaves nothing of the user behind either.
    // ($disconnect runs after the client sees the close, so the store is polled until it ran.)
    await Promise.all(opened.map((entry) => entry.client.close()));
    await vi.waitFor(async () => expect(await storedFor('racer')).toEqual({ userSet: [], connections: [], subscriptions: [] }), {
      timeout: 10_000,
      interval: 100,
    });
  });

  it('heals the counter when $disconnect never came: an expired connection item or a silent connection frees its place', async () => {
    // Prepare: the user is at the limit; then one connection's item expires (TTL after a lost
    // $disconnect) and another falls silent beyond idle_timeout without a $disconnect.
    const { opened } = await openAll('healer', LIMIT);
    expect(opened).toHaveLength(LIMIT);
    const token = await mintToken('healer');
    await expect(TestClient.open(runtime.wsUrl, { token })).rejects.toMatchObject({ status: 429 });
    const { client, tables } = runtime.tables;
    const [expired, silent] = opened.map((entry) => entry.connectionId);
    await client.send(new DeleteCommand({ TableName: tables.Connections, Key: { connectionId: expired } }));
    await client.send(
      new UpdateCommand({
        TableName: tables.Connections,
        Key: { connectionId: silent },
        UpdateExpression: 'SET lastSeenAt = :long_ago',
        ExpressionAttributeValues: { ':long_ago': '2000-01-01T00:00:00.000Z' },
      }),
    );

    // Act
    const first = await TestClient.open(runtime.wsUrl, { token });
    clients.push(first);
    const second = await TestClient.open(runtime.wsUrl, { token });
    clients.push(second);
    const firstId = ((await first.next((frame) => frame.type === 'welcome')).payload as { connectionId: string }).connectionId;
    const secondId = ((await second.next((frame) => frame.type === 'welcome')).payload as { connectionId: string }).connectionId;

    // Assess: both healed entries left the set; the limit holds again.
    const { userSet } = await storedFor('healer');
    expect(userSet).toHaveLength(LIMIT);
    expect(userSet).toEqual(expect.arrayContaining([firstId, secondId]));
    expect(userSet).not.toContain(expired);
    expect(userSet).not.toContain(silent);
    await expect(TestClient.open(runtime.wsUrl, { token })).rejects.toMatchObject({ status: 429 });
  });
});
