import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { EmulatorClient, startEmulator, type Emulator } from './emulator-harness.js';

let emulator: Emulator | undefined;
afterEach(async () => {
  await emulator?.runtime.stop();
  emulator = undefined;
});

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const managementClient = (httpUrl: string) => new ApiGatewayManagementApiClient({ endpoint: httpUrl, region: 'us-east-1', credentials });
const post = (client: ApiGatewayManagementApiClient, connectionId: string, data: string) =>
  client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: new TextEncoder().encode(data) }));

async function open(emulator: Emulator): Promise<{ client: EmulatorClient; connectionId: string }> {
  const client = await EmulatorClient.connect(`${emulator.runtime.wsUrl}/?token=t`);
  const connects = emulator.recorder.of('Connect');
  return { client, connectionId: connects[connects.length - 1].requestContext.connectionId };
}

async function goneError(sending: Promise<unknown>): Promise<unknown> {
  try {
    await sending;
  } catch (error) {
    return error;
  }
  throw new Error('the call succeeded');
}

describe('local runtime: Management API, through the unchanged SDK client', () => {
  it('posts the raw body as one text frame', async () => {
    emulator = await startEmulator();
    const { client, connectionId } = await open(emulator);
    const management = managementClient(emulator.runtime.httpUrl);

    await post(management, connectionId, '{"type":"notification","payload":{"title":"é ✓"}}');

    expect(await client.nextFrame()).toBe('{"type":"notification","payload":{"title":"é ✓"}}');
    client.socket.close();
  });

  it('describes a connection', async () => {
    emulator = await startEmulator();
    const { client, connectionId } = await open(emulator);
    const management = managementClient(emulator.runtime.httpUrl);

    const described = await management.send(new GetConnectionCommand({ ConnectionId: connectionId }));

    expect(described.ConnectedAt).toBeInstanceOf(Date);
    expect(described.ConnectedAt!.getTime()).toBe(emulator.recorder.of('Connect')[0].requestContext.connectedAt);
    expect(described.Identity?.SourceIp).toBe('127.0.0.1');
    expect(described.LastActiveAt!.getTime()).toBeGreaterThanOrEqual(described.ConnectedAt!.getTime());
    client.socket.close();
  });

  it('deletes a connection: the socket closes, $disconnect runs once, and later posts are Gone', async () => {
    emulator = await startEmulator();
    const { client, connectionId } = await open(emulator);
    const management = managementClient(emulator.runtime.httpUrl);

    await management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));

    expect((await client.closed).code).toBe(1000);
    await emulator.recorder.disconnectOf(connectionId);
    const afterClose = await goneError(post(management, connectionId, 'late'));
    expect(afterClose).toBeInstanceOf(GoneException);
    expect(await goneError(management.send(new GetConnectionCommand({ ConnectionId: connectionId })))).toBeInstanceOf(GoneException);
    expect(await goneError(management.send(new DeleteConnectionCommand({ ConnectionId: connectionId })))).toBeInstanceOf(GoneException);
    await emulator.runtime.stop();
    expect(emulator.recorder.of('Disconnect')).toHaveLength(1);
  });

  it('answers Gone for an unknown connection id, decoding the URL-encoded id', async () => {
    emulator = await startEmulator();
    const management = managementClient(emulator.runtime.httpUrl);

    const error = (await goneError(post(management, 'AB+c/d9xyzQRST=', 'x'))) as GoneException;

    expect(error).toBeInstanceOf(GoneException);
    expect(error.$metadata.httpStatusCode).toBe(410);
  });

  it('answers Gone while $connect runs: the connection is postable only once the handshake completes', async () => {
    const during: { post?: unknown; get?: unknown } = {};
    emulator = await startEmulator({
      Connect: async (event) => {
        const management = managementClient(process.env.MANAGEMENT_ENDPOINT!);
        const connectionId = event.requestContext.connectionId as string;
        during.post = await goneError(post(management, connectionId, 'too early'));
        during.get = await goneError(management.send(new GetConnectionCommand({ ConnectionId: connectionId })));
        return { statusCode: 200 };
      },
    });

    const { client, connectionId } = await open(emulator);
    await post(managementClient(emulator.runtime.httpUrl), connectionId, 'in time');

    expect(during.post).toBeInstanceOf(GoneException);
    expect(during.get).toBeInstanceOf(GoneException);
    expect(await client.nextFrame()).toBe('in time');
    client.socket.close();
  });

  it('lets a welcome scheduled from $connect through the Lambda API retry until the socket is open', async () => {
    const attempts: string[] = [];
    emulator = await startEmulator({
      Connect: async (event) => {
        // What the real $connect does: queue the welcome and return at once.
        const lambda = new LambdaClient({ endpoint: process.env.LAMBDA_ENDPOINT!, region: 'us-east-1', credentials });
        await lambda.send(
          new InvokeCommand({
            FunctionName: process.env.WELCOME_FUNCTION_NAME!,
            InvocationType: 'Event',
            Payload: new TextEncoder().encode(JSON.stringify({ connectionId: event.requestContext.connectionId })),
          }),
        );
        return { statusCode: 200 };
      },
      Welcome: async (event: { connectionId: string }) => {
        const management = managementClient(process.env.MANAGEMENT_ENDPOINT!);
        for (let attempt = 0; attempt < 200; attempt += 1) {
          try {
            await post(management, event.connectionId, JSON.stringify({ type: 'welcome' }));
            attempts.push('sent');
            return { delivered: true };
          } catch (error) {
            if (!(error instanceof GoneException)) throw error;
            attempts.push('gone');
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }
        return { delivered: false };
      },
    });

    const { client } = await open(emulator);

    expect(JSON.parse(await client.nextFrame())).toEqual({ type: 'welcome' });
    // stop() waits for background invocations, so the welcome has returned by then.
    await emulator.runtime.stop();
    expect(attempts.at(-1)).toBe('sent');
    expect(emulator.runtime.deadLetters).toEqual([]);
  });
});
