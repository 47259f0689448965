import { afterEach, describe, expect, it } from 'vitest';
import { ApiGatewayMessageSender } from '../../lambdas/adapters/apigateway/message-sender.js';
import { ConnectionGoneError } from '../../lambdas/domain/errors.js';
import { EmulatorClient, startEmulator, type Emulator } from '../local/emulator-harness.js';

/**
 * The sender against the local runtime's real Management API (`@connections` over
 * http, unchanged): what the handlers do with it on a laptop, and what API Gateway's
 * answers mean to the domain.
 */

let emulator: Emulator | undefined;
let sender: ApiGatewayMessageSender | undefined;

afterEach(async () => {
  sender?.destroy();
  await emulator?.runtime.stop();
  sender = undefined;
  emulator = undefined;
});

async function start(): Promise<ApiGatewayMessageSender> {
  emulator = await startEmulator();
  sender = new ApiGatewayMessageSender({
    endpoint: emulator.runtime.httpUrl,
    maxSockets: 4,
    requestTimeoutMs: 5_000,
    credentials: async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
  });
  return sender;
}

async function open(running: Emulator): Promise<{ client: EmulatorClient; connectionId: string }> {
  const client = await EmulatorClient.connect(`${running.runtime.wsUrl}/?token=t`);
  const connects = running.recorder.of('Connect');
  return { client, connectionId: connects[connects.length - 1].requestContext.connectionId };
}

async function failure(calling: Promise<unknown>): Promise<unknown> {
  try {
    await calling;
  } catch (error) {
    return error;
  }
  throw new Error('the call succeeded');
}

describe('ApiGatewayMessageSender against the local runtime', () => {
  it('posts the frame as one text frame, UTF-8 intact', async () => {
    const posting = await start();
    const { client, connectionId } = await open(emulator!);

    await posting.post(connectionId, '{"type":"notification","payload":{"title":"é ✓"}}');

    expect(await client.nextFrame()).toBe('{"type":"notification","payload":{"title":"é ✓"}}');
    client.socket.close();
  });

  it('keeps the order of posts made one after the other', async () => {
    const posting = await start();
    const { client, connectionId } = await open(emulator!);

    for (let index = 0; index < 5; index += 1) await posting.post(connectionId, `frame ${index}`);

    const frames: string[] = [];
    for (let index = 0; index < 5; index += 1) frames.push(await client.nextFrame());
    expect(frames).toEqual(['frame 0', 'frame 1', 'frame 2', 'frame 3', 'frame 4']);
    client.socket.close();
  });

  it('reports an unknown connection as gone, its id URL-encoded and decoded intact', async () => {
    const posting = await start();

    const error = await failure(posting.post('AB+c/d9xyzQRST=', 'x'));

    expect(error).toBeInstanceOf(ConnectionGoneError);
    expect((error as ConnectionGoneError).connectionId).toBe('AB+c/d9xyzQRST=');
  });

  it('closes a connection: the socket closes with 1000, $disconnect runs, later posts are gone and a second close is not an error', async () => {
    const posting = await start();
    const { client, connectionId } = await open(emulator!);

    await posting.close(connectionId);

    expect((await client.closed).code).toBe(1000);
    await emulator!.recorder.disconnectOf(connectionId);
    expect(await failure(posting.post(connectionId, 'late'))).toBeInstanceOf(ConnectionGoneError);
    await expect(posting.close(connectionId)).resolves.toBeUndefined();
  });
});
