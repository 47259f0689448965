import { parseArgs } from 'node:util';

// Before any handler module loads: the one line on stdout must stay the only one.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '5000' },
    records: { type: 'string', default: '2' },
    'shard-size': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    verbose: { type: 'boolean', default: false },
  },
});

/**
 * `npm run faults`: the fan-out over (by default) 10,000 targets under injected faults;
 * prints one line and exits 1 when anything was lost, duplicated or out of order.
 */
async function main(): Promise<number> {
  const { startDynamoDbLocal } = await import('../../local/dynamodb-local.js');
  const { reconciles, reconciliationLine, runFaultScenario } = await import('./fault-scenario.js');
  const external = process.env.DYNAMODB_ENDPOINT;
  const dynamoDb = external ? undefined : await startDynamoDbLocal({ onLog: () => {} });
  try {
    const result = await runFaultScenario({
      dynamodbEndpoint: external ?? dynamoDb!.endpoint,
      connections: Number(values.connections),
      records: Number(values.records),
      shardSize: Number(values['shard-size']),
      seed: Number(values.seed),
    });
    process.stdout.write(`${reconciliationLine(result)}\n`);
    const ok = reconciles(result);
    if (!ok || values.verbose) process.stderr.write(`${JSON.stringify({ outOfOrder: result.outOfOrder, ...result.details })}\n`);
    return ok ? 0 : 1;
  } finally {
    await dynamoDb?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`faults: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
