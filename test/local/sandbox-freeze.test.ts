import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiGatewayMessageSender } from '../../lambdas/adapters/apigateway/message-sender.js';
import { LocalFunctions, type InvocationOutcome } from '../../local/lambda/functions.js';
import { SandboxFrozenError } from '../../local/lambda/sandbox.js';
import { EmulatorClient, startEmulator, type Emulator } from './emulator-harness.js';

/**
 * Lambda stops a handler at its timeout with its sandbox; the local runtime cannot stop a
 * promise, so it cuts the invocation's network instead. What these prove: a timed-out
 * handler's later posts never reach the (local) Management API, its requests in flight
 * fail at the timeout, and other invocations and the rest of the process are untouched.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const credentials = async () => ({ accessKeyId: 'local', secretAccessKey: 'local' });

/** A dependency that reads requests and never answers; records when each request's socket closed. */
class SilentServer {
  received = 0;
  socketsClosedAt: number[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #server: Server = createServer(() => {
    this.received += 1;
  });

  async start(): Promise<number> {
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => {
        this.socketsClosedAt.push(performance.now());
        this.#sockets.delete(socket);
      });
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A GET that settles with the error it failed with, or 'answered'. */
function get(port: number): Promise<unknown> {
  return new Promise((resolve) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port, path: '/', agent: false });
    outgoing.on('error', resolve);
    outgoing.on('response', (response) => {
      response.resume();
      resolve('answered');
    });
    outgoing.end();
  });
}

let emulator: Emulator | undefined;
let silent: SilentServer | undefined;
let sender: ApiGatewayMessageSender | undefined;
afterEach(async () => {
  sender?.destroy();
  await emulator?.runtime.stop();
  await silent?.stop();
  emulator = undefined;
  silent = undefined;
  sender = undefined;
});

describe('local runtime: a timed-out invocation is frozen, as Lambda freezes its sandbox', () => {
  it('never lets a post made after the timeout reach the Management API', async () => {
    // Prepare: a heartbeat handler that outlives its 100 ms timeout, then posts to its
    // own connection through the production sender.
    let latePost: unknown = 'not attempted';
    emulator = await startEmulator(
      {
        Heartbeat: async (event: { requestContext: { connectionId: string } }) => {
          await sleep(250);
          try {
            await sender!.post(event.requestContext.connectionId, 'late');
            latePost = 'delivered';
          } catch (error) {
            latePost = error;
          }
          return { statusCode: 200 };
        },
      },
      { functionTimeoutsMs: { Heartbeat: 100 } },
    );
    sender = new ApiGatewayMessageSender({ endpoint: emulator.runtime.httpUrl, maxSockets: 2, requestTimeoutMs: 2_000, credentials });
    const client = await EmulatorClient.connect(`${emulator.runtime.wsUrl}/?token=t`);
    const connectionId = emulator.recorder.of('Connect')[0].requestContext.connectionId as string;

    // Act
    client.socket.send(JSON.stringify({ type: 'heartbeat', payload: {} }));
    for (let waited = 0; latePost === 'not attempted' && waited < 3_000; waited += 20) await sleep(20);
    // The same post from outside the invocation: the Management API itself still works.
    await sender.post(connectionId, 'from outside');
    await sleep(100);

    // Assess
    expect(client.frames).not.toContain('late');
    expect(client.frames).toContain('from outside');
    expect((latePost as Error).cause).toBeInstanceOf(SandboxFrozenError);
    expect(emulator.recorder.invocations.find((entry) => entry.function === 'Heartbeat')?.error).toMatch(/Task timed out after 0.10 seconds/);
    client.socket.close();
  });

  it('destroys a request in flight at the timeout, and leaves other invocations alone', async () => {
    // Prepare: a dependency that never answers, and a handler of 100 ms that waits on it.
    silent = new SilentServer();
    const port = await silent.start();
    let inFlight: unknown;
    let frozenAt = 0;
    const functions = new LocalFunctions({
      projectRoot: process.cwd(),
      handlers: {
        Heartbeat: async () => {
          inFlight = await get(port);
          return { statusCode: 200 };
        },
        Stats: async () => {
          await sleep(200);
          return get(port).then(() => ({ statusCode: 200 }));
        },
      },
      timeoutsMs: { Heartbeat: 100, Stats: 1_000 },
      log: () => {},
    });

    // Act: Stats runs beside it and makes its own request after Heartbeat's freeze.
    const stats = functions.invoke('Stats', {});
    const outcome: InvocationOutcome = await functions.invoke('Heartbeat', {});
    frozenAt = performance.now();
    for (let waited = 0; inFlight === undefined && waited < 1_000; waited += 10) await sleep(10);
    await sleep(350);

    // Assess: the frozen request failed at the timeout and its socket closed; Stats' request
    // went out (it hangs on the silent server until Stats' own timeout).
    expect(outcome).toMatchObject({ ok: false, error: { errorType: 'Sandbox.Timedout' } });
    expect(inFlight).toBeInstanceOf(SandboxFrozenError);
    expect((inFlight as Error).message).toMatch(/Heartbeat invocation .* timed out after 0.10 seconds and Lambda froze its sandbox/);
    // Left open, it would have stayed so until the test's end.
    expect(silent.socketsClosedAt[0]! - frozenAt).toBeLessThan(500);
    expect(silent.received).toBe(2);
    expect(await stats).toMatchObject({ ok: false, error: { errorType: 'Sandbox.Timedout' } });
  });

  it('refuses every later request of a frozen invocation, also one it makes after catching the first', async () => {
    silent = new SilentServer();
    const port = await silent.start();
    const errors: unknown[] = [];
    const functions = new LocalFunctions({
      projectRoot: process.cwd(),
      handlers: {
        Heartbeat: async (_event: unknown, context: Context) => {
          await sleep(context.getRemainingTimeInMillis() + 50);
          errors.push(await get(port));
          errors.push(await get(port));
        },
      },
      timeoutsMs: { Heartbeat: 50 },
      log: () => {},
    });

    await functions.invoke('Heartbeat', {});
    for (let waited = 0; errors.length < 2 && waited < 1_000; waited += 10) await sleep(10);
    await sleep(50);

    expect(errors).toEqual([expect.any(SandboxFrozenError), expect.any(SandboxFrozenError)]);
    expect(silent.received).toBe(0);
  });
});
