import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MemoryConnectionStore,
  MemoryDeliveryLedger,
  MemoryNotificationLog,
  MemoryPresenceStore,
  MemoryState,
  MemorySubscriptionStore,
} from '../../lambdas/adapters/memory/index.js';
import { AccessPolicy } from '../../lambdas/domain/access-policy.js';
import { wireFanout } from '../../lambdas/fanout-wiring.js';
import type { Log } from '../../lambdas/domain/ports.js';
import { PresenceService } from '../../lambdas/domain/presence-service.js';
import { PUBLISH_TIME_RESERVE_MS, ServerApi } from '../../lambdas/domain/server-api.js';
import { PUBLISH_RECORD_LIMIT, SERVER_API_BODY_LIMIT, SERVER_API_ERRORS, SERVER_API_ROUTES } from '../../protocol/server-api.js';
import { StatsService } from '../../lambdas/domain/stats-service.js';
import { UserDisconnectService } from '../../lambdas/domain/user-disconnect-service.js';
import { automaticChannels } from '../../protocol/channels.js';
import { producerRecord } from '../../protocol/records.js';
import { notificationRecord } from '../support/records.js';
import { RecordingSender } from '../support/recording-sender.js';

/**
 * Property-based proof (fast-check) that no request body, path or method makes the
 * server API throw or answer outside its table: bad input is a 4xx `{ error, message }`
 * with an error code from SERVER_API_ERRORS; a publish answers each record at its index,
 * valid records are delivered whatever their neighbours, and invalid ones change nothing.
 */

const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };
const NOW = new Date('2026-01-01T00:00:00.000Z');

function world() {
  const state = new MemoryState();
  const connections = new MemoryConnectionStore(state);
  const sender = new RecordingSender();
  const clock = { now: () => NOW };
  const notifications = new MemoryNotificationLog(state);
  const fanout = wireFanout({
    connections,
    subscriptions: new MemorySubscriptionStore(state),
    notifications,
    ledger: new MemoryDeliveryLedger(state),
    sender,
    clock,
    log: silent,
    concurrency: 4,
    historyTtlSeconds: 3600,
    sleep: async () => {},
  });
  const api = new ServerApi({
    publisher: fanout,
    disconnects: new UserDisconnectService({ connections, sender, clock, log: silent }),
    presence: new PresenceService({ presence: new MemoryPresenceStore(state), connections, access: new AccessPolicy({ access: {} }) }),
    stats: new StatsService(connections, clock),
    log: silent,
  });
  const connect = (connectionId: string, userId: string) =>
    connections.open(
      { connectionId, userId, roles: [], connectedAt: NOW.toISOString(), lastSeenAt: NOW.toISOString(), channels: automaticChannels(userId) },
      { limit: 100, staleBefore: '1970-01-01T00:00:00.000Z' },
    );
  return { api, sender, connections, connect, state };
}

const ERROR_STATUSES = new Set<number>(Object.values(SERVER_API_ERRORS));

const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'type', 'payload', 'messageId', 'broadcast');
const anyText = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary', maxLength: 40 }));
/** Producer records: mostly valid, each field sometimes broken or hostile. */
const record = fc
  .record({
    target: fc.constantFrom(
      { targetUserId: 'alice' },
      { targetUserId: 'bob' },
      { channel: 'booking-updates' },
      { broadcast: true },
      {},
      { targetUserId: 'alice', broadcast: true },
      { targetUserId: ' alice' },
      { channel: 'User-Alice' },
    ),
    messageId: fc.option(fc.oneof(fc.uuid(), anyText), { nil: undefined }),
    priority: fc.oneof(fc.constantFrom('low', 'medium', 'high', 'urgent'), anyText),
    title: fc.oneof({ weight: 4, arbitrary: fc.constant('Booking confirmed') }, anyText),
    extras: fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 6 })), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }),
  })
  .map(({ target, messageId, priority, title, extras }) => ({
    ...extras,
    ...notificationRecord({ ...target, ...(messageId === undefined ? {} : { messageId }) }, { priority, title }),
    ...(messageId === undefined ? { messageId: undefined } : {}),
  }));
const publishBody = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .array(fc.oneof({ weight: 5, arbitrary: record as fc.Arbitrary<unknown> }, fc.jsonValue({ maxDepth: 2 })), { minLength: 0, maxLength: 6 })
      .map((items) => JSON.stringify(items)),
  },
  { weight: 2, arbitrary: record.map((item) => JSON.stringify(item)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: anyText },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '[', '{"type":', 'null', '[]', '{}', '\u0000', `[${'['.repeat(2000)}`) },
);
const path = fc.oneof(
  fc.constantFrom(...SERVER_API_ROUTES.map((route) => route.path.replace('{userId}', 'alice'))),
  fc.constantFrom(
    '/',
    '',
    '/publish/',
    '//publish',
    '/users//presence',
    '/users/%E0%A4%A/presence',
    '/users/a%2Fb/disconnect',
    '/users/__proto__/presence',
    '/stats/extra',
    '/users/alice',
    '/PUBLISH',
  ),
  anyText.map((text) => `/users/${encodeURIComponent(text)}/presence`),
  anyText.map((text) => `/${text}`),
);
const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'get', 'post');

