import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb/connection-store.js';
import { SERVER_API_BODY_LIMIT } from '../../protocol/server-api.js';
import { createNotificationService } from '../../lambdas/index.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { callServerApi } from '../support/server-api-client.js';
import { mintToken, TestClient } from '../support/ws-client.js';
import { NotificationClient } from '../../client/index.js';
import { main as sendCommand } from '../../local/commands/send.js';

const run = promisify(execFile);
const CREDENTIALS = { accessKeyId: 'AKIATESTSERVERAPI', secretAccessKey: 'test/secret+key' };

/** SigV4's `x-amz-date` form of a time: 20261129T131300Z. */
const amzDate = (date: Date): string => date.toISOString().replace(/[-:]|\.\d{3}/g, '');

/**
 * The server API through the local runtime (SigV4 checked as API Gateway's AWS_IAM
 * does, then the ServerApi function), with DynamoDB Local and real WebSocket clients.
 */
describe('server API (local runtime)', () => {
  let runtime: TestRuntime;
  let store: DynamoDbConnectionStore;
  const clients: TestClient[] = [];
  const connect = async (userId: string, roles: string[] = []) => {
    const opened = await TestClient.connect(runtime.wsUrl, userId, roles);
    clients.push(opened.client);
    return opened;
  };
  const call = (method: string, path: string, body?: unknown, options?: Parameters<typeof callServerApi>[5]) =>
    callServerApi(runtime.serverApiUrl, CREDENTIALS, method, path, body, options);
  const curl = async (args: string[]): Promise<{ status: number; body: any }> => {
    const { stdout } = await run('curl', ['-sS', '-w', '\n%{http_code}', ...args]);
    const lines = stdout.trimEnd().split('\n');
    const status = Number(lines.pop());
    return { status, body: JSON.parse(lines.join('\n')) };
  };

  beforeAll(async () => {
    runtime = await startTestRuntime({}, { serverApiCredentials: CREDENTIALS });
    store = new DynamoDbConnectionStore({ client: runtime.tables.client, tables: runtime.tables.tables });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  describe('authentication', () => {
    it('refuses an unsigned request with 403 before any function runs', async () => {
      const response = await fetch(`${runtime.serverApiUrl}/stats`);
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ error: 'forbidden', message: expect.stringContaining('not signed') });
    });

    it('refuses a signature made with another secret, region or service, or an old date', async () => {
      const wrongSecret = await call('GET', '/stats', undefined, { credentials: { ...CREDENTIALS, secretAccessKey: 'not-the-secret' } });
      const otherKey = await call('GET', '/stats', undefined, { credentials: { accessKeyId: 'AKIAOTHER', secretAccessKey: CREDENTIALS.secretAccessKey } });
      const wrongRegion = await call('GET', '/stats', undefined, { region: 'eu-west-1' });
      const wrongService = await call('GET', '/stats', undefined, { service: 'lambda' });
      const stale = await call('GET', '/stats', undefined, { signingDate: new Date(Date.now() - 6 * 60_000) });
      for (const answer of [wrongSecret, otherKey, wrongRegion, wrongService, stale]) {
        expect(answer.status).toBe(403);
        expect(answer.body.error).toBe('forbidden');
      }
      expect(stale.body.message).toMatch(/5 minutes/);
    });

    it('refuses a signed request whose body or path was changed after signing', async () => {
      const record = notificationRecord({ targetUserId: 'nobody' });
      const tamperedBody = await call('POST', '/publish', record, {
        afterSigning: (request) => (request.body = JSON.stringify({ ...record, targetUserId: 'someone-else' })),
      });
      expect(tamperedBody.status).toBe(403);
      // Signed on a whole minute: a tamper that only rewrote the seconds to 00 would change
      // nothing there and be accepted (it failed CI once in 60 runs that way).
      const onTheMinute = new Date(Math.floor(Date.now() / 60_000) * 60_000);
      const tamperedHeader = await call('GET', '/stats', undefined, {
        signingDate: onTheMinute,
        afterSigning: (request) => {
          const signedAt = request.headers['x-amz-date']!;
          request.headers['x-amz-date'] = amzDate(new Date(onTheMinute.getTime() - 1_000));
          expect(request.headers['x-amz-date']).not.toBe(signedAt);
        },
      });
      expect(tamperedHeader.status).toBe(403);
      expect(tamperedHeader.body.error).toBe('forbidden');
    });

    it('accepts a request signed by curl --aws-sigv4, and refuses curl without it', async () => {
      const { client } = await connect('curl-user');
      const record = notificationRecord({ targetUserId: 'curl-user' });
      const signed = await curl([
        '--aws-sigv4',
        'aws:amz:us-east-1:execute-api',
        '--user',
        `${CREDENTIALS.accessKeyId}:${CREDENTIALS.secretAccessKey}`,
        '-H',
        'content-type: application/json',
        '-d',
        JSON.stringify(record),
        `${runtime.serverApiUrl}/publish`,
      ]);
      expect(signed.status).toBe(200);
      expect(signed.body.results[0]).toMatchObject({ status: 'delivered', messageId: record.messageId, delivered: 1 });
      const frame = await client.next((candidate) => candidate.type === 'notification');
      expect(frame.messageId).toBe(record.messageId);

      const stats = await curl([
        '--aws-sigv4',
        'aws:amz:us-east-1:execute-api',
        '--user',
        `${CREDENTIALS.accessKeyId}:${CREDENTIALS.secretAccessKey}`,
        `${runtime.serverApiUrl}/stats`,
      ]);
      expect(stats.status).toBe(200);
      const unsigned = await curl(['-H', 'content-type: application/json', '-d', JSON.stringify(record), `${runtime.serverApiUrl}/publish`]);
      expect(unsigned.status).toBe(403);
    });
  });

  describe('POST /publish', () => {
    it("delivers a signed record to the user's socket, and a second one with the same messageId is a duplicate", async () => {
      const { client } = await connect('pub-alice');
      const record = notificationRecord({ targetUserId: 'pub-alice' });
      const first = await call('POST', '/publish', record);
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ delivered: 1, duplicate: 0, invalid: 0, failed: 0 });
      expect(first.body.results).toEqual([expect.objectContaining({ index: 0, status: 'delivered', messageId: record.messageId, targets: 1, delivered: 1 })]);
      const frame = await client.next((candidate) => candidate.type === 'notification');
      expect(frame).toMatchObject({ messageId: record.messageId, targetUserId: 'pub-alice' });

      const again = await call('POST', '/publish', record);
      expect(again.body.results).toEqual([{ index: 0, status: 'duplicate', messageId: record.messageId }]);
    });

    it('answers each record of an array; the valid ones go out although others are invalid', async () => {
      const { client } = await connect('pub-bob');
      await client.request('subscribe', { channels: ['booking-updates'] });
      const valid = [notificationRecord({ targetUserId: 'pub-bob' }), notificationRecord({ channel: 'booking-updates' })];
      const withoutId = notificationRecord({ targetUserId: 'pub-bob' });
      delete (withoutId as { messageId?: string }).messageId;
      const answer = await call('POST', '/publish', [
        valid[0],
        { type: 'notification', payload: { title: 'no id, no message' }, targetUserId: 'pub-bob' },
        valid[1],
        notificationRecord(),
        withoutId,
      ]);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ delivered: 3, invalid: 2, duplicate: 0, failed: 0 });
      const [first, second, third, fourth, fifth] = answer.body.results;
      expect(first).toMatchObject({ index: 0, status: 'delivered' });
      expect(second).toMatchObject({ index: 1, status: 'invalid', reason: expect.stringContaining('payload.') });
      expect(third).toMatchObject({ index: 2, status: 'delivered', target: { kind: 'channel', channel: 'booking-updates' } });
      expect(fourth).toMatchObject({ index: 3, status: 'invalid', reason: expect.stringContaining('names no target') });
      // A record without messageId gets one, so that it can be retried under it.
      expect(fifth).toMatchObject({ index: 4, status: 'delivered', messageId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
      const received = new Set<string>();
      for (let i = 0; i < 3; i += 1) received.add((await client.next((frame) => frame.type === 'notification' && !received.has(frame.messageId))).messageId);
      expect(received).toEqual(new Set([valid[0]!.messageId, valid[1]!.messageId, fifth.messageId]));
    });

    it('answers bad input with a 4xx naming what is wrong', async () => {
      const malformed = await call('POST', '/publish', '{"type": "notification",');
      expect(malformed).toMatchObject({ status: 400, body: { error: 'invalid_json', message: expect.stringContaining('not JSON') } });
      const tooMany = await call(
        'POST',
        '/publish',
        Array.from({ length: 101 }, () => notificationRecord({ broadcast: true })),
      );
      expect(tooMany).toMatchObject({ status: 400, body: { error: 'invalid_request', message: expect.stringContaining('at most 100') } });
      const allInvalid = await call('POST', '/publish', { type: 'notification' });
      expect(allInvalid).toMatchObject({ status: 400, body: { error: 'invalid_records', results: [expect.objectContaining({ status: 'invalid' })] } });
      const unknown = await call('GET', '/nowhere');
      expect(unknown).toMatchObject({ status: 404, body: { error: 'not_found', routes: expect.arrayContaining(['POST /publish']) } });
      const wrongMethod = await call('GET', '/publish');
      expect(wrongMethod).toMatchObject({ status: 405, body: { error: 'method_not_allowed', allowed: ['POST'] } });
      const badUser = await call('GET', '/users/%20bad%20/presence');
      expect(badUser).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
      const huge = await call('POST', '/publish', JSON.stringify({ pad: 'x'.repeat(SERVER_API_BODY_LIMIT) }));
      expect(huge).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
    });
  });

  describe('POST /users/{userId}/disconnect', () => {
    it('sends every socket of the user a disconnect frame, closes them and removes them; others stay', async () => {
      const first = await connect('revoked-user');
      const second = await connect('revoked-user');
      const bystander = await connect('bystander');
      const answer = await call('POST', '/users/revoked-user/disconnect');
      expect(answer).toMatchObject({ status: 200, body: { userId: 'revoked-user', connections: 2, notified: 2 } });
      for (const { client } of [first, second]) {
        expect((await client.next((frame) => frame.type === 'disconnect')).payload).toEqual({ reason: 'revoked', reconnect: false });
        expect(await client.closed()).toBeGreaterThan(0);
      }
      expect(await store.listByUser('revoked-user')).toEqual([]);
      expect(await store.get(bystander.connectionId)).toBeDefined();
      expect((await bystander.client.request('heartbeat')).type).toBe('heartbeat');
      // Nobody left: nothing to close, still an answer.
      expect((await call('POST', '/users/revoked-user/disconnect')).body).toEqual({ userId: 'revoked-user', connections: 0, notified: 0 });
    });
  });

  describe('npm run send --server-api', () => {
    it('publishes through the server API, signed with the keys in the environment', async () => {
      const { client } = await connect('send-user');
      const lines: string[] = [];
      const output = { out: (text: string) => lines.push(text), err: (text: string) => lines.push(text) };
      const env = { AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey };
      const code = await sendCommand(
        ['--title', 'Signed', '--message', 'via the server API', '--user', 'send-user', '--server-api', '--url', runtime.httpUrl],
        output,
        env,
      );
      expect(lines.join('\n')).toContain('through the server API');
      expect(code).toBe(0);
      expect(await client.next((frame) => frame.type === 'notification')).toMatchObject({ targetUserId: 'send-user', payload: { title: 'Signed' } });
      const wrongKeys = await sendCommand(['--title', 'x', '--message', 'y', '--user', 'send-user', '--server-api', '--url', runtime.httpUrl], output, {
        ...env,
        AWS_SECRET_ACCESS_KEY: 'wrong',
      });
      expect(wrongKeys).toBe(1);
      expect(lines.at(-1)).toMatch(/answered 403/);
    });
  });

  describe('client SDK', () => {
    it('on the disconnect frame closes for good with DISCONNECTED and asks for no new token', async () => {
      let tokens = 0;
      const client = new NotificationClient({
        url: runtime.wsUrl,
        getToken: async () => {
          tokens += 1;
          return mintToken('sdk-revoked');
        },
        reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
      });
      const disconnected = new Promise<unknown>((resolve) => client.on('disconnected', resolve));
      const closed = new Promise<{ state: string; error?: { code: string } }>((resolve) =>
        client.on('state', (change) => change.state === 'closed' && resolve(change as never)),
      );
      try {
        await client.connect();
        expect((await call('POST', '/users/sdk-revoked/disconnect')).body).toMatchObject({ connections: 1, notified: 1 });
        expect(await disconnected).toEqual({ reason: 'revoked', reconnect: false });
        expect((await closed).error).toMatchObject({ code: 'DISCONNECTED' });
        // Well past the reconnect delay: a client that reconnected would have asked again.
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(tokens).toBe(1);
        expect(client.state).toBe('closed');
        expect(await store.listByUser('sdk-revoked')).toEqual([]);
      } finally {
        await client.close();
      }
    });
  });

  describe('library API: disconnectUser', () => {
    it("closes the user's sockets after the same disconnect frame, as the server API does", async () => {
      const { client } = await connect('library-revoked');
      const outcome = await createNotificationService(process.env).disconnectUser('library-revoked');
      expect(outcome).toEqual({ userId: 'library-revoked', connections: 1, notified: 1 });
      expect((await client.next((frame) => frame.type === 'disconnect')).payload).toEqual({ reason: 'revoked', reconnect: false });
      expect(await client.closed()).toBeGreaterThan(0);
      expect(await store.listByUser('library-revoked')).toEqual([]);
    });
  });

  describe('GET /users/{userId}/presence and GET /stats', () => {
    it('answers as the presence and stats frames answer an admin', async () => {
      const userId = `present-${randomUUID().slice(0, 8)}`;
      await connect(userId);
      const presence = await call('GET', `/users/${userId}/presence`);
      expect(presence).toMatchObject({ status: 200, body: { users: { [userId]: { online: true, connections: 1 } } } });
      const absent = await call('GET', '/users/never-here/presence');
      expect(absent.body).toEqual({ users: { 'never-here': { online: false, connections: 0 } } });
      // User ids that need percent-encoding: signed encoded twice, as the AWS SDKs sign them.
      for (const odd of ['mail@example.com', 'tenant:42+x']) {
        const answer = await call('GET', `/users/${encodeURIComponent(odd)}/presence`);
        expect(answer, odd).toMatchObject({ status: 200, body: { users: { [odd]: { online: false } } } });
      }
      const stats = await call('GET', '/stats');
      expect(stats.status).toBe(200);
      expect(stats.body).toMatchObject({ totalConnections: expect.any(Number), uniqueUsers: expect.any(Number), generatedAt: expect.any(String) });
      expect(stats.body.channels[`user-${userId}`]).toBe(1);
    });
  });
});
