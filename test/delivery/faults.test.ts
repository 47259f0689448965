import { inject, describe, expect, it } from 'vitest';
import { reconciles, reconciliationLine, runFaultScenario } from '../../bench/faults/fault-scenario.js';

describe('npm run faults, quick form (DynamoDB Local, injected faults, one worker crash)', () => {
  it('accounts for every target: delivered, gone, recoverable or dead-lettered, none lost, none twice, order kept', async () => {
    // Act: 2 records x 400 subscribers, shards of 100: four workers per record, one crashes.
    const result = await runFaultScenario({
      dynamodbEndpoint: inject('dynamodbEndpoint'),
      connections: 400,
      records: 2,
      shardSize: 100,
      concurrency: 20,
      workerTimeoutMs: 4000,
      // Enough broken sockets that a small run dead-letters some.
      brokenRate: 0.01,
      seed: 7,
    });

    // Assess
    expect(reconciliationLine(result)).toMatch(/^targets=800 delivered=\d+ gone=\d+ recoverable=\d+ deadlettered=\d+ lost=0 duplicates=0$/);
    expect(reconciles(result)).toBe(true);
    expect(result.outOfOrder).toBe(0);
    expect(result.delivered + result.gone + result.recoverable + result.deadlettered).toBe(800);
    // Every fault was really met.
    expect(result.details).toMatchObject({ workerCrashed: true, recordLetters: 2 });
    const answers = result.details.answers as { gone: number; throttled: number; serverError: number };
    expect(answers.gone).toBeGreaterThan(0);
    expect(answers.throttled).toBeGreaterThan(0);
    expect(answers.serverError).toBeGreaterThan(0);
    expect(result.details.dynamoDbThrottled).toBeGreaterThan(0);
    expect(result.gone).toBeGreaterThan(0);
    expect(result.deadlettered).toBeGreaterThan(0);
    // The crash left posts in doubt: skipped, and recoverable from the channel's history.
    expect(result.recoverable).toBeGreaterThan(0);
    // The whole batch delivered once more reaches nobody.
    expect(result.details.finalRedelivery).toMatchObject({ duplicates: 2, delivered: 0, failed: 0 });
  }, 120_000);
});
