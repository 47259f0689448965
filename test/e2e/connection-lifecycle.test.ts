import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb/connection-store.js';
import { createNotificationService } from '../../lambdas/index.js';
import { notificationPayload } from '../../protocol/frames.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { TestClient } from '../support/ws-client.js';

/**
 * What happens to connections over their life, through the local runtime: cleanup of
 * silent ones, 410 from connections that are gone, and the library API.
 */
describe('connection lifecycle', () => {
  let runtime: TestRuntime;
  let store: DynamoDbConnectionStore;
  const clients: TestClient[] = [];
  const connect = async (userId: string, roles: string[] = []) => {
    const opened = await TestClient.connect(runtime.wsUrl, userId, roles);
    clients.push(opened.client);
    return opened;
  };

  beforeAll(async () => {
    runtime = await startTestRuntime({ kafka: { topics: ['booking-updates'] } });
    store = new DynamoDbConnectionStore({ client: runtime.tables.client, tables: runtime.tables.tables });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  describe('cleanup', () => {
    it('closes and removes a connection silent for longer than idle_timeout, and spares live ones', async () => {
      const { client: silent, connectionId: silentId } = await connect('sleepy');
      const { client: lively, connectionId: livelyId } = await connect('lively');
      const longAgo = new Date(Date.now() - 3600_000).toISOString();
      await runtime.tables.client.send(
        new UpdateCommand({
          TableName: runtime.tables.tables.Connections,
          Key: { connectionId: silentId },
          UpdateExpression: 'SET lastSeenAt = :then',
          ExpressionAttributeValues: { ':then': longAgo },
        }),
      );
      await runtime.runCleanup();
      expect(await silent.closed()).toBeGreaterThan(0);
      expect(await store.get(silentId)).toBeUndefined();
      expect(await store.get(livelyId)).toBeDefined();
      expect((await lively.request('heartbeat')).type).toBe('heartbeat');
    });
  });

  describe('fan-out to a connection that is gone', () => {
    it('counts it as gone and removes it with its subscriptions, delivering to the rest', async () => {
      const { client: live } = await connect('live-one');
      await live.request('subscribe', { channels: ['booking-updates'] });
      // A connection the store still lists but whose socket no longer exists (a lost $disconnect).
      await store.open(
        {
          connectionId: 'GhostConnId0=',
          userId: 'ghost',
          roles: [],
          connectedAt: new Date().toISOString(),
          lastSeenAt: new Date().toISOString(),
          channels: ['booking-updates', 'user-ghost', 'system-announcements'],
        },
        { limit: 5, staleBefore: new Date(0).toISOString() },
      );
      const record = notificationRecord();
      const answer = await runtime.publish('booking-updates', record);
      expect(answer.body).toMatchObject({ delivered: 1, gone: 1, failed: 0, invalid: [] });
      await live.next((frame) => frame.messageId === record.messageId);
      expect(await store.get('GhostConnId0=')).toBeUndefined();
      const subscription = await runtime.tables.client.send(
        new GetCommand({ TableName: runtime.tables.tables.Subscriptions, Key: { channel: 'booking-updates', connectionId: 'GhostConnId0=' } }),
      );
      expect(subscription.Item).toBeUndefined();
    });
  });

  describe('library API', () => {
    it('sends to a user, to a channel and to everyone, and reports stats', async () => {
      // The runtime set this process's environment exactly as the stack sets a Lambda's.
      const service = createNotificationService(process.env);
      const { client: frank } = await connect('frank');
      const { client: gina } = await connect('gina');
      await gina.request('subscribe', { channels: ['waitlist-notifications'] });
      const payload = notificationPayload.parse(notificationRecord().payload);

      const toUser = await service.sendNotificationToUser('frank', payload);
      expect(toUser).toMatchObject({ status: 'delivered', delivered: 1 });
      expect(await frank.next((frame) => frame.type === 'notification')).toMatchObject({ targetUserId: 'frank', payload });

      await service.broadcastToChannel('waitlist-notifications', payload);
      expect(await gina.next((frame) => frame.type === 'notification')).toMatchObject({ channel: 'waitlist-notifications' });

      const messageId = crypto.randomUUID();
      await service.broadcastMessage(payload, { messageId });
      await frank.next((frame) => frame.messageId === messageId);
      await gina.next((frame) => frame.messageId === messageId);
      expect(await service.broadcastMessage(payload, { messageId })).toMatchObject({ status: 'duplicate' });

      const stats = await service.getConnectionStats();
      expect(stats.totalConnections).toBe(runtime.connectionIds().length);
      expect(stats.channels['waitlist-notifications']).toBe(1);
    });

    it('registers a connection with handleConnection and cleans up by minutes', async () => {
      const service = createNotificationService(process.env);
      const outcome = await service.handleConnection('LibraryConn0=', 'henry');
      expect(outcome).toMatchObject({ status: 'accepted' });
      expect(await store.get('LibraryConn0=')).toMatchObject({ userId: 'henry' });
      expect(await service.cleanupInactiveConnections(60)).toBe(0);
      expect(await service.cleanupInactiveConnections(0)).toBeGreaterThanOrEqual(1);
      expect(await store.get('LibraryConn0=')).toBeUndefined();
    });
  });
});
