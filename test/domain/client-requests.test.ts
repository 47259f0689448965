import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { jsonDepthExceeds } from '../../lambdas/domain/client-requests.js';
import { buildInMemoryService as build } from '../support/in-memory-service.js';

const frame = (type: string, payload: unknown = {}, messageId: string = randomUUID()) => JSON.stringify({ messageId, type, payload });

describe('ClientRequests', () => {
  let world: ReturnType<typeof build>;
  const alice = { connectionId: 'conn-alice', identity: { userId: 'alice', roles: [] } };

  beforeEach(async () => {
    world = build({ websocket: { rate_limit_burst: 5, rate_limit_per_second: 1, max_frame_size: 2048 } });
    await world.connectionService.connect('conn-alice', alice.identity);
  });

  describe('handle', () => {
    it('answers with replyTo set to the request messageId', async () => {
      const messageId = randomUUID();
      const reply = await world.requests.handle(alice, frame('heartbeat', {}, messageId));
      expect(reply).toMatchObject({ type: 'heartbeat', replyTo: messageId, payload: { connectionId: 'conn-alice', status: 'alive' } });
    });

    it.each([
      ['not JSON', '{', 'INVALID_MESSAGE'],
      ['a JSON array', '[]', 'INVALID_MESSAGE'],
      ['no type', JSON.stringify({ payload: {} }), 'INVALID_MESSAGE'],
      ['an unknown type', frame('publish', {}), 'UNKNOWN_TYPE'],
      ['a bad payload', frame('presence', { userIds: [] }), 'INVALID_MESSAGE'],
      ['a non-UUID messageId', JSON.stringify({ messageId: 'x', type: 'heartbeat', payload: {} }), 'INVALID_MESSAGE'],
      ['deep nesting', `{"type":"heartbeat","payload":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`, 'INVALID_MESSAGE'],
      ['a frame over max_frame_size', frame('heartbeat', { pad: 'x'.repeat(3000) }), 'MESSAGE_TOO_LARGE'],
      ["someone else's connectionId", frame('subscribe', { channels: ['booking-updates'], connectionId: 'conn-bob' }), 'FORBIDDEN'],
      ['stats without admin', frame('stats'), 'FORBIDDEN'],
    ])('answers %s with %s and changes nothing', async (_label, body, code) => {
      const before = structuredClone([...world.state.subscriptions.entries()]);
      const reply = await world.requests.handle(alice, body);
      expect(reply).toMatchObject({ type: 'error', payload: { code } });
      expect([...world.state.subscriptions.entries()]).toEqual(before);
    });

    it('keeps replyTo on an error when the request had a valid messageId', async () => {
      const messageId = randomUUID();
      const reply = await world.requests.handle(alice, frame('nope', {}, messageId));
      expect(reply).toMatchObject({ type: 'error', replyTo: messageId });
    });

    it('refuses frames beyond the burst with RATE_LIMITED until the bucket refills', async () => {
      const codes: string[] = [];
      for (let index = 0; index < 7; index += 1) {
        const reply = await world.requests.handle(alice, frame('heartbeat'));
        codes.push(reply.type === 'error' ? (reply.payload as { code: string }).code : reply.type);
      }
      expect(codes).toEqual(['heartbeat', 'heartbeat', 'heartbeat', 'heartbeat', 'heartbeat', 'RATE_LIMITED', 'RATE_LIMITED']);
      world.advance(1000);
      expect((await world.requests.handle(alice, frame('heartbeat'))).type).toBe('heartbeat');
    });

    it('treats subscribe with action "unsubscribe" as unsubscribe', async () => {
      await world.requests.handle(alice, frame('subscribe', { channels: ['booking-updates'] }));
      const reply = await world.requests.handle(alice, frame('subscribe', { channels: ['booking-updates'], action: 'unsubscribe' }));
      expect(reply.payload).toMatchObject({ channels: ['system-announcements', 'user-alice'], accepted: ['booking-updates'] });
    });

    it('rejects channels beyond max_per_connection with LIMIT_EXCEEDED and keeps the rest', async () => {
      world = build({ channels: { max_per_connection: 3, access: { 'room-*': ['*'] } } });
      await world.connectionService.connect('conn-alice', alice.identity);
      const reply = await world.requests.handle(alice, frame('subscribe', { channels: ['room-1', 'room-2'] }));
      expect(reply.payload).toMatchObject({
        accepted: ['room-1'],
        rejected: [{ channel: 'room-2', code: 'LIMIT_EXCEEDED' }],
        channels: ['room-1', 'system-announcements', 'user-alice'],
      });
    });

    it('refuses more channels in one request than max_per_request', async () => {
      const channels = Array.from({ length: 21 }, (_, index) => `c${index}`);
      const reply = await world.requests.handle(alice, frame('subscribe', { channels }));
      expect(reply.payload).toMatchObject({ code: 'INVALID_MESSAGE' });
    });
  });
});

describe('ConnectionService', () => {
  describe('deliverWelcome', () => {
    it('retries while the connection is not yet postable, then delivers', async () => {
      const world = build();
      await world.connectionService.connect('conn-new', { userId: 'neo', roles: [] });
      world.sender.gone.add('conn-new');
      let attempts = 0;
      const original = world.sender.post.bind(world.sender);
      world.sender.post = async (id, data) => {
        attempts += 1;
        if (attempts === 3) world.sender.gone.delete(id);
        return original(id, data);
      };
      expect(await world.connectionService.deliverWelcome('conn-new')).toBe('delivered');
      expect(attempts).toBe(3);
      expect(world.sender.framesTo('conn-new')).toEqual([
        expect.objectContaining({ type: 'welcome', payload: expect.objectContaining({ userId: 'neo', heartbeatIntervalSeconds: 300 }) }),
      ]);
    });

    it('gives up once the connection is removed', async () => {
      const world = build();
      expect(await world.connectionService.deliverWelcome('never-stored')).toBe('connection-removed');
    });

    it('gives up after its retries when the socket never becomes postable', async () => {
      const world = build();
      await world.connectionService.connect('conn-stuck', { userId: 'neo', roles: [] });
      world.sender.gone.add('conn-stuck');
      expect(await world.connectionService.deliverWelcome('conn-stuck')).toBe('not-postable');
    });
  });

  describe('connect', () => {
    it('schedules a welcome and subscribes the automatic channels', async () => {
      const world = build();
      const outcome = await world.connectionService.connect('c1', { userId: 'zoe', roles: [] }, ['notifications']);
      expect(outcome).toMatchObject({ status: 'accepted', subprotocol: 'notifications' });
      expect(world.scheduled).toEqual(['c1']);
      expect([...(world.state.connections.get('c1')?.channels ?? [])].sort()).toEqual(['system-announcements', 'user-zoe']);
    });

    it('refuses only-unknown subprotocols with 400 and stores nothing', async () => {
      const world = build();
      const outcome = await world.connectionService.connect('c1', { userId: 'zoe', roles: [] }, ['soap']);
      expect(outcome).toMatchObject({ status: 'refused', httpStatus: 400 });
      expect(world.state.connections.size).toBe(0);
    });
  });
});

describe('jsonDepthExceeds', () => {
  it('ignores brackets inside strings', () => {
    expect(jsonDepthExceeds(JSON.stringify({ a: '[[[[[[[[[[' }), 3)).toBe(false);
  });

  it('handles escaped quotes', () => {
    expect(jsonDepthExceeds(JSON.stringify({ a: 'say \\"[[[[', b: [[[]]] }), 3)).toBe(true);
  });
});
