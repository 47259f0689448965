import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../lambdas/domain/client-requests.js';
import type { ServerFrame } from '../../protocol/frames.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { TestClient } from '../support/ws-client.js';
import { buildInMemoryService, snapshotOf } from '../support/in-memory-service.js';

const codeOf = (frame: ServerFrame) => (frame.payload as { code?: string }).code;
const nested = (levels: number) => `${'['.repeat(levels)}0${']'.repeat(levels)}`;
/** A heartbeat frame whose document is `depth` levels deep (the frame and its payload are two). */
const frameOfDepth = (depth: number) => `{"type":"heartbeat","payload":{"deep":${nested(depth - 2)}}}`;

describe('abuse limits in ClientRequests', () => {
  let service: ReturnType<typeof buildInMemoryService>;
  const alice = { connectionId: 'conn-alice', identity: { userId: 'alice', roles: [] } };
  const send = (body: string) => service.requests.handle(alice, body);
  const request = (type: string, payload: unknown) => send(JSON.stringify({ messageId: randomUUID(), type, payload }));

  beforeEach(async () => {
    service = buildInMemoryService({
      websocket: { max_frame_size: 2048, rate_limit_per_second: 1, rate_limit_burst: 1000 },
      channels: { max_per_request: 3, max_per_connection: 4, access: { 'booking-updates': ['*'], 'waitlist-notifications': ['*'], 'team-*': ['*'] } },
    });
    await service.connectionService.connect(alice.connectionId, alice.identity);
  });

  it('measures max_frame_size in UTF-8 bytes: a frame of exactly the limit passes, one byte more does not', async () => {
    const shell = JSON.stringify({ type: 'heartbeat', payload: {}, pad: '' });
    const fill = (bytes: number) => JSON.stringify({ type: 'heartbeat', payload: {}, pad: 'é'.repeat(bytes / 2) });
    const exact = fill(2048 - Buffer.byteLength(shell));
    expect(Buffer.byteLength(exact)).toBe(2048);
    expect((await send(exact)).type).toBe('heartbeat');
    const over = `${exact.slice(0, -2)}x"}`;
    expect(Buffer.byteLength(over)).toBe(2049);
    expect(codeOf(await send(over))).toBe('MESSAGE_TOO_LARGE');
  });

  it(`refuses JSON nested deeper than ${MAX_JSON_DEPTH} levels before parsing, and accepts ${MAX_JSON_DEPTH}`, async () => {
    expect((await send(frameOfDepth(MAX_JSON_DEPTH))).type).toBe('heartbeat');
    const tooDeep = await send(frameOfDepth(MAX_JSON_DEPTH + 1));
    expect(tooDeep.payload).toMatchObject({ code: 'INVALID_MESSAGE', message: expect.stringContaining('deeper') });
    // Brackets alone, far past any parser's comfort: refused by the scan, never parsed.
    expect(codeOf(await send('['.repeat(2000)))).toBe('INVALID_MESSAGE');
    expect(codeOf(await send(`{"a":${'{"a":'.repeat(300)}1${'}'.repeat(301)}`))).toBe('INVALID_MESSAGE');
  });

  it('bounds channels per request (max_per_request) and per connection (max_per_connection)', async () => {
    const before = snapshotOf(service);
    expect((await request('subscribe', { channels: ['booking-updates', 'waitlist-notifications', 'team-a', 'team-b'] })).payload).toMatchObject({
      code: 'INVALID_MESSAGE',
      message: expect.stringContaining('at most 3'),
    });
    expect(snapshotOf(service)).toBe(before);
    // Two automatic channels plus two: the connection is full; held channels still answer accepted.
    await request('subscribe', { channels: ['booking-updates', 'waitlist-notifications'] });
    const full = await request('subscribe', { channels: ['booking-updates', 'team-a'] });
    expect(full.payload).toMatchObject({
      accepted: ['booking-updates'],
      rejected: [{ channel: 'team-a', code: 'LIMIT_EXCEEDED' }],
    });
    expect(service.state.connections.get(alice.connectionId)?.channels).toHaveLength(4);
  });

  it('bounds user ids per presence query at 100', async () => {
    const ids = (count: number) => Array.from({ length: count }, (_, index) => `user${index}`);
    expect((await request('presence', { userIds: ids(100) })).type).toBe('presence');
    expect((await request('presence', { userIds: ids(101) })).payload).toMatchObject({
      code: 'INVALID_MESSAGE',
      message: expect.stringContaining('payload.userIds'),
    });
  });

  it('bounds every string a client sends', async () => {
    expect(codeOf(await request('subscribe', { channels: ['x'.repeat(257)] }))).toBe('INVALID_MESSAGE');
    expect(codeOf(await request('presence', { userIds: ['u'.repeat(129)] }))).toBe('INVALID_MESSAGE');
    expect(codeOf(await request('t'.repeat(65), {}))).toBe('INVALID_MESSAGE');
    expect(codeOf(await request('heartbeat', { connectionId: 'c'.repeat(129) }))).toBe('INVALID_MESSAGE');
    expect(codeOf(await request('recover', { since: 'yesterday' }))).toBe('INVALID_MESSAGE');
  });

  it('lets no key pollute a prototype, and strips unknown keys', async () => {
    const hostile = [
      '{"type":"heartbeat","payload":{"__proto__":{"polluted":true}},"__proto__":{"polluted":true}}',
      '{"type":"subscribe","payload":{"channels":["booking-updates"],"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}}',
      '{"type":"presence","payload":{"userIds":["alice"],"__proto__":{"userIds":["bob"]}}}',
      '{"type":"__proto__","payload":{}}',
      '{"type":"constructor","payload":{}}',
      '{"type":"toString","payload":{}}',
      '{"type":"hasOwnProperty","payload":{}}',
      '{"type":"stats","payload":{"__proto__":{"roles":["admin"]}},"constructor":{"prototype":{"roles":["admin"]}}}',
    ];
    const answers = [];
    for (const body of hostile) answers.push(await send(body));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.prototype).not.toHaveProperty('roles');
    expect(answers.map((answer) => (answer.type === 'error' ? codeOf(answer) : answer.type))).toEqual([
      'heartbeat',
      'subscription',
      'presence',
      'UNKNOWN_TYPE',
      'UNKNOWN_TYPE',
      'UNKNOWN_TYPE',
      'UNKNOWN_TYPE',
      'FORBIDDEN',
    ]);
    // The prototype-smuggled user id was not read: only alice was asked about.
    expect(Object.keys((answers[2]!.payload as { users: object }).users)).toEqual(['alice']);
    const stored = service.state.connections.get(alice.connectionId)!;
    expect(Object.keys(stored).sort()).toEqual(['channels', 'connectedAt', 'connectionId', 'lastSeenAt', 'roles', 'userId']);
  });

  it('spends a token on every frame, malformed ones included, and then answers RATE_LIMITED without touching anything', async () => {
    const limited = buildInMemoryService({ websocket: { rate_limit_per_second: 1, rate_limit_burst: 3 } });
    await limited.connectionService.connect(alice.connectionId, alice.identity);
    const answers = [];
    for (const body of ['{nope', '[]', JSON.stringify({ type: 'heartbeat', payload: {} })]) answers.push(await limited.requests.handle(alice, body));
    expect(answers.map((answer) => (answer.type === 'error' ? codeOf(answer) : answer.type))).toEqual(['INVALID_MESSAGE', 'INVALID_MESSAGE', 'heartbeat']);
    const before = snapshotOf(limited);
    const refused = await limited.requests.handle(alice, JSON.stringify({ type: 'subscribe', payload: { channels: ['booking-updates'] } }));
    expect(codeOf(refused)).toBe('RATE_LIMITED');
    expect(snapshotOf(limited)).toBe(before);
    limited.advance(1000);
    expect((await limited.requests.handle(alice, JSON.stringify({ type: 'heartbeat', payload: {} }))).type).toBe('heartbeat');
  });
});

