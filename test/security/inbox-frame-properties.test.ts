import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ClientRequestContext } from '../../lambdas/domain/client-requests.js';
import { encodeInboxCursor } from '../../lambdas/domain/inbox-service.js';
import type { ServerFrame } from '../../protocol/frames.js';
import { aNotification } from '../adapters/contracts/notification-log.contract.js';
import { buildInMemoryService, snapshotOf } from '../support/in-memory-service.js';

/**
 * Property-based proof (fast-check) that no `inbox` or `markRead` frame, however
 * malformed or hostile, makes the service throw, answer outside the protocol, change
 * anything when refused, touch another user's inbox, or show another user's items.
 */

const SERVICE_CONFIG = { websocket: { max_frame_size: 65536, rate_limit_per_second: 10000, rate_limit_burst: 100000 } };
const alice: ClientRequestContext = { connectionId: 'conn-alice', identity: { userId: 'alice', roles: [] } };
const bob: ClientRequestContext = { connectionId: 'conn-bob', identity: { userId: 'bob', roles: [] } };

describe('inbox frames, property-based', () => {
  let service: ReturnType<typeof buildInMemoryService>;
  const aliceIds: string[] = [];
  const bobIds: string[] = [];
  const bobPositions: string[] = [];

  beforeAll(async () => {
    service = buildInMemoryService(SERVICE_CONFIG);
    for (const context of [alice, bob]) await service.connectionService.connect(context.connectionId, context.identity);
    for (let index = 0; index < 30; index++) {
      const at = new Date(Date.UTC(2033, 0, 1, 0, 0, index)).toISOString();
      const forAlice = aNotification(at);
      const forBob = aNotification(at);
      await service.notifications.append(forAlice, [{ kind: 'user', userId: 'alice' }], 3600);
      await service.notifications.append(forBob, [{ kind: 'user', userId: 'bob' }], 3600);
      aliceIds.push(forAlice.messageId);
      bobIds.push(forBob.messageId);
      bobPositions.push(`${at}#${forBob.messageId}`);
    }
  });

  const hostileKey = fc.constantFrom('__proto__', 'constructor', 'userId', 'all', 'messageIds', 'before', 'limit');
  const extras = fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 6 })), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 });
  const id = fc.oneof(
    fc.constantFrom(...Array.from({ length: 30 }, (_, index) => index)).map((index) => aliceIds[index]!),
    fc.constantFrom(...Array.from({ length: 30 }, (_, index) => index)).map((index) => bobIds[index]!),
    fc.uuid(),
    fc.string({ maxLength: 40 }),
  );
  const cursor = fc.oneof(
    fc.constantFrom(...Array.from({ length: 30 }, (_, index) => index)).map((index) => encodeInboxCursor(bobPositions[index]!)),
    fc.string({ maxLength: 120 }).map((text) => Buffer.from(text).toString('base64url')),
    fc.string({ maxLength: 60 }),
    fc.tuple(fc.date({ noInvalidDate: true }), fc.uuid()).map(([at, messageId]) => encodeInboxCursor(`${at.toISOString()}#${messageId}`)),
  );
  const inboxPayload = fc.oneof(
    fc.record(
      {
        limit: fc.oneof(fc.integer({ min: -5, max: 110 }), fc.double(), fc.string({ maxLength: 3 })),
        before: cursor,
        unreadOnly: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
      },
      { requiredKeys: [] },
    ),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const markReadPayload = fc.oneof(
    fc.record({ messageIds: fc.array(id, { minLength: 0, maxLength: 105 }) }),
    fc.record({ all: fc.oneof(fc.constant(true), fc.jsonValue({ maxDepth: 1 })) }),
    fc.record({ messageIds: fc.array(id, { maxLength: 3 }), all: fc.constant(true) }),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const withExtras = (payload: fc.Arbitrary<unknown>) =>
    fc
      .tuple(payload, extras, fc.boolean())
      .map(([fields, more, add]) => (add && typeof fields === 'object' && fields !== null && !Array.isArray(fields) ? { ...more, ...fields } : fields));

  async function unreadListedOf(context: ClientRequestContext): Promise<{ unread: number; count: number }> {
    const page = await service.requests.handle(context, JSON.stringify({ type: 'inbox', payload: { limit: 100 } }));
    const payload = page.payload as { items: { read: boolean }[]; unreadCount: number };
    return { unread: payload.items.filter((item) => !item.read).length, count: payload.unreadCount };
  }

  function mentionsBob(answer: ServerFrame): boolean {
    const text = JSON.stringify(answer);
    return bobIds.some((messageId) => text.includes(messageId));
  }

  it("answers any inbox frame with a page of the caller's own items or INVALID_MESSAGE, and changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(withExtras(inboxPayload), async (payload) => {
        const before = snapshotOf(service);

        const answer = await service.requests.handle(alice, JSON.stringify({ type: 'inbox', payload, messageId: randomUUID() }));

        expect(['inbox', 'error']).toContain(answer.type);
        if (answer.type === 'error') expect(answer.payload.code).toBe('INVALID_MESSAGE');
        else if (answer.type === 'inbox') for (const item of answer.payload.items) expect(aliceIds).toContain(item.messageId);
        expect(mentionsBob(answer)).toBe(false);
        expect(snapshotOf(service)).toBe(before);
      }),
      { numRuns: 400 },
    );
  });

  it('answers any markRead frame with inboxState or INVALID_MESSAGE; never touches another inbox; the count stays exact', async () => {
    const bobBefore = JSON.stringify(
      await service.requests.handle(bob, JSON.stringify({ type: 'inbox', payload: { limit: 100 } })).then((frame) => frame.payload),
    );
    await fc.assert(
      fc.asyncProperty(withExtras(markReadPayload), async (payload) => {
        const before = snapshotOf(service);

        const answer = await service.requests.handle(alice, JSON.stringify({ type: 'markRead', payload, messageId: randomUUID() }));

        expect(['inboxState', 'error']).toContain(answer.type);
        if (answer.type === 'error') {
          expect(answer.payload.code).toBe('INVALID_MESSAGE');
          expect(snapshotOf(service)).toBe(before);
        } else if (answer.type === 'inboxState') {
          for (const messageId of answer.payload.read) expect(aliceIds).toContain(messageId);
          const listed = await unreadListedOf(alice);
          expect(listed.count).toBe(listed.unread);
          expect(answer.payload.unreadCount).toBe(listed.unread);
        }
        expect(mentionsBob(answer)).toBe(false);
      }),
      { numRuns: 400 },
    );
    const bobAfter = JSON.stringify(
      await service.requests.handle(bob, JSON.stringify({ type: 'inbox', payload: { limit: 100 } })).then((frame) => frame.payload),
    );
    expect(bobAfter).toBe(bobBefore);
  });
});
