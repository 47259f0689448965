import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from './emulator-harness.js';

let emulator: Emulator | undefined;
afterEach(async () => {
  await emulator?.runtime.stop();
  emulator = undefined;
});

const lambdaClient = (httpUrl: string) =>
  new LambdaClient({ endpoint: httpUrl, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
const payload = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const decode = (bytes: Uint8Array | undefined) => JSON.parse(new TextDecoder().decode(bytes));

describe('local runtime: Lambda Invoke API, through the unchanged SDK client', () => {
  it('runs a RequestResponse invocation and answers with its result', async () => {
    emulator = await startEmulator({ Cleanup: async (event) => ({ echoed: event }) });
    const lambda = lambdaClient(emulator.runtime.httpUrl);

    const answer = await lambda.send(new InvokeCommand({ FunctionName: 'Cleanup', Payload: payload({ minutes: 5 }) }));

    expect(answer.StatusCode).toBe(200);
    expect(answer.FunctionError).toBeUndefined();
    expect(answer.ExecutedVersion).toBe('$LATEST');
    expect(decode(answer.Payload)).toEqual({ echoed: { minutes: 5 } });
    expect(emulator.recorder.contexts.get('Cleanup')![0].functionName).toBe('Cleanup');
  });

  it('reports a thrown error as an Unhandled function error', async () => {
    emulator = await startEmulator({
      Cleanup: async () => {
        throw new TypeError('no such table');
      },
    });
    const lambda = lambdaClient(emulator.runtime.httpUrl);

    const answer = await lambda.send(new InvokeCommand({ FunctionName: 'Cleanup', Payload: payload({}) }));

    expect(answer.StatusCode).toBe(200);
    expect(answer.FunctionError).toBe('Unhandled');
    expect(decode(answer.Payload)).toMatchObject({ errorType: 'TypeError', errorMessage: 'no such table' });
  });

  it('answers an Event invocation with 202 before the function has finished, and runs it', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    emulator = await startEmulator({
      Welcome: async (event) => {
        await released;
        return event;
      },
    });
    const lambda = lambdaClient(emulator.runtime.httpUrl);

    const answer = await lambda.send(new InvokeCommand({ FunctionName: 'Welcome', InvocationType: 'Event', Payload: payload({ connectionId: 'abc' }) }));

    expect(answer.StatusCode).toBe(202);
    // The function is still waiting for release: the 202 did not wait for it.
    expect(await emulator.recorder.next('Welcome')).toEqual({ connectionId: 'abc' });
    release();
  });

  it('swallows an Event invocation error after logging it, keeping it as a dead letter', async () => {
    emulator = await startEmulator({
      Welcome: async () => {
        throw new Error('connection never opened');
      },
    });
    const lambda = lambdaClient(emulator.runtime.httpUrl);

    const answer = await lambda.send(new InvokeCommand({ FunctionName: 'Welcome', InvocationType: 'Event', Payload: payload({ connectionId: 'abc' }) }));
    await emulator.runtime.stop();

    expect(answer.StatusCode).toBe(202);
    expect(emulator.runtime.deadLetters).toEqual([
      expect.objectContaining({
        functionName: 'Welcome',
        payload: { connectionId: 'abc' },
        error: expect.objectContaining({ errorMessage: 'connection never opened' }),
      }),
    ]);
    expect(emulator.notices.map((notice) => notice.message)).toContain('asynchronous invocation failed');
  });

  it('accepts a function ARN as the name', async () => {
    emulator = await startEmulator({ Cleanup: async () => 'by arn' });
    const lambda = lambdaClient(emulator.runtime.httpUrl);

    const answer = await lambda.send(new InvokeCommand({ FunctionName: 'arn:aws:lambda:us-east-1:000000000000:function:Cleanup', Payload: payload({}) }));

    expect(decode(answer.Payload)).toBe('by arn');
  });

  it('answers ResourceNotFoundException for a function not in the route table', async () => {
    emulator = await startEmulator();
    const lambda = lambdaClient(emulator.runtime.httpUrl);

    const failure = await lambda.send(new InvokeCommand({ FunctionName: 'Nope', Payload: payload({}) })).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ResourceNotFoundException);
  });
});