describe('abuse limits through the local runtime', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    // A refill this slow adds no token while a test runs: the counts below do not depend on timing.
    runtime = await startTestRuntime({ websocket: { max_frame_size: 4096, rate_limit_per_second: 0.01, rate_limit_burst: 5 } });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  it('limits each connection on its own: a flooding connection is refused, its neighbour is not', async () => {
    // Prepare
    const flood = await TestClient.connect(runtime.wsUrl, 'flooder');
    const calm = await TestClient.connect(runtime.wsUrl, 'calm');
    clients.push(flood.client, calm.client);

    // Act
    const answers = await Promise.all(Array.from({ length: 12 }, () => flood.client.request('heartbeat')));
    const neighbour = await calm.client.request('heartbeat');

    // Assess
    const limited = answers.filter((frame) => codeOf(frame) === 'RATE_LIMITED');
    expect(answers.filter((frame) => frame.type === 'heartbeat')).toHaveLength(5);
    expect(limited).toHaveLength(7);
    expect(limited.every((frame) => typeof frame.replyTo === 'string')).toBe(true);
    expect(neighbour.type).toBe('heartbeat');
    expect(flood.client.closeCode).toBeUndefined();
  });

  it('refuses too-deep JSON, hostile keys and oversize frames with coded errors, and the connection stays usable', async () => {
    // Prepare
    const { client } = await TestClient.connect(runtime.wsUrl, 'prober');
    clients.push(client);
    const probe = async (body: string) => {
      const messageId = randomUUID();
      client.sendRaw(body.replace('"type"', `"messageId":"${messageId}","type"`));
      const answer = await client.next((frame) => frame.replyTo === messageId);
      return answer.type === 'error' ? codeOf(answer) : answer.type;
    };

    // Act / Assess (one at a time, within the bucket). A frame refused before parsing (too
    // deep, too large) has no readable messageId, so its answer carries no replyTo.
    client.sendRaw(frameOfDepth(MAX_JSON_DEPTH + 1));
    expect(codeOf(await client.next((frame) => frame.type === 'error'))).toBe('INVALID_MESSAGE');
    expect(await probe('{"type":"presence","payload":{"userIds":["prober"],"__proto__":{"userIds":["x"]}}}')).toBe('presence');
    client.sendRaw(`{"type":"heartbeat","payload":{},"pad":"${'x'.repeat(4096)}"}`);
    expect(codeOf(await client.next((frame) => frame.type === 'error'))).toBe('MESSAGE_TOO_LARGE');
    expect(await probe(`{"type":"presence","payload":{"userIds":${JSON.stringify(Array.from({ length: 101 }, (_, i) => `u${i}`))}}}`)).toBe('INVALID_MESSAGE');
    expect((await client.request('heartbeat')).type).toBe('heartbeat');
  });
});
