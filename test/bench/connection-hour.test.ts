import { describe, expect, it } from 'vitest';
import { measureConnectionHour } from '../../bench/connection-hour.js';
import { createTestTables } from '../support/dynamodb.js';

/**
 * Issue 10, part 6: an idle connected client, heartbeating at the shipped interval
 * (Config.toml: 300 s, so 12 beats in the hour), costs at most 24 DynamoDB write units
 * per hour, counted by DynamoDB Local's ConsumedCapacity (index writes included) plus one
 * unit for every write that failed its condition.
 */
describe('write units per connection-hour', () => {
  it.each(['fresh', 'one'] as const)('stays within 24 WCU with the shipped configuration (containers: %s)', async (containers) => {
    // Prepare
    const { endpoint, tables } = await createTestTables();

    // Act
    const cost = await measureConnectionHour({ endpoint, tables, containers });

    // Assess
    expect(cost.heartbeats).toBe(12);
    expect(cost.writeUnits).toBeLessThanOrEqual(24);
    expect(cost.failedConditions).toBe(0);
  });
});
