import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiGatewayMessageSender } from '../../lambdas/adapters/apigateway/message-sender.js';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb/connection-store.js';
import { CleanupService } from '../../lambdas/domain/cleanup-service.js';
import type { Log } from '../../lambdas/domain/ports.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { mintToken, TestClient } from '../support/ws-client.js';

/**
 * Tokens that expire on an open connection, through the local runtime: real `ws`
 * clients, the real authorizer, `$connect` and `refresh` handlers, DynamoDB Local. The
 * Cleanup function is the production CleanupService over the same tables and the
 * runtime's Management API, with its clock injected so that "later" needs no waiting.
 */

const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };

function expiryOf(token: string): string {
  return new Date((decodeJwt(token).exp as number) * 1000).toISOString();
}

describe('tokens that expire on an open connection', () => {
  let runtime: TestRuntime;
  let store: DynamoDbConnectionStore;
  let cleanupNow = new Date();
  let cleanup: CleanupService | undefined;
  const clients: TestClient[] = [];

  const connect = async (userId: string, expiresInSeconds: number) => {
    const token = await mintToken(userId, [], { expiresInSeconds });
    const client = await TestClient.open(runtime.wsUrl, { token });
    clients.push(client);
    const welcome = await client.next((frame) => frame.type === 'welcome');
    const { connectionId, tokenExpiresAt } = welcome.payload as { connectionId: string; tokenExpiresAt?: string };
    return { client, connectionId, token, tokenExpiresAt };
  };

  beforeAll(async () => {
    runtime = await startTestRuntime({}, { handlers: { Cleanup: async () => cleanup?.run() } });
    store = new DynamoDbConnectionStore({ client: runtime.tables.client, tables: runtime.tables.tables });
    cleanup = new CleanupService({
      connections: store,
      sender: new ApiGatewayMessageSender({
        endpoint: runtime.httpUrl,
        maxSockets: 4,
        requestTimeoutMs: 5_000,
        credentials: async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
      }),
      clock: { now: () => cleanupNow },
      log: silent,
      // Only the token-expiry pass is under test: nothing here is idle for two hours.
      idleTimeoutSeconds: 7_200,
      concurrency: 4,
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  it("stores the token's exp at $connect and tells it in welcome", async () => {
    // Act
    const { connectionId, token, tokenExpiresAt } = await connect('expiring-alice', 600);

    // Assess
    expect(tokenExpiresAt).toBe(expiryOf(token));
    expect((await store.get(connectionId))?.tokenExpiresAt).toBe(expiryOf(token));
  });

  it('answers refresh with a newer token of the same user with its expiry, and stores it', async () => {
    // Prepare
    const { client, connectionId } = await connect('refreshing-bob', 600);
    const newer = await mintToken('refreshing-bob', [], { expiresInSeconds: 3_600 });

    // Act
    const reply = await client.request('refresh', { token: newer });

    // Assess
    expect(reply).toMatchObject({ type: 'refreshed', payload: { expiresAt: expiryOf(newer) } });
    expect((await store.get(connectionId))?.tokenExpiresAt).toBe(expiryOf(newer));
  });

  it("refuses another user's, an invalid and an older token with their codes, changes nothing and stays open", async () => {
    // Prepare
    const { client, connectionId } = await connect('refused-carol', 1_200);
    const before = await store.get(connectionId);
    const attempts = {
      TOKEN_USER_MISMATCH: await mintToken('mallory', [], { expiresInSeconds: 3_600 }),
      TOKEN_INVALID: await mintToken('refused-carol', [], { expiresInSeconds: 3_600, secret: 'not-the-service-secret' }),
      TOKEN_NOT_NEWER: await mintToken('refused-carol', [], { expiresInSeconds: 600 }),
    };

    for (const [code, token] of Object.entries(attempts)) {
      // Act
      const reply = await client.request('refresh', { token });

      // Assess
      expect(reply, code).toMatchObject({ type: 'error', payload: { code } });
    }
    expect(await store.get(connectionId)).toEqual(before);
    expect((await client.request('heartbeat')).type).toBe('heartbeat');
    expect(client.closeCode).toBeUndefined();
  });

  it('cleanup closes a connection whose token expired without refresh, saying why; one that refreshed stays', async () => {
    // Prepare: both tokens last 10 minutes; only one is refreshed to an hour.
    const stale = await connect('lapsed-dave', 600);
    const kept = await connect('renewed-erin', 600);
    const refreshed = await kept.client.request('refresh', { token: await mintToken('renewed-erin', [], { expiresInSeconds: 3_600 }) });
    expect(refreshed.type).toBe('refreshed');
    cleanupNow = new Date(Date.now() + 20 * 60_000);

    // Act
    await runtime.runCleanup();

    // Assess
    const notice = await stale.client.next((frame) => frame.type === 'disconnect');
    expect(notice.payload).toEqual({ reason: 'token-expired', reconnect: true });
    expect(await stale.client.closed()).toBeGreaterThan(0);
    expect(await store.get(stale.connectionId)).toBeUndefined();
    expect(await store.get(kept.connectionId)).toBeDefined();
    expect((await kept.client.request('heartbeat')).type).toBe('heartbeat');
  });
});
