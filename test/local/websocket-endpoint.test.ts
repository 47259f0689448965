import { APIGatewayProxyWebsocketEventSchema } from '@aws-lambda-powertools/parser/schemas';
import { afterEach, describe, expect, it } from 'vitest';
import { ALLOW_CONTEXT, EmulatorClient, refusal, startEmulator, type Emulator, type RecordedEvent } from './emulator-harness.js';

let emulator: Emulator | undefined;
afterEach(async () => {
  await emulator?.runtime.stop();
  emulator = undefined;
});

const start = async (...args: Parameters<typeof startEmulator>) => (emulator = await startEmulator(...args));
const url = (runtime: Emulator['runtime'], query = 'token=t0k3n') => `${runtime.wsUrl}/?${query}`;

async function connectedId(client: EmulatorClient, recorder: Emulator['recorder']): Promise<string> {
  // The recorder saw $connect before the handshake completed; the newest one is this client's.
  expect(client.socket.readyState).toBe(client.socket.OPEN);
  const connects = recorder.of('Connect');
  return connects[connects.length - 1].requestContext.connectionId as string;
}

describe('local runtime: WebSocket endpoint', () => {
  describe('handshake', () => {
    it('answers 401 without calling the authorizer when there is no token', async () => {
      const { runtime, recorder } = await start();

      const refused = await refusal(EmulatorClient.connect(url(runtime, 'other=1')));

      expect(refused.status).toBe(401);
      expect(JSON.parse(refused.body)).toEqual({ message: 'Unauthorized' });
      expect(recorder.of('Authorizer')).toHaveLength(0);
      expect(recorder.of('Connect')).toHaveLength(0);
    });

    it('answers 401 when the authorizer throws Unauthorized', async () => {
      const { runtime, recorder } = await start({
        Authorizer: async () => {
          throw new Error('Unauthorized');
        },
      });

      const refused = await refusal(EmulatorClient.connect(url(runtime)));

      expect(refused.status).toBe(401);
      expect(recorder.of('Connect')).toHaveLength(0);
    });

    it('answers 403 when the policy denies $connect', async () => {
      const { runtime, recorder } = await start({
        Authorizer: async (event) => ({
          principalId: 'mallory',
          policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: event.methodArn }] },
        }),
      });

      const refused = await refusal(EmulatorClient.connect(url(runtime)));

      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body)).toEqual({ message: 'Forbidden' });
      expect(recorder.of('Connect')).toHaveLength(0);
    });

    it('answers 500 when the authorizer context holds a value API Gateway cannot pass on', async () => {
      const { runtime, notices } = await start({
        Authorizer: async (event) => ({
          principalId: 'alice',
          policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }] },
          context: { roles: ['admin'] },
        }),
      });

      const refused = await refusal(EmulatorClient.connect(url(runtime)));

      expect(refused.status).toBe(500);
      expect(notices.map((notice) => notice.fields?.reason)).toContain('the authorizer context value roles is not a string, number or boolean');
    });

    it('refuses the upgrade with the status and body $connect returns', async () => {
      const { runtime, recorder } = await start({
        Connect: async () => ({ statusCode: 429, body: JSON.stringify({ code: 'TOO_MANY_CONNECTIONS' }) }),
      });

      const refused = await refusal(EmulatorClient.connect(url(runtime)));

      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body)).toEqual({ code: 'TOO_MANY_CONNECTIONS' });
      // No socket existed, so there is nothing to disconnect.
      await runtime.stop();
      expect(recorder.of('Disconnect')).toHaveLength(0);
    });

    it('answers 500 when $connect throws', async () => {
      const { runtime } = await start({
        Connect: async () => {
          throw new Error('store down');
        },
      });

      const refused = await refusal(EmulatorClient.connect(url(runtime)));

      expect(refused.status).toBe(500);
    });

    it('echoes the subprotocol $connect chose', async () => {
      const { runtime, recorder } = await start({
        Connect: async (event) => {
          const offered = String(event.headers['Sec-WebSocket-Protocol'] ?? '')
            .split(',')
            .map((value) => value.trim());
          return { statusCode: 200, headers: { 'Sec-WebSocket-Protocol': offered.includes('notifications') ? 'notifications' : offered[0] } };
        },
      });

      const client = await EmulatorClient.connect(url(runtime), ['x-unknown', 'notifications']);

      expect(client.socket.protocol).toBe('notifications');
      expect(recorder.of('Connect')[0].headers['Sec-WebSocket-Protocol']).toBe('x-unknown,notifications');
      client.socket.close();
    });

    it('passes the authorizer context, plus principalId, to every later event of the connection', async () => {
      const { runtime, recorder } = await start();
      const client = await EmulatorClient.connect(url(runtime));
      const connectionId = await connectedId(client, recorder);

      client.socket.send(JSON.stringify({ type: 'heartbeat', payload: {} }));
      await client.nextFrame();
      client.socket.close(1000, 'bye');
      const disconnect = await recorder.disconnectOf(connectionId);

      const expected = expect.objectContaining({ ...ALLOW_CONTEXT, principalId: 'alice' });
      expect(recorder.of('Connect')[0].requestContext.authorizer).toEqual(expected);
      expect(recorder.of('Heartbeat')[0].requestContext.authorizer).toEqual(expected);
      expect(disconnect.requestContext.authorizer).toEqual(expected);
      expect(recorder.of('Authorizer')[0].requestContext.authorizer).toBeUndefined();
    });
  });

  describe('event shapes', () => {
    it("builds events that Powertools parser's WebSocket schema accepts, shaped as API Gateway sends them", async () => {
      const { runtime, recorder } = await start();
      const client = await EmulatorClient.connect(url(runtime, 'token=abc&tag=1&tag=2'));
      const connectionId = await connectedId(client, recorder);
      client.socket.send(JSON.stringify({ type: 'subscribe', payload: { channels: ['a'] } }));
      await client.nextFrame();
      client.socket.close(4000, 'done');
      const disconnect = await recorder.disconnectOf(connectionId);
      const [authorizer] = recorder.of('Authorizer');
      const [connect] = recorder.of('Connect');
      const [message] = recorder.of('Subscribe');

      // The schema models the REQUEST authorizer event as a whole ...
      const parsedAuthorizer = APIGatewayProxyWebsocketEventSchema.parse(authorizer);
      expect(parsedAuthorizer.type).toBe('REQUEST');
      expect(authorizer.methodArn).toMatch(/^arn:aws:execute-api:us-east-1:000000000000:[a-z0-9]{10}\/local\/\$connect$/);
      expect(authorizer.queryStringParameters).toEqual({ token: 'abc', tag: '2' });
      expect(authorizer.multiValueQueryStringParameters).toEqual({ token: ['abc'], tag: ['1', '2'] });
      // ... while $connect, message and $disconnect events carry no type or methodArn in AWS.
      APIGatewayProxyWebsocketEventSchema.omit({ type: true, methodArn: true }).parse(connect);
      APIGatewayProxyWebsocketEventSchema.pick({ requestContext: true, body: true, isBase64Encoded: true }).parse(message);
      APIGatewayProxyWebsocketEventSchema.pick({ headers: true, multiValueHeaders: true, requestContext: true, isBase64Encoded: true }).parse(disconnect);

      expect(connect).not.toHaveProperty('type');
      expect(connect.requestContext).toMatchObject({ routeKey: '$connect', eventType: 'CONNECT', messageDirection: 'IN', stage: 'local', connectionId });
      expect(connect.headers).toMatchObject({ 'Sec-WebSocket-Version': '13', 'X-Forwarded-For': '127.0.0.1' });
      expect(message).toEqual({
        requestContext: expect.objectContaining({ routeKey: 'subscribe', eventType: 'MESSAGE', connectionId, messageId: expect.any(String) }),
        body: JSON.stringify({ type: 'subscribe', payload: { channels: ['a'] } }),
        isBase64Encoded: false,
      });
      expect(message.requestContext.requestTime).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
      expect(disconnect.requestContext).toMatchObject({ eventType: 'DISCONNECT', disconnectStatusCode: 4000, disconnectReason: 'done' });
      // Every event of the connection names the same connection and its opening time.
      const connectedAt = connect.requestContext.connectedAt;
      for (const event of [authorizer, message, disconnect]) expect(event.requestContext.connectedAt).toBe(connectedAt);
      expect(connectionId).toMatch(/^[A-Za-z0-9+/]{15}=$/);
    });

    it('hands every invocation a Lambda context', async () => {
      const { runtime, recorder } = await start();
      const client = await EmulatorClient.connect(url(runtime));

      client.socket.close();
      await client.closed;
      const [context] = recorder.contexts.get('Connect')!;

      expect(context).toMatchObject({
        functionName: 'Connect',
        functionVersion: '$LATEST',
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:Connect',
        memoryLimitInMB: '256',
        logGroupName: '/aws/lambda/Connect',
        callbackWaitsForEmptyEventLoop: true,
      });
      expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
      expect(context.getRemainingTimeInMillis()).toBeLessThanOrEqual(30_000);
    });
  });

  describe('routing', () => {
    it('routes on $request.body.type and falls back to $default', async () => {
      const { runtime, recorder } = await start();
      const client = await EmulatorClient.connect(url(runtime));

      const sent = [
        JSON.stringify({ type: 'presence', payload: {} }),
        JSON.stringify({ type: 'no-such-route' }),
        JSON.stringify({ type: '$disconnect' }),
        JSON.stringify({ type: 7 }),
        'not json at all',
        '[1,2]',
      ];
      const replies: RecordedEvent[] = [];
      // One at a time: API Gateway does not order concurrent invocations.
      for (const frame of sent) {
        client.socket.send(frame);
        replies.push(await client.nextJson());
      }

      expect(replies.map((reply) => reply.route)).toEqual(['presence', '$default', '$default', '$default', '$default', '$default']);
      expect(replies.map((reply) => reply.body)).toEqual(sent);
      expect(recorder.of('Default').map((event) => event.requestContext.routeKey)).toEqual(Array(5).fill('$default'));
      client.socket.close();
    });

    it('sends no route response for a route that does not return one', async () => {
      const { runtime, recorder } = await start({
        Presence: async () => ({ statusCode: 200 }),
      });
      const client = await EmulatorClient.connect(url(runtime));

      client.socket.send(JSON.stringify({ type: 'presence' }));
      await recorder.next('Presence');
      client.socket.send(JSON.stringify({ type: 'heartbeat' }));

      expect(JSON.parse(await client.nextFrame()).route).toBe('heartbeat');
      client.socket.close();
    });

    it("answers a failing integration with API Gateway's internal error frame", async () => {
      const { runtime, recorder } = await start({
        Stats: async () => {
          throw new Error('boom');
        },
      });
      const client = await EmulatorClient.connect(url(runtime));
      const connectionId = await connectedId(client, recorder);

      client.socket.send(JSON.stringify({ type: 'stats' }));
      const frame = await client.nextJson();

      expect(frame).toEqual({ message: 'Internal server error', connectionId, requestId: recorder.of('Stats')[0].requestContext.requestId });
      expect(client.socket.readyState).toBe(client.socket.OPEN);
      expect(recorder.invocations.find((entry) => entry.function === 'Stats')).toMatchObject({ route: 'stats', connectionId, status: 'error' });
      client.socket.close();
    });
  });

  describe("API Gateway's limits", () => {
    it('closes with 1009 on a message over the size limit', async () => {
      const { runtime, recorder } = await start({}, { limits: { messageBytes: 1024 } });
      const client = await EmulatorClient.connect(url(runtime));
      const connectionId = await connectedId(client, recorder);

      client.socket.send(JSON.stringify({ type: 'heartbeat', pad: 'x'.repeat(900) }));
      await client.nextFrame();
      client.socket.send('x'.repeat(1025));

      expect((await client.closed).code).toBe(1009);
      expect((await recorder.disconnectOf(connectionId)).requestContext).toMatchObject({ disconnectStatusCode: 1009, disconnectReason: 'Message too big' });
    });

    it('closes with 1003 on a binary frame', async () => {
      const { runtime, recorder } = await start();
      const client = await EmulatorClient.connect(url(runtime));
      const connectionId = await connectedId(client, recorder);

      client.socket.send(Buffer.from([1, 2, 3]), { binary: true });

      expect((await client.closed).code).toBe(1003);
      expect((await recorder.disconnectOf(connectionId)).requestContext.disconnectStatusCode).toBe(1003);
      expect(recorder.of('Default')).toHaveLength(0);
    });

    it('closes an idle connection with 1001 Going away', async () => {
      const { runtime, recorder } = await start({}, { limits: { idleTimeoutMs: 150 } });
      const client = await EmulatorClient.connect(url(runtime));
      const connectionId = await connectedId(client, recorder);

      expect(await client.closed).toEqual({ code: 1001, reason: 'Going away' });
      expect((await recorder.disconnectOf(connectionId)).requestContext).toMatchObject({ disconnectStatusCode: 1001, disconnectReason: 'Going away' });
    });

    it('closes a connection with 1001 at its maximum duration, however active', async () => {
      const { runtime, recorder } = await start({}, { limits: { maxConnectionMs: 300, idleTimeoutMs: 60_000 } });
      const client = await EmulatorClient.connect(url(runtime));
      const connectionId = await connectedId(client, recorder);
      let closed = false;
      void client.closed.then(() => (closed = true));

      // Busy until cut: each reply proves the connection was still open and active.
      for (let round = 0; round < 1000 && !closed; round += 1) {
        client.socket.send(JSON.stringify({ type: 'heartbeat' }));
        await Promise.race([client.nextFrame(), client.closed]);
      }

      expect((await client.closed).code).toBe(1001);
      expect((await recorder.disconnectOf(connectionId)).requestContext.disconnectStatusCode).toBe(1001);
    });
  });

  describe('$disconnect', () => {
    it('runs exactly once for every kind of close', async () => {
      const { runtime, recorder } = await start({}, { limits: { messageBytes: 2048 } });
      const open = async () => {
        const client = await EmulatorClient.connect(url(runtime));
        return { client, connectionId: await connectedId(client, recorder) };
      };
      const byClient = await open();
      const byTerminate = await open();
      const byTooBig = await open();
      const byBinary = await open();
      const byStop = await open();

      byClient.client.socket.close(1000, 'bye');
      byTerminate.client.socket.terminate();
      byTooBig.client.socket.send('y'.repeat(4096));
      byBinary.client.socket.send(Buffer.from('bin'));
      await Promise.all([byClient, byTerminate, byTooBig, byBinary].map(({ connectionId }) => recorder.disconnectOf(connectionId)));
      await runtime.stop();

      const codes = new Map<string, number[]>();
      for (const event of recorder.of('Disconnect')) {
        const { connectionId, disconnectStatusCode } = event.requestContext;
        codes.set(connectionId, [...(codes.get(connectionId) ?? []), disconnectStatusCode]);
      }
      expect(codes).toEqual(
        new Map([
          [byClient.connectionId, [1000]],
          [byTerminate.connectionId, [1006]],
          [byTooBig.connectionId, [1009]],
          [byBinary.connectionId, [1003]],
          [byStop.connectionId, [1001]],
        ]),
      );
      expect((await byStop.client.closed).code).toBe(1001);
    });
  });

  it('logs one line per invocation', async () => {
    const { runtime, recorder } = await start();
    const client = await EmulatorClient.connect(url(runtime));
    const connectionId = await connectedId(client, recorder);

    client.socket.send(JSON.stringify({ type: 'heartbeat' }));
    await client.nextFrame();
    client.socket.close();
    await recorder.disconnectOf(connectionId);
    await runtime.stop();

    expect(recorder.invocations.map(({ function: name, route, status }) => ({ name, route, status }))).toEqual([
      { name: 'Authorizer', route: '$connect', status: 'Allow' },
      { name: 'Connect', route: '$connect', status: 200 },
      { name: 'Heartbeat', route: 'heartbeat', status: 200 },
      { name: 'Disconnect', route: '$disconnect', status: 200 },
    ]);
    for (const entry of recorder.invocations) {
      expect(entry.connectionId).toBe(connectionId);
      expect(entry.durationMs).toBeGreaterThanOrEqual(0);
    }
  });
});
