import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerFrame } from '../../protocol/frames.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { TestClient } from '../support/ws-client.js';

/**
 * One user trying to reach another's notifications, or to act as a producer, through the
 * local runtime as `npm start` runs it.
 */
describe('cross-user attempts through the local runtime', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];
  const connect = async (userId: string, roles: string[] = []) => {
    const opened = await TestClient.connect(runtime.wsUrl, userId, roles);
    clients.push(opened.client);
    return opened;
  };
  const codeOf = (frame: ServerFrame) => (frame.payload as { code?: string }).code;

  /** Publishes a notification to `userId` and waits until `client` has it: whatever was posted before has arrived too. */
  async function settle(client: TestClient, userId: string): Promise<string> {
    const marker = notificationRecord({ targetUserId: userId });
    await runtime.publish('booking-updates', marker);
    await client.next((frame) => frame.messageId === marker.messageId);
    return marker.messageId;
  }

  beforeAll(async () => {
    runtime = await startTestRuntime({
      // A generous rate: these tests send many frames on purpose, and are not about the rate.
      websocket: { rate_limit_per_second: 1000, rate_limit_burst: 1000 },
      kafka: { topics: ['booking-updates'] },
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  describe("another user's personal channel", () => {
    it('refuses user-bob to alice in every spelling, and she never receives what is sent to bob', async () => {
      // Prepare
      const { client: bob } = await connect('bob');
      const { client: alice } = await connect('alice');
      const variants = [
        'user-bob',
        'user-Bob',
        'User-bob',
        'USER-BOB',
        ' user-bob',
        'user-bob ',
        'user-bob\n',
        'user-bob\t',
        'user-bob\u0000',
        'user-bob\u200b',
        'user-b%6Fb',
        'user%2Dbob',
        'user-b\u043eb',
        'user-bob/../user-alice',
        'user-*',
        'user-bob*',
        'user-bob,user-alice',
        'user-\u0062ob\u0301',
      ];

      // Act
      const answer = await alice.request('subscribe', { channels: variants });

      // Assess
      const payload = answer.payload as { accepted: string[]; rejected: { channel: string; code: string }[]; channels: string[] };
      expect(payload.accepted).toEqual([]);
      expect(payload.rejected.map((rejection) => rejection.channel)).toEqual(variants);
      for (const rejection of payload.rejected) expect(['FORBIDDEN', 'INVALID_CHANNEL']).toContain(rejection.code);
      expect(payload.channels).toEqual(['system-announcements', 'user-alice']);
      const forBob = notificationRecord({ targetUserId: 'bob' });
      await runtime.publish('booking-updates', forBob);
      await bob.next((frame) => frame.messageId === forBob.messageId);
      const marker = await settle(alice, 'alice');
      expect(alice.notifications().map((frame) => frame.messageId)).toEqual([marker]);
    });

    it('lets admin in (the documented exception)', async () => {
      const { client: admin } = await connect('root', ['admin']);
      const answer = await admin.request('subscribe', { channels: ['user-bob'] });
      expect(answer.payload).toMatchObject({ accepted: ['user-bob'], rejected: [] });
    });
  });

  describe('recover', () => {
    it("never replays bob's inbox to alice, whatever since she names", async () => {
      // Prepare
      const before = new Date(Date.now() - 1000).toISOString();
      const forBob = [notificationRecord({ targetUserId: 'bob-r' }), notificationRecord({ targetUserId: 'bob-r' })];
      await runtime.publish('booking-updates', forBob);
      const forAlice = notificationRecord({ targetUserId: 'alice-r' });
      await runtime.publish('booking-updates', forAlice);
      const { client: alice } = await connect('alice-r');

      // Act
      const fromTime = await alice.request('recover', { since: before });
      const fromBobsMessage = await alice.request('recover', { since: forBob[0]!.messageId });

      // Assess
      expect(fromTime).toMatchObject({ type: 'recovered', payload: { count: 1 } });
      expect(fromBobsMessage.type).toBe('recovered');
      const replayed = alice.notifications();
      expect(replayed.every((frame) => frame.messageId === forAlice.messageId)).toBe(true);
      expect(replayed.some((frame) => (frame as { targetUserId?: string }).targetUserId === 'bob-r')).toBe(false);
    });
  });

  describe('clients never publish', () => {
    it('answers a forged notification frame with UNKNOWN_TYPE, and it reaches nobody', async () => {
      // Prepare
      const { client: victim } = await connect('victim');
      await victim.request('subscribe', { channels: ['booking-updates'] });
      const { client: forger } = await connect('forger');
      const payload = {
        notificationId: randomUUID(),
        title: 'Reset your password',
        message: 'at evil.example',
        priority: 'urgent',
        createdAt: new Date().toISOString(),
      };
      const forgeries = [
        { type: 'notification', payload, targetUserId: 'victim' },
        { type: 'notification', payload, channel: 'booking-updates' },
        { type: 'notification', payload, broadcast: true },
        { type: 'broadcast', payload },
        { type: 'publish', payload: { ...payload, channel: 'booking-updates' } },
        { type: 'welcome', payload: { connectionId: 'x', userId: 'victim', channels: [] } },
        { type: '$default', payload },
        { type: 'Subscribe', payload: { channels: ['user-victim'] } },
      ];

      // Act
      const answers = [];
      for (const { type, payload: body, ...extra } of forgeries) answers.push(await forger.request(type, body, extra));

      // Assess
      for (const answer of answers) expect(codeOf(answer)).toBe('UNKNOWN_TYPE');
      const marker = await settle(victim, 'victim');
      expect(victim.notifications().map((frame) => frame.messageId)).toEqual([marker]);
      expect(forger.notifications()).toEqual([]);
      const replay = await victim.request('recover', { since: new Date(Date.now() - 60_000).toISOString() });
      expect(replay.payload).toMatchObject({ count: 1 });
    });

    it('ignores identity claims inside a frame: roles come from the token only', async () => {
      const { client } = await connect('pretender');
      const answer = await client.request('stats', { roles: ['admin'], userId: 'root' }, { roles: ['admin'], identity: { roles: ['admin'] } });
      expect(codeOf(answer)).toBe('FORBIDDEN');
    });
  });

  describe("another connection's id", () => {
    it('refuses it with FORBIDDEN on subscribe, unsubscribe and heartbeat, and leaves that connection as it was', async () => {
      // Prepare
      const { client: owner, connectionId: ownerId } = await connect('owner');
      await owner.request('subscribe', { channels: ['booking-updates'] });
      const { client: intruder } = await connect('intruder');

      // Act
      const answers = [
        await intruder.request('subscribe', { channels: ['waitlist-notifications'], connectionId: ownerId }),
        await intruder.request('subscribe', { channels: ['booking-updates'], action: 'unsubscribe', connectionId: ownerId }),
        await intruder.request('unsubscribe', { channels: ['user-owner', 'booking-updates'], connectionId: ownerId }),
        await intruder.request('heartbeat', { connectionId: ownerId }),
      ];

      // Assess
      for (const answer of answers) expect(codeOf(answer)).toBe('FORBIDDEN');
      const current = await owner.request('subscribe', { channels: ['booking-updates'] });
      expect((current.payload as { channels: string[] }).channels).toEqual(['booking-updates', 'system-announcements', 'user-owner']);
      const marker = await settle(owner, 'owner');
      expect(owner.notifications().map((frame) => frame.messageId)).toEqual([marker]);
    });
  });
});
