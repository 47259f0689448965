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
    concurrency: { type: 'string', default: '50' },
    'lease-seconds': { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    // The quick form `npm test` runs: 2 x 400 targets, shards of 100, more of each fault.
    quick: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});

/** A failing run lists this many problems on stderr, then counts the rest. */
const MAX_PROBLEM_LINES = 60;

/**
 * `npm run faults`: the fan-out over (by default) 10,000 targets under seeded faults
 * (docs/delivery.md section 8); prints one line and exits 1 when anything was lost,
 * duplicated or out of order, an unknown outcome was not counted in doubt, a worker
 * posted or dead-lettered past its lease, or a client, once healed, showed a notification
 * never, twice or out of order. On failure, stderr says who posted what, when.
 */
async function main(): Promise<number> {
  const { startDynamoDbLocal } = await import('../../local/dynamodb-local.js');
  const { reconciles, reconciliationLine, runFaultScenario } = await import('./fault-scenario.js');
  const { measureMachinePace } = await import('./machine-pace.js');
  const external = process.env.DYNAMODB_ENDPOINT;
  const dynamoDb = external ? undefined : await startDynamoDbLocal({ onLog: () => {} });
  try {
    const dynamodbEndpoint = external ?? dynamoDb!.endpoint;
    const seed = Number(values.seed);
    // The quick form stretches its timings by the machine's pace, as `npm test` does (machine-pace.ts).
    const pace = values.quick ? await measureMachinePace(dynamodbEndpoint) : 1;
    const result = await runFaultScenario(
      values.quick
        ? {
            dynamodbEndpoint,
            connections: 400,
            records: 2,
            shardSize: 100,
            concurrency: 20,
            workerTimeoutMs: 4000 * pace,
            brokenRate: 0.01,
            lateAnswerRate: 0.02,
            lostAnswerRate: 0.02,
            heldRate: 0.02,
            leaseSeconds: Number(values['lease-seconds']) * pace,
            writeTimeoutSeconds: pace,
            seed,
          }
        : {
            dynamodbEndpoint,
            connections: Number(values.connections),
            records: Number(values.records),
            shardSize: Number(values['shard-size']),
            concurrency: Number(values.concurrency),
            leaseSeconds: Number(values['lease-seconds']),
            seed,
          },
    );
    process.stdout.write(`${reconciliationLine(result)}\n`);
    const ok = reconciles(result);
    if (!ok || values.verbose) {
      if (values.quick) process.stderr.write(`pace=${pace}\n`);
      for (const problem of result.problems.slice(0, MAX_PROBLEM_LINES)) process.stderr.write(`${problem}\n`);
      if (result.problems.length > MAX_PROBLEM_LINES) process.stderr.write(`... and ${result.problems.length - MAX_PROBLEM_LINES} more\n`);
      process.stderr.write(`${JSON.stringify({ outOfOrder: result.outOfOrder, ...result.details })}\n`);
    }
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
