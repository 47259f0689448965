import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidKafkaEventError, sourceRecordsFromMskEvent } from '../../lambdas/adapters/kafka/msk-event.js';
import { ADMIN_ROLE, AccessPolicy } from '../../lambdas/domain/access-policy.js';
import type { ClientRequestContext } from '../../lambdas/domain/client-requests.js';
import { isReadable } from '../../lambdas/domain/fanout/source-record.js';
import { ownerOfPersonalChannel } from '../../protocol/channels.js';
import { serverFrame, type ServerFrame } from '../../protocol/frames.js';
import { producerRecord } from '../../protocol/records.js';
import { mskEvent } from '../adapters/kafka-msk-event-fixture.js';
import { buildInMemoryService, IN_MEMORY_JWT_SECRET, snapshotOf } from '../support/in-memory-service.js';

/**
 * Property-based proof (fast-check) that no inbound frame of any type, and no producer
 * record, can make the service throw, answer outside the protocol, or change anything
 * when it is refused. Over 10,000 generated cases in all; the seed of a failure is
 * printed so it can be replayed with `fc.assert(..., { seed })`.
 */

const ACCESS = { 'booking-updates': ['*'], 'waitlist-notifications': ['*'], 'team-*': ['staff'] };
const SERVICE_CONFIG = {
  // Room for every generated frame: the rate limit has its own tests (abuse-limits).
  websocket: { max_frame_size: 4096, rate_limit_per_second: 10000, rate_limit_burst: 100000 },
  channels: { access: ACCESS, presence: ['team-*'], max_per_request: 5, max_per_connection: 8 },
};
const REPLY_TYPE = {
  subscribe: 'subscription',
  unsubscribe: 'subscription',
  heartbeat: 'heartbeat',
  presence: 'presence',
  members: 'members',
  recover: 'recovered',
  stats: 'stats',
  refresh: 'refreshed',
} as const;
const USERS = ['alice', 'sam', 'root', 'bob'] as const;
// Tokens that last an hour from the in-memory service's clock: `refresh` has something to extend.
const TOKEN_EXPIRES_AT = '2026-01-01T01:00:00.000Z';
const ASKERS: ClientRequestContext[] = [
  { connectionId: 'conn-alice', identity: { userId: 'alice', roles: [], tokenExpiresAt: TOKEN_EXPIRES_AT } },
  { connectionId: 'conn-sam', identity: { userId: 'sam', roles: ['staff'], tokenExpiresAt: TOKEN_EXPIRES_AT } },
  { connectionId: 'conn-root', identity: { userId: 'root', roles: [ADMIN_ROLE], tokenExpiresAt: TOKEN_EXPIRES_AT } },
];

// ---- arbitraries --------------------------------------------------------------------

const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'userId', 'roles', 'identity');
const anyText = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary', maxLength: 40 }));
const extraKeys = fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 8 })), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
const channelName = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'booking-updates',
      'waitlist-notifications',
      'team-red',
      'team-blue',
      'system-announcements',
      'payroll',
      'user-alice',
      'user-bob',
      'user-sam',
      'user-root',
    ),
  },
  fc.stringMatching(/^[a-z0-9][a-z0-9._:-]{0,24}$/),
  fc.constantFrom('User-bob', 'user-bob ', ' user-bob', 'user-b\u043eb', 'user-bob\u0000', 'team-*', 'user-', 'booking%2Dupdates'),
  anyText.map((text) => `user-${text}`),
  anyText,
);
const connectionIdField = fc.option(fc.oneof(fc.constantFrom('conn-alice', 'conn-sam', 'conn-root', 'conn-bob'), anyText), { nil: undefined, freq: 2 });
const channelList = fc.oneof({ weight: 8, arbitrary: fc.array(channelName, { minLength: 1, maxLength: 8 }) }, { weight: 1, arbitrary: fc.constant([]) });
const sometimesNotJson = <T>(value: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: value as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) });
const withExtras = <T extends object>(payload: fc.Arbitrary<T>) => fc.tuple(payload, extraKeys).map(([fields, extras]) => ({ ...extras, ...fields }));
const knownUser = fc.constantFrom(...USERS, 'nobody');
const userIdList = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.oneof({ weight: 6, arbitrary: knownUser }, anyText), { minLength: 1, maxLength: 8 }) },
  // Around the bound of 100 user ids per query.
  { weight: 1, arbitrary: fc.array(knownUser, { minLength: 95, maxLength: 110 }) },
  { weight: 1, arbitrary: fc.constant([]) },
);
const isoInstant = fc
  .date({ min: new Date('2025-01-01T00:00:00Z'), max: new Date('2026-02-01T00:00:00Z'), noInvalidDate: true })
  .map((date) => date.toISOString());

