import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HandshakeRefused, mintToken, TestClient } from '../support/ws-client.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';

/**
 * The whole notification path as a user runs it: the local runtime in front of the
 * Lambda handlers, DynamoDB Local behind them, real WebSocket clients over loopback.
 */
describe('notification path', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];
  const connect = async (userId: string, roles: string[] = []) => {
    const opened = await TestClient.connect(runtime.wsUrl, userId, roles);
    clients.push(opened.client);
    return opened;
  };

  beforeAll(async () => {
    runtime = await startTestRuntime({
      websocket: { max_connections_per_user: 3, max_frame_size: 4096, rate_limit_per_second: 5, rate_limit_burst: 10 },
      kafka: { topics: ['booking-updates', 'waitlist-notifications', 'announcements'] },
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  describe('connecting', () => {
    it('sends welcome with the connection id and the automatic channels', async () => {
      const client = await TestClient.open(runtime.wsUrl, { token: await mintToken('alice') });
      clients.push(client);
      const welcome = await client.next((frame) => frame.type === 'welcome');
      expect(welcome.payload).toMatchObject({
        userId: 'alice',
        channels: ['system-announcements', 'user-alice'],
        heartbeatIntervalSeconds: 300,
      });
      expect(runtime.connectionIds()).toContain((welcome.payload as { connectionId: string }).connectionId);
    });

    it('refuses a handshake without a token with 401', async () => {
      await expect(TestClient.open(runtime.wsUrl)).rejects.toMatchObject({ status: 401 });
    });

    it('refuses a badly signed token with 401', async () => {
      const token = await mintToken('mallory', ['admin'], { secret: 'not-the-server-secret' });
      await expect(TestClient.open(runtime.wsUrl, { token })).rejects.toMatchObject({ status: 401 });
    });

    it('refuses an expired token with 401', async () => {
      const token = await mintToken('alice', [], { expiresInSeconds: -60 });
      await expect(TestClient.open(runtime.wsUrl, { token })).rejects.toBeInstanceOf(HandshakeRefused);
    });

    it('echoes the first supported subprotocol and refuses only-unknown ones with 400', async () => {
      const token = await mintToken('sub-user');
      const client = await TestClient.open(runtime.wsUrl, { token, protocols: ['bogus', 'notifications'] });
      clients.push(client);
      expect(client.socket.protocol).toBe('notifications');
      await expect(TestClient.open(runtime.wsUrl, { token, protocols: ['bogus'] })).rejects.toMatchObject({ status: 400 });
    });

    it('refuses a connection over the per-user limit with 429, and frees the slot on close', async () => {
      const opened = [await connect('limited'), await connect('limited'), await connect('limited')];
      const token = await mintToken('limited');
      await expect(TestClient.open(runtime.wsUrl, { token })).rejects.toMatchObject({ status: 429 });
      await opened[0]!.client.close();
      const again = await vi.waitFor(() => TestClient.open(runtime.wsUrl, { token }), { timeout: 10_000, interval: 100 });
      clients.push(again);
      await again.next((frame) => frame.type === 'welcome');
    });
  });

  describe('delivering', () => {
    it('delivers a channel notification to its subscribers only', async () => {
      const { client: subscriber } = await connect('sub-1');
      const { client: bystander } = await connect('sub-2');
      const answer = await subscriber.request('subscribe', { channels: ['booking-updates'] });
      expect(answer.payload).toMatchObject({ accepted: ['booking-updates'], rejected: [] });
      const record = notificationRecord();
      const published = await runtime.publish('booking-updates', record);
      expect(published.status).toBe(200);
      const notification = await subscriber.next((frame) => frame.type === 'notification');
      expect(notification).toMatchObject({ messageId: record.messageId, channel: 'booking-updates', payload: record.payload });
      await bystander.request('heartbeat');
      expect(bystander.notifications()).toEqual([]);
    });

    it('delivers a targeted notification to every connection of that user', async () => {
      const first = await connect('target');
      const second = await connect('target');
      const { client: other } = await connect('not-target');
      const record = notificationRecord({ targetUserId: 'target' });
      await runtime.publish('booking-updates', record);
      for (const { client } of [first, second]) {
        expect(await client.next((frame) => frame.type === 'notification')).toMatchObject({ targetUserId: 'target' });
      }
      await other.request('heartbeat');
      expect(other.notifications()).toEqual([]);
    });

    it('delivers a broadcast to every connection', async () => {
      const { client: a } = await connect('bc-a');
      const { client: b } = await connect('bc-b');
      const record = notificationRecord({ broadcast: true });
      await runtime.publish('announcements', record);
      for (const client of [a, b]) {
        expect(await client.next((frame) => frame.type === 'notification' && frame.messageId === record.messageId)).toMatchObject({ broadcast: true });
      }
    });

    it('delivers a record published twice once', async () => {
      const { client } = await connect('dedupe');
      await client.request('subscribe', { channels: ['waitlist-notifications'] });
      const record = notificationRecord();
      await runtime.publish('waitlist-notifications', record);
      await runtime.publish('waitlist-notifications', [record]);
      await client.next((frame) => frame.messageId === record.messageId);
      await client.request('heartbeat');
      expect(client.notifications().filter((frame) => frame.messageId === record.messageId)).toHaveLength(1);
    });

    it('sets a malformed record aside with its reason and delivers the rest of the batch', async () => {
      const { client } = await connect('batch');
      await client.request('subscribe', { channels: ['booking-updates'] });
      const good = notificationRecord();
      const bad = notificationRecord({}, { priority: 'whenever' });
      const answer = await runtime.publish('booking-updates', [bad, good]);
      expect(answer.status).toBe(200);
      expect(JSON.stringify(answer.body)).toContain('priority');
      await client.next((frame) => frame.messageId === good.messageId);
      const raw = await runtime.publish('booking-updates', 'this is not json', { raw: true });
      expect(raw.status).toBe(200);
      expect(JSON.stringify(raw.body).toLowerCase()).toContain('json');
    });
  });

  describe('bad frames', () => {
    it('answers non-JSON with INVALID_MESSAGE and stays usable', async () => {
      const { client } = await connect('bad-1');
      client.sendRaw('{nope');
      const error = await client.next((frame) => frame.type === 'error');
      expect(error.payload).toMatchObject({ code: 'INVALID_MESSAGE' });
      expect((await client.request('heartbeat')).type).toBe('heartbeat');
    });

    it('answers an unknown type with UNKNOWN_TYPE and replyTo', async () => {
      const { client } = await connect('bad-2');
      const answer = await client.request('launch-missiles', {});
      expect(answer).toMatchObject({ type: 'error', payload: { code: 'UNKNOWN_TYPE' } });
    });

    it('answers a payload of the wrong shape with INVALID_MESSAGE naming the field', async () => {
      const { client } = await connect('bad-3');
      const answer = await client.request('subscribe', { channels: 'booking-updates' });
      expect(answer).toMatchObject({ type: 'error', payload: { code: 'INVALID_MESSAGE' } });
      expect((answer.payload as { message: string }).message).toContain('payload.channels');
    });

    it('answers a frame over max_frame_size with MESSAGE_TOO_LARGE', async () => {
      const { client } = await connect('bad-4');
      client.sendRaw(JSON.stringify({ type: 'heartbeat', payload: {}, padding: 'x'.repeat(5000) }));
      expect((await client.next((frame) => frame.type === 'error')).payload).toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
      expect((await client.request('heartbeat')).type).toBe('heartbeat');
    });

    it("refuses another connection's id in the payload with FORBIDDEN", async () => {
      const { client } = await connect('bad-5');
      const answer = await client.request('heartbeat', { connectionId: 'SomeoneElse0=' });
      expect(answer.payload).toMatchObject({ code: 'FORBIDDEN' });
    });

    it('closes with 1009 over 128 KB and 1003 on a binary frame, as API Gateway does', async () => {
      const { client: big } = await connect('bad-6');
      big.sendRaw('x'.repeat(131_073));
      expect(await big.closed()).toBe(1009);
      const { client: binary } = await connect('bad-7');
      binary.sendRaw(Buffer.from([1, 2, 3]), { binary: true });
      expect(await binary.closed()).toBe(1003);
    });

    it('answers a burst beyond the rate with RATE_LIMITED and stays open', async () => {
      const { client } = await connect('chatty');
      const answers = await Promise.all(Array.from({ length: 16 }, () => client.request('heartbeat')));
      const limited = answers.filter((frame) => frame.type === 'error' && (frame.payload as { code: string }).code === 'RATE_LIMITED');
      expect(limited.length).toBeGreaterThan(0);
      expect(answers.filter((frame) => frame.type === 'heartbeat').length).toBeGreaterThanOrEqual(10);
      expect(client.closeCode).toBeUndefined();
    });
  });

  describe('channels', () => {
    it('accepts allowed channels and rejects the others with their codes', async () => {
      const { client, connectionId } = await connect('chan');
      const answer = await client.request('subscribe', { channels: ['booking-updates', 'user-bob', 'Bad Name', 'payroll'] });
      expect(answer.payload).toEqual({
        connectionId,
        channels: ['booking-updates', 'system-announcements', 'user-chan'],
        accepted: ['booking-updates'],
        rejected: [
          { channel: 'user-bob', code: 'FORBIDDEN', reason: expect.any(String) },
          { channel: 'Bad Name', code: 'INVALID_CHANNEL', reason: expect.any(String) },
          { channel: 'payroll', code: 'FORBIDDEN', reason: expect.any(String) },
        ],
        // Where the accepted channel's stream stands (docs/protocol.md section 11).
        streams: { 'channel#booking-updates': { epoch: expect.any(String), offset: expect.any(Number) } },
      });
      const after = await client.request('unsubscribe', { channels: ['booking-updates'] });
      expect((after.payload as { channels: string[] }).channels).toEqual(['system-announcements', 'user-chan']);
    });
  });

  describe('presence and stats', () => {
    it('tells who is online and forgets a closed socket within 5 s', async () => {
      const { client: carol } = await connect('carol');
      // admin: presence privacy (test/security/presence-privacy.test.ts) hides carol from others.
      const { client: asker } = await connect('asker', ['admin']);
      const online = await asker.request('presence', { userIds: ['carol', 'nobody'] });
      expect(online.payload).toMatchObject({
        users: { carol: { online: true, connections: 1 }, nobody: { online: false, connections: 0 } },
      });
      await carol.close();
      await vi.waitFor(
        async () => {
          const answer = await asker.request('presence', { userIds: ['carol'] });
          expect(answer.payload).toMatchObject({ users: { carol: { online: false } } });
        },
        { timeout: 5_000, interval: 250 },
      );
    });

    it('gives stats to admin only', async () => {
      const { client: user } = await connect('plain');
      expect((await user.request('stats')).payload).toMatchObject({ code: 'FORBIDDEN' });
      const { client: admin } = await connect('boss', ['admin']);
      const stats = await admin.request('stats');
      expect(stats.type).toBe('stats');
      const payload = stats.payload as { totalConnections: number; uniqueUsers: number; channels: Record<string, number> };
      expect(payload.totalConnections).toBe(runtime.connectionIds().length);
      expect(payload.channels['user-boss']).toBe(1);
    });
  });

  describe('recover', () => {
    it('replays what a user missed while offline, then says recovered', async () => {
      const before = new Date().toISOString();
      const missed = notificationRecord({ targetUserId: 'offline-dan' });
      await runtime.publish('booking-updates', missed);
      const { client } = await connect('offline-dan');
      const messageId = crypto.randomUUID();
      client.sendRaw(JSON.stringify({ messageId, type: 'recover', payload: { since: before } }));
      const replayed = await client.next((frame) => frame.type === 'notification');
      expect(replayed).toMatchObject({ messageId: missed.messageId, targetUserId: 'offline-dan' });
      const recovered = await client.next((frame) => frame.replyTo === messageId);
      expect(recovered).toMatchObject({ type: 'recovered', payload: { count: 1, complete: true } });
    });

    it('replays after a messageId and says complete: false for an unknown one', async () => {
      const { client } = await connect('erin');
      await client.request('subscribe', { channels: ['booking-updates'] });
      const first = notificationRecord();
      const second = notificationRecord();
      await runtime.publish('booking-updates', [first, second]);
      await client.next((frame) => frame.messageId === second.messageId);
      const answer = await client.request('recover', { since: first.messageId });
      expect(answer.payload).toEqual({ count: 1, complete: true });
      const unknown = await client.request('recover', { since: crypto.randomUUID() });
      expect(unknown.payload).toMatchObject({ complete: false });
    });
  });

  describe('heartbeat', () => {
    it('answers alive with the connection id', async () => {
      const { client, connectionId } = await connect('beat');
      const answer = await client.request('heartbeat', { status: 'alive' });
      expect(answer.payload).toMatchObject({ connectionId, status: 'alive' });
    });
  });
});
