import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.js';
import { serviceConfigFromJson } from '../../lambdas/config/load.js';
import { tableNamesFromEnvironment } from '../../protocol/tables.js';
import { EmulatorClient, UNUSED_TABLES, startEmulator, type Emulator } from './emulator-harness.js';

let emulator: Emulator | undefined;
afterEach(async () => {
  await emulator?.runtime.stop();
  emulator = undefined;
});

describe('local runtime', () => {
  it('sets the Lambda environment as the stack will', async () => {
    const config = parseConfig({ notification_service: { websocket: { heartbeat_interval: 30 } } });
    emulator = await startEmulator({}, { config, dynamodbEndpoint: 'http://127.0.0.1:8000', jwtSecret: 'a-secret-for-tests' });
    const { httpUrl } = emulator.runtime;

    expect(serviceConfigFromJson(process.env.SERVICE_CONFIG).websocket.heartbeat_interval).toBe(30);
    expect(tableNamesFromEnvironment(process.env)).toEqual(UNUSED_TABLES);
    expect(process.env).toMatchObject({
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      MANAGEMENT_ENDPOINT: httpUrl,
      LAMBDA_ENDPOINT: httpUrl,
      WELCOME_FUNCTION_NAME: 'Welcome',
      JWT_SECRET: 'a-secret-for-tests',
      AWS_REGION: 'us-east-1',
    });
    expect(process.env.AWS_ACCESS_KEY_ID).toBeTruthy();
    expect(httpUrl).toBe(`http://127.0.0.1:${emulator.runtime.port}`);
    expect(emulator.runtime.wsUrl).toBe(`ws://127.0.0.1:${emulator.runtime.port}`);
  });

  it('runs cleanup on its timer with a Scheduled Event', async () => {
    emulator = await startEmulator({}, { cleanupIntervalMs: 20 });

    const event = await emulator.recorder.next('Cleanup');

    const parsed = EventBridgeSchema.parse(event);
    expect(parsed['detail-type']).toBe('Scheduled Event');
    expect(parsed.source).toBe('aws.events');
    expect(event.resources[0]).toMatch(/^arn:aws:events:us-east-1:000000000000:rule\//);
  });

  it('keeps a failed scheduled cleanup as a dead letter', async () => {
    emulator = await startEmulator({
      Cleanup: async () => {
        throw new Error('scan refused');
      },
    });

    await emulator.runtime.runCleanup();

    expect(emulator.runtime.deadLetters.map((letter) => letter.error.errorMessage)).toEqual(['scan refused']);
  });

  it('stops: closes every socket with $disconnect, stops the timer, frees the port', async () => {
    emulator = await startEmulator({}, { cleanupIntervalMs: 10 });
    const { runtime, recorder } = emulator;
    const clients = await Promise.all([1, 2, 3].map(() => EmulatorClient.connect(`${runtime.wsUrl}/?token=t`)));
    await recorder.next('Cleanup');
    expect(runtime.connectionIds()).toHaveLength(3);

    await runtime.stop();
    const cleanupsAtStop = recorder.of('Cleanup').length;
    // One more invocation round trip proves no timer fired after stop: a new runtime
    // listens and answers, while the stopped one's count is unchanged.
    const after = await startEmulator();
    await fetch(`${after.runtime.httpUrl}/_local/topics/booking-updates`, { method: 'POST', body: '{}' });
    await after.runtime.stop();

    expect((await Promise.all(clients.map((client) => client.closed))).map((closed) => closed.code)).toEqual([1001, 1001, 1001]);
    expect(recorder.of('Disconnect')).toHaveLength(3);
    expect(recorder.of('Cleanup')).toHaveLength(cleanupsAtStop);
    expect(runtime.connectionIds()).toEqual([]);
    await expect(fetch(`${runtime.httpUrl}/_local/topics/booking-updates`, { method: 'POST', body: '{}' })).rejects.toThrow();
  });

  it('answers 404 with the routes it serves for anything else', async () => {
    emulator = await startEmulator({}, { config: parseConfig({}) });

    const response = await fetch(`${emulator.runtime.httpUrl}/nowhere`);

    expect(response.status).toBe(404);
    expect(((await response.json()) as { routes: string[] }).routes).toContain('POST /_local/topics/{topic}');
  });
});