const payloads = {
  subscribe: withExtras(
    fc.record(
      {
        channels: sometimesNotJson(channelList),
        action: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('subscribe', 'unsubscribe') }, fc.constant('delete'), anyText),
        connectionId: connectionIdField,
      },
      { requiredKeys: ['channels'] },
    ),
  ),
  unsubscribe: withExtras(fc.record({ channels: sometimesNotJson(channelList), connectionId: connectionIdField }, { requiredKeys: ['channels'] })),
  heartbeat: withExtras(
    fc.record(
      {
        connectionId: connectionIdField,
        timestamp: fc.oneof({ weight: 3, arbitrary: isoInstant }, anyText),
        status: fc.oneof({ weight: 3, arbitrary: fc.constant('alive') }, anyText),
      },
      { requiredKeys: [] },
    ),
  ),
  presence: withExtras(fc.record({ userIds: sometimesNotJson(userIdList) }, { requiredKeys: ['userIds'] })),
  members: withExtras(fc.record({ channel: sometimesNotJson(channelName) }, { requiredKeys: ['channel'] })),
  recover: withExtras(fc.record({ since: sometimesNotJson(fc.oneof({ weight: 3, arbitrary: isoInstant }, fc.uuid(), anyText)) }, { requiredKeys: ['since'] })),
  stats: withExtras(fc.constant({})),
  // A placeholder the property turns into a signed token (see tokenOf): arbitraries are
  // synchronous, signing is not.
  refresh: withExtras(
    fc.record(
      {
        token: sometimesNotJson(
          fc.oneof(
            {
              weight: 8,
              arbitrary: fc
                .tuple(fc.constantFrom('own', 'alice', 'bob', 'mallory'), fc.constantFrom('newer', 'newer', 'older', 'expired', 'badsig'))
                .map(([who, kind]) => `@@TOKEN:${who}:${kind}@@`),
            },
            anyText,
            fc.constantFrom('a.b.c', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.'),
          ),
        ),
      },
      { requiredKeys: ['token'] },
    ),
  ),
} as const;
type RequestType = keyof typeof payloads;

/** A frame of `type`: mostly well formed, sometimes with a bad envelope, a broken body or padding. */
function frameOf(type: RequestType): fc.Arbitrary<string> {
  const envelope = fc.record(
    {
      messageId: fc.oneof({ weight: 6, arbitrary: fc.uuid() }, anyText, fc.integer()),
      type: fc.oneof(
        { weight: 8, arbitrary: fc.constant<string>(type) },
        { weight: 1, arbitrary: fc.constantFrom(type.toUpperCase(), ` ${type}`, `${type}\u0000`) },
      ),
      payload: fc.oneof({ weight: 8, arbitrary: payloads[type] as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }),
      timestamp: fc.oneof(isoInstant, anyText),
    },
    { requiredKeys: ['type', 'payload'] },
  );
  return fc.tuple(envelope, extraKeys, fc.nat(19)).map(([frame, extras, mutation]) => {
    const text = JSON.stringify({ ...extras, ...frame });
    switch (mutation) {
      case 0:
        return text.slice(0, Math.max(0, text.length - 3)); // truncated
      case 1:
        return `${'['.repeat(40)}${text}${']'.repeat(40)}`; // too deep
      case 2:
        return text.replace('}', `,"pad":"${'x'.repeat(4100)}"}`); // too large
      default:
        return text;
    }
  });
}

/** Anything at all: text, any JSON, envelopes of unknown or hostile types. */
const anyFrame = fc.oneof(
  anyText,
  fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
  fc
    .record({
      type: fc.oneof(anyText, hostileKey, fc.constantFrom('notification', 'welcome', 'error', 'publish', 'broadcast')),
      payload: fc.jsonValue({ maxDepth: 3 }),
    })
    .map((frame) => JSON.stringify(frame)),
  fc.constantFrom('', ' ', 'null', '[]', '{}', '"x"', '{"type":null}', '{"type":"heartbeat","payload":null}', '{"__proto__":{"type":"stats"}}'),
);

// ---- the properties -----------------------------------------------------------------

