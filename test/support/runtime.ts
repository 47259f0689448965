import { startLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../../local/runtime.js';
import { parseConfig } from '../../lambdas/config/load.js';
import { createTestTables } from './dynamodb.js';
import { TEST_JWT_SECRET } from './ws-client.js';

export interface TestRuntime extends LocalRuntime {
  readonly tables: Awaited<ReturnType<typeof createTestTables>>;
  /** Runtime notices (refused handshakes, failed async invocations), for assertions. */
  readonly notices: { message: string; fields?: Record<string, unknown> }[];
  /** POSTs record values to the producer endpoint; answers with the fan-out result. */
  publish(topic: string, records: unknown, options?: { raw?: boolean }): Promise<FanoutAnswer>;
}

export interface FanoutAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/**
 * The local runtime as `npm start` runs it, on a free port, against fresh tables in the
 * run's DynamoDB Local, with the service configuration the test asks for.
 */
export async function startTestRuntime(
  serviceConfig: Record<string, unknown> = {},
  options: Partial<Omit<LocalRuntimeOptions, 'config' | 'dynamodbEndpoint' | 'tables' | 'jwtSecret'>> = {},
): Promise<TestRuntime> {
  const tables = await createTestTables();
  const notices: TestRuntime['notices'] = [];
  const runtime = await startLocalRuntime({
    port: 0,
    config: parseConfig({ notification_service: serviceConfig }),
    dynamodbEndpoint: tables.endpoint,
    tables: tables.tables,
    jwtSecret: TEST_JWT_SECRET,
    cleanupIntervalMs: 0,
    logInvocation: () => {},
    notice: (message, fields) => notices.push({ message, fields }),
    ...options,
  });
  return Object.assign(runtime, {
    tables,
    notices,
    async publish(topic: string, records: unknown, publishOptions: { raw?: boolean } = {}): Promise<FanoutAnswer> {
      const response = await fetch(`${runtime.httpUrl}/_local/topics/${encodeURIComponent(topic)}`, {
        method: 'POST',
        headers: { 'content-type': publishOptions.raw ? 'text/plain' : 'application/json' },
        body: publishOptions.raw ? String(records) : JSON.stringify(records),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
  });
}