describe('ServerApi', () => {
  describe('any request', () => {
    it('never throws, and answers bad input with a documented 4xx { error, message }', async () => {
      const { api, connect } = world();
      await connect('conn-alice', 'alice');
      await fc.assert(
        fc.asyncProperty(method, path, fc.option(publishBody, { nil: undefined }), async (m, p, body) => {
          const answer = await api.handle({ method: m, path: p, body });
          if (answer.status === 200) return;
          expect(ERROR_STATUSES.has(answer.status)).toBe(true);
          const errorBody = answer.body as { error: keyof typeof SERVER_API_ERRORS; message: string };
          expect(SERVER_API_ERRORS[errorBody.error]).toBe(answer.status);
          expect(errorBody.message.length).toBeGreaterThan(0);
        }),
        { numRuns: 1500 },
      );
    });
  });

  describe('POST /publish', () => {
    it('answers each record at its index; valid ones are delivered whatever their neighbours, invalid ones post nothing', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.oneof({ weight: 3, arbitrary: record as fc.Arbitrary<unknown> }, fc.jsonValue({ maxDepth: 2 })), { minLength: 1, maxLength: 8 }),
          async (items) => {
            const { api, sender, connect } = world();
            await connect('conn-alice', 'alice');
            const answer = await api.handle({ method: 'POST', path: '/publish', body: JSON.stringify(items) });
            const results = (answer.body as { results: Array<{ index: number; status: string; messageId?: string }> }).results;
            expect(results.map((result) => result.index)).toEqual(items.map((_, index) => index));
            const valid = items.map((item) => producerRecord.safeParse(JSON.parse(JSON.stringify(item))).success);
            results.forEach((result, index) => {
              if (!valid[index]) expect(result.status).toBe('invalid');
              else expect(['delivered', 'duplicate', 'invalid']).toContain(result.status);
            });
            expect(answer.status).toBe(results.every((result) => result.status === 'invalid') ? 400 : 200);
            // Only records answered `delivered` posted anything, each at most once per connection.
            const delivered = new Set(results.filter((result) => result.status === 'delivered').map((result) => result.messageId));
            for (const post of sender.posts) expect(delivered.has(post.frame.messageId as string)).toBe(true);
            expect(new Set(sender.posts.map((post) => `${post.connectionId}/${post.frame.messageId as string}`)).size).toBe(sender.posts.length);
          },
        ),
        { numRuns: 400 },
      );
    });

    it(`refuses more than ${PUBLISH_RECORD_LIMIT} records and bodies over ${SERVER_API_BODY_LIMIT} bytes, delivering none of them`, async () => {
      const { api, sender, connect } = world();
      await connect('conn-alice', 'alice');
      const many = Array.from({ length: PUBLISH_RECORD_LIMIT + 1 }, () => notificationRecord({ targetUserId: 'alice' }));
      expect(await api.handle({ method: 'POST', path: '/publish', body: JSON.stringify(many) })).toMatchObject({
        status: 400,
        body: { error: 'invalid_request' },
      });
      const big = JSON.stringify(notificationRecord({ targetUserId: 'alice', pad: 'é'.repeat(SERVER_API_BODY_LIMIT / 2) }));
      expect(await api.handle({ method: 'POST', path: '/publish', body: big })).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
      expect(sender.posts).toEqual([]);
      const exactly = Array.from({ length: PUBLISH_RECORD_LIMIT }, () => notificationRecord({ targetUserId: 'alice' }));
      expect(await api.handle({ method: 'POST', path: '/publish', body: JSON.stringify(exactly) })).toMatchObject({
        status: 200,
        body: { delivered: PUBLISH_RECORD_LIMIT },
      });
    });
  });

  describe("POST /publish near the invocation's timeout", () => {
    it('answers the records it has no time left for as failed, with their messageId, and starts none of them', async () => {
      const { api, sender, connect } = world();
      await connect('conn-alice', 'alice');
      const records = [notificationRecord({ targetUserId: 'alice' }), notificationRecord({ targetUserId: 'alice' })];
      // Time runs out once the first record has been posted.
      const budget = { remainingMs: () => (sender.posts.length > 0 ? PUBLISH_TIME_RESERVE_MS - 1 : 60_000) };
      const answer = await api.handle({ method: 'POST', path: '/publish', body: JSON.stringify(records) }, budget);
      expect(answer.body).toMatchObject({
        delivered: 1,
        failed: 1,
        results: [{ status: 'delivered' }, { status: 'failed', messageId: records[1]!.messageId, reason: expect.stringContaining('ran out of time') }],
      });
      expect(sender.posts.map((post) => post.frame.messageId)).toEqual([records[0]!.messageId]);
    });
  });

  describe('POST /users/{userId}/disconnect', () => {
    it('posts the disconnect frame to each connection, then closes and removes it; a gone socket is closed and removed all the same', async () => {
      const { api, sender, connections, connect } = world();
      await connect('c1', 'carol');
      await connect('c2', 'carol');
      await connect('c3', 'dave');
      sender.gone.add('c2');
      const answer = await api.handle({ method: 'POST', path: '/users/carol/disconnect' });
      expect(answer).toEqual({ status: 200, body: { userId: 'carol', connections: 2, notified: 1 } });
      expect(sender.framesTo('c1')).toEqual([expect.objectContaining({ type: 'disconnect', payload: { reason: 'revoked', reconnect: false } })]);
      expect(sender.closed.sort()).toEqual(['c1', 'c2']);
      expect(await connections.listByUser('carol')).toEqual([]);
      expect(await connections.get('c3')).toBeDefined();
    });
  });
});