describe('every inbound frame (property-based)', () => {
  let service: ReturnType<typeof buildInMemoryService>;
  let access: AccessPolicy;
  let cases = 0;
  /** join / leave posts seen: proof the subscribe properties exercised them. */
  let presenceEvents = 0;

  beforeAll(async () => {
    service = buildInMemoryService(SERVICE_CONFIG);
    access = new AccessPolicy({ access: ACCESS, presence: ['team-*'] });
    for (const asker of ASKERS) await service.connectionService.connect(asker.connectionId, asker.identity);
    await service.connectionService.connect('conn-bob', { userId: 'bob', roles: ['staff'] });
    // Something for `recover` to find, including another user's inbox.
    const acceptedAt = '2026-01-01T00:00:00.000Z';
    const seeded: [string, Parameters<typeof service.notifications.append>[1]][] = [
      ['bob', [{ kind: 'user', userId: 'bob' }]],
      ['alice', [{ kind: 'user', userId: 'alice' }]],
      ['team-red', [{ kind: 'channel', channel: 'team-red' }]],
      ['all', [{ kind: 'broadcast' }]],
    ];
    for (const [label, streams] of seeded) {
      const messageId = randomUUID();
      const target = streams[0]!;
      await service.notifications.append(
        {
          messageId,
          acceptedAt,
          frame: {
            messageId,
            type: 'notification',
            timestamp: acceptedAt,
            payload: { notificationId: label, title: label, message: label, priority: 'low', createdAt: acceptedAt },
            ...(target.kind === 'user'
              ? { targetUserId: target.userId }
              : target.kind === 'channel'
                ? { channel: target.channel }
                : { broadcast: true as const }),
          },
        },
        streams,
        3600,
      );
    }
  });

  /** Answers per kind (reply type or error code) of the current run: proof the cases were not all refused. */
  let outcomes = new Map<string, number>();

  /** One case: the frame's answer is a protocol frame, and a refusal changed nothing. */
  async function check(asker: ClientRequestContext, body: string, requested?: RequestType): Promise<void> {
    cases += 1;
    const before = snapshotOf(service);
    const postsBefore = service.sender.posts.length;
    const answer: ServerFrame = await service.requests.handle(asker, body);

    // A protocol frame, always; INTERNAL would mean a bug, since nothing here can fail.
    expect(serverFrame.safeParse(answer).success).toBe(true);
    const kind = answer.type === 'error' ? answer.payload.code : answer.type;
    outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
    if (answer.type === 'error') {
      expect(answer.payload.code).not.toBe('INTERNAL');
      expect(snapshotOf(service)).toBe(before);
      return;
    }
    if (requested) expect(answer.type).toBe(REPLY_TYPE[requested]);
    if (answer.type === 'refreshed') {
      expect(service.state.connections.get(asker.connectionId)!.tokenExpiresAt).toBe(answer.payload.expiresAt);
    }
    expect(Object.keys(REPLY_TYPE).map((type) => REPLY_TYPE[type as RequestType])).toContain(answer.type);
    const isAdmin = asker.identity.roles.includes(ADMIN_ROLE);
    const held = service.state.connections.get(asker.connectionId)!.channels;
    expect(held.length).toBeLessThanOrEqual(SERVICE_CONFIG.channels.max_per_connection);
    if (!isAdmin) {
      // Never another user's personal channel, never a channel the policy refuses.
      for (const channel of held) expect(access.canSubscribe(asker.identity, channel).allowed).toBe(true);
      for (const channel of held) expect([undefined, asker.identity.userId]).toContain(ownerOfPersonalChannel(channel));
    }
    if (answer.type === 'presence' && !isAdmin) {
      // Online only: the asker, or someone sharing a presence-revealing channel with this connection.
      for (const [userId, presence] of Object.entries(answer.payload.users)) {
        if (userId === asker.identity.userId || !presence.online) continue;
        const theirs = [...service.state.connections.values()].filter((connection) => connection.userId === userId).flatMap((c) => c.channels);
        expect(held.some((channel) => access.revealsPresence(channel) && theirs.includes(channel))).toBe(true);
      }
    }
    if (answer.type === 'members') {
      // Only a presence channel this connection holds; everyone listed holds it now.
      expect(access.isPresenceChannel(answer.payload.channel) && held.includes(answer.payload.channel)).toBe(true);
      for (const userId of Object.keys(answer.payload.members)) {
        const holders = [...service.state.connections.values()].filter(
          (connection) => connection.userId === userId && connection.channels.includes(answer.payload.channel),
        );
        expect(holders).toHaveLength(answer.payload.members[userId]!.connections);
      }
    }
    for (const post of service.sender.posts.slice(postsBefore)) {
      if (post.frame.type === 'join' || post.frame.type === 'leave') {
        // Only about the asker, only in a presence channel, only to another user who holds it.
        const event = post.frame.payload as { channel: string; userId: string };
        const recipient = service.state.connections.get(post.connectionId)!;
        expect(event.userId).toBe(asker.identity.userId);
        expect(access.isPresenceChannel(event.channel)).toBe(true);
        expect(recipient.userId).not.toBe(asker.identity.userId);
        expect(recipient.channels).toContain(event.channel);
        presenceEvents += 1;
        continue;
      }
      expect(post.connectionId).toBe(asker.connectionId);
      // A replay never carries another user's targeted notification.
      expect([undefined, asker.identity.userId]).toContain(post.frame.targetUserId);
    }
  }

  /**
   * Replaces each token placeholder with a real HS256 token: `newer` tokens expire later
   * than any before them, `older` before any stored expiry, `expired` an hour ago;
   * `badsig` is signed with another key; `own` is the asker's user.
   */
  let issued = 0;
  async function withTokens(asker: ClientRequestContext, body: string): Promise<string> {
    const nowSeconds = Math.floor(service.clock.now().getTime() / 1000);
    let result = body;
    for (const match of body.matchAll(/@@TOKEN:(\w+):(\w+)@@/g)) {
      const [placeholder, who, kind] = match as unknown as [string, string, string];
      issued += 1;
      const exp = kind === 'older' ? nowSeconds + 60 : kind === 'expired' ? nowSeconds - 3600 : nowSeconds + 7200 + issued;
      const token = await new SignJWT({ roles: [] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(who === 'own' ? asker.identity.userId : who)
        .setExpirationTime(exp)
        .sign(new TextEncoder().encode(kind === 'badsig' ? 'another-key' : IN_MEMORY_JWT_SECRET));
      result = result.replace(placeholder, token);
    }
    return result;
  }

  const asker = fc.constantFrom(...ASKERS);
  const runs: [RequestType, number][] = [
    ['subscribe', 2000],
    ['unsubscribe', 1000],
    ['heartbeat', 1000],
    ['presence', 1500],
    ['recover', 1000],
    ['stats', 500],
  ];

  it('members: 1,000 generated frames; only a presence channel the connection holds is answered, with who holds it', async () => {
    // Prepare: presence channels held by several users, so that answers have members.
    for (const who of [ASKERS[1]!, ASKERS[2]!]) {
      await service.requests.handle(who, JSON.stringify({ type: 'subscribe', payload: { channels: ['team-red', 'team-blue'] } }));
    }
    outcomes = new Map();
    await fc.assert(
      fc.asyncProperty(asker, frameOf('members'), async (who, body) => check(who, body, 'members')),
      { numRuns: 1000 },
    );
    // Each kind of answer was met (the generator's mix varies with the seed: about 2-3 %
    // of generated frames name a presence channel the asker holds).
    expect(outcomes.get('members') ?? 0).toBeGreaterThan(5);
    expect(outcomes.get('FORBIDDEN') ?? 0).toBeGreaterThan(50);
    expect(outcomes.get('INVALID_MESSAGE') ?? 0).toBeGreaterThan(50);
  });

  it.each(runs)('%s: %i generated frames, each answered within the protocol, refusals changing nothing', async (type, numRuns) => {
    outcomes = new Map();
    await fc.assert(
      fc.asyncProperty(asker, frameOf(type), async (who, body) => check(who, body, type)),
      { numRuns },
    );
    // Both sides were exercised: real answers and coded refusals.
    expect(outcomes.get(REPLY_TYPE[type]) ?? 0).toBeGreaterThan(numRuns / 20);
    expect(outcomes.get('INVALID_MESSAGE') ?? 0).toBeGreaterThan(numRuns / 20);
    if (type === 'subscribe') expect(presenceEvents).toBeGreaterThan(0);
  });

  it("refresh: 1,000 generated frames with own, other users', older, expired and badly signed tokens; only a newer own token moves the expiry", async () => {
    outcomes = new Map();
    await fc.assert(
      fc.asyncProperty(asker, frameOf('refresh'), async (who, body) => {
        const before = service.state.connections.get(who.connectionId)!.tokenExpiresAt;
        await check(who, await withTokens(who, body), 'refresh');
        const after = service.state.connections.get(who.connectionId)!.tokenExpiresAt;
        // The expiry only ever moves later.
        if (before !== undefined) expect(after! >= before).toBe(true);
      }),
      { numRuns: 1000 },
    );
    expect(outcomes.get('refreshed') ?? 0).toBeGreaterThan(20);
    // Every refusal was met (TOKEN_NOT_NEWER is the rarest, about 2 % of generated frames).
    for (const code of ['INVALID_MESSAGE', 'TOKEN_INVALID', 'TOKEN_USER_MISMATCH', 'TOKEN_NOT_NEWER']) {
      expect(outcomes.get(code) ?? 0, code).toBeGreaterThan(3);
    }
  });

  it('anything else: 1,500 generated texts, JSON values and envelopes of unknown or hostile types', async () => {
    outcomes = new Map();
    await fc.assert(
      fc.asyncProperty(asker, anyFrame, async (who, body) => check(who, body)),
      { numRuns: 1500 },
    );
    expect(outcomes.get('UNKNOWN_TYPE') ?? 0).toBeGreaterThan(0);
    expect(Object.prototype).not.toHaveProperty('type');
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(cases).toBeGreaterThanOrEqual(8500);
  });
});

describe('every producer record (property-based)', () => {
  const priority = fc.oneof(fc.constantFrom('low', 'medium', 'high', 'urgent'), anyText);
  const payload = fc.record(
    {
      notificationId: fc.oneof(fc.uuid(), anyText),
      title: anyText,
      message: anyText,
      priority,
      actionUrl: anyText,
      createdAt: fc.oneof(isoInstant, anyText),
    },
    { requiredKeys: ['notificationId', 'title', 'message', 'priority', 'createdAt'] },
  );
  const record = fc.record(
    {
      messageId: fc.oneof(fc.uuid(), anyText),
      type: fc.oneof({ weight: 5, arbitrary: fc.constant('notification') }, { weight: 1, arbitrary: anyText }),
      payload: fc.oneof({ weight: 5, arbitrary: payload as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }),
      targetUserId: fc.oneof(fc.constantFrom('alice', 'bob'), anyText),
      channel: channelName,
      broadcast: fc.oneof(fc.constant(true), fc.jsonValue({ maxDepth: 1 })),
    },
    { requiredKeys: ['type', 'payload'] },
  );
  const value = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(record, extraKeys).map(([fields, extras]) => JSON.stringify({ ...extras, ...fields })) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((json) => JSON.stringify(json)) },
    { weight: 1, arbitrary: anyText },
  );

  it('2,000 generated record values: each read as a valid producer record or set aside with its reason, never a throw', () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 5 }), (values) => {
        const event = mskEvent(values.map((text, index) => ({ topic: 'booking-updates', offset: index, value: text })));
        const read = sourceRecordsFromMskEvent(event);
        expect(read).toHaveLength(values.length);
        for (const source of read) {
          if (isReadable(source)) {
            expect(producerRecord.safeParse(source.record).success).toBe(true);
            const targets = [source.record.targetUserId, source.record.channel, source.record.broadcast].filter((target) => target !== undefined);
            expect(targets.length).toBeLessThanOrEqual(1);
          } else {
            expect(source.reason.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('500 generated events of any shape: records come back read or with a reason; only a non-event is refused as a whole', () => {
    const kafkaRecord = fc.record(
      {
        topic: fc.oneof(fc.constant('booking-updates'), anyText),
        partition: fc.oneof(fc.nat(), fc.jsonValue({ maxDepth: 1 })),
        offset: fc.oneof(fc.nat(), fc.jsonValue({ maxDepth: 1 })),
        timestamp: fc.oneof(fc.nat(), anyText),
        timestampType: fc.constantFrom('CREATE_TIME', 'LOG_APPEND_TIME', 'NO'),
        key: fc.oneof(fc.base64String(), anyText),
        value: fc.oneof(fc.base64String(), anyText, fc.jsonValue({ maxDepth: 1 })),
        headers: fc.jsonValue({ maxDepth: 2 }),
      },
      { requiredKeys: [] },
    );
    const event = fc.oneof(
      fc.record({ eventSource: fc.constant('aws:kafka'), records: fc.dictionary(anyText, fc.array(kafkaRecord, { maxLength: 3 }), { maxKeys: 3 }) }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    fc.assert(
      fc.property(event, (candidate) => {
        let read: ReturnType<typeof sourceRecordsFromMskEvent>;
        try {
          read = sourceRecordsFromMskEvent(candidate);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidKafkaEventError);
          return;
        }
        for (const source of read) expect(isReadable(source) || source.reason.length > 0).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
