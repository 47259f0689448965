import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { PowertoolsDeduplicator } from '../../lambdas/adapters/lambda/idempotency-deduplicator.js';
import { TransientError } from '../../lambdas/domain/errors.js';
import type { Deduplicator } from '../../lambdas/domain/ports.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';
import { MemoryDeduplicator } from './fanout-memory-deduplicator.js';

let testTables: TestTables;

beforeAll(async () => {
  testTables = await createTestTables();
});

const implementations: Array<[string, () => Deduplicator]> = [
  ['MemoryDeduplicator', () => new MemoryDeduplicator()],
  [
    'PowertoolsDeduplicator (DynamoDB Local)',
    () =>
      new PowertoolsDeduplicator({
        client: new DynamoDBClient({ endpoint: testTables.endpoint, region: 'us-east-1' }),
        tableName: testTables.tables.Idempotency,
        expiresAfterSeconds: 3600,
      }),
  ],
];

let keys = 0;
const freshKey = () => `message-${process.pid}-${Date.now()}-${keys++}`;

// One contract, run against every implementation of the port.
describe.each(implementations)('Deduplicator contract: %s', (_name, create) => {
  describe('once', () => {
    it('runs the work the first time and hands back its result', async () => {
      const deduplicator = create();

      const outcome = await deduplicator.once(freshKey(), async () => ({ delivered: 3 }));

      expect(outcome).toEqual({ duplicate: false, result: { delivered: 3 } });
    });

    it('does not run the work again for a key that completed, in this or another instance', async () => {
      const key = freshKey();
      const first = create();
      await first.once(key, async () => ({ delivered: 1 }));
      let ranAgain = 0;

      const again = await first.once(key, async () => ({ delivered: ++ranAgain }));

      expect(again).toEqual({ duplicate: true });
      expect(ranAgain).toBe(0);
      if (!(first instanceof MemoryDeduplicator)) {
        // A second instance shares the table, as a second Lambda invocation would.
        await expect(create().once(key, async () => ({ delivered: ++ranAgain }))).resolves.toEqual({ duplicate: true });
        expect(ranAgain).toBe(0);
      }
    });

    it('keeps keys apart', async () => {
      const deduplicator = create();
      await deduplicator.once(freshKey(), async () => 'a');

      await expect(deduplicator.once(freshKey(), async () => 'b')).resolves.toEqual({ duplicate: false, result: 'b' });
    });

    it('passes on what the work throws and releases the key, so a retry runs it', async () => {
      const deduplicator = create();
      const key = freshKey();

      await expect(deduplicator.once(key, async () => Promise.reject(new Error('post failed')))).rejects.toThrow('post failed');

      await expect(deduplicator.once(key, async () => 'retried')).resolves.toEqual({ duplicate: false, result: 'retried' });
    });

    it('answers TransientError while another run of the key is in progress', async () => {
      const deduplicator = create();
      const key = freshKey();
      let release: () => void = () => {};
      let started: () => void = () => {};
      const hasStarted = new Promise<void>((resolve) => (started = resolve));
      const running = deduplicator.once(key, async () => {
        started();
        await new Promise<void>((resolve) => (release = resolve));
        return 'first';
      });
      await hasStarted;

      await expect(deduplicator.once(key, async () => 'second')).rejects.toBeInstanceOf(TransientError);

      release();
      await expect(running).resolves.toEqual({ duplicate: false, result: 'first' });
    });
  });
});

describe('PowertoolsDeduplicator', () => {
  it('stores keys under a fixed prefix with the expiration Powertools sets', async () => {
    const deduplicator = new PowertoolsDeduplicator({
      client: new DynamoDBClient({ endpoint: testTables.endpoint, region: 'us-east-1' }),
      tableName: testTables.tables.Idempotency,
      expiresAfterSeconds: 600,
      keyPrefix: 'prefix-test',
    });
    const before = Math.floor(Date.now() / 1000);

    await deduplicator.once(freshKey(), async () => 'done');

    const { Items = [] } = await testTables.client.send(new ScanCommand({ TableName: testTables.tables.Idempotency }));
    const item = Items.find((candidate) => String(candidate.id).startsWith('prefix-test#'));
    expect(item).toMatchObject({ status: 'COMPLETED' });
    expect(Number(item!.expiration)).toBeGreaterThanOrEqual(before + 600);
  });
});
