import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { useLocalAwsIdentity } from '../local/aws-identity.js';
import { startDynamoDbLocal, type DynamoDbLocal } from '../local/dynamodb-local.js';
import { loadProjectConfig } from '../local/jwt-secret.js';
import { PROJECT_ROOT } from '../local/project-root.js';
import type { B1Output } from './b1-fanout-efficiency.js';
import type { B2Output } from './b2-store-cost.js';
import type { B3Output } from './b3-end-to-end.js';
import type { B4Output } from './b4-cold-start.js';
import type { B5Input, B5Output } from './b5-batch-parallelism.js';
import type { B6Output } from './b6-presence-inbox-cost.js';
import { ChildTask } from './child-process.js';
import { benchPlan, POST_BURST, POST_RATE_PER_SECOND, type BenchMode } from './plan.js';
import { ProgressDisplay } from './progress-display.js';
import { assembleResults, mergeResults, type BenchResults, type Measured } from './results.js';
import { renderResults } from './results-table.js';
import type { DeliveryFigures } from './round-measurement.js';

/**
 * `npm run bench [-- --quick]`: B0 to B5 one after the other, each in its own process,
 * a progress line while they run, a table at the end, and the figures in
 * bench/results/latest.json (quick.json for --quick).
 */

const USAGE = `Usage: npm run bench [-- --quick] [--only b0,b1,b2,b3,b4,b5,b6] [--merge] [--out file.json]

  --quick  smaller audiences and fewer rounds; a minute or two (writes bench/results/quick.json)
  --only   run these benchmarks only (writes bench/results/partial.json unless --out or --merge)
  --merge  with --only: replace these benchmarks' figures and targets in the results file
           (bench/results/latest.json, or --out) and keep every other benchmark's
  --out    where to write the results JSON
  --b5-record-concurrency N
           B5's modelled figure with the fan-out taking N records of a batch at once
           (1: the check that B5 catches a serial fan-out, a ratio near the batch size)

Figures are ratios against a baseline measured in the same run on this machine; see
docs/benchmarks.md for the method and what they mean for a deployment.`;

const BENCHMARKS = ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6'] as const;
type BenchId = (typeof BENCHMARKS)[number];

const LABELS: Record<BenchId, string> = {
  b0: 'B0 raw ws broadcast',
  b1: 'B1 fan-out efficiency',
  b2: 'B2 store cost',
  b3: 'B3 end to end',
  b4: 'B4 cold start',
  b5: 'B5 batch parallelism',
  b6: 'B6 presence and inbox cost',
};

/** Beyond this the run is stopped: something hangs, and nothing may outlive the run. */
// B5 on DynamoDB Local takes seconds a batch (the emulator runs requests one at a time),
// and a serial fan-out (--b5-record-concurrency 1) several more.
const WATCHDOG_MS: Record<BenchMode, number> = { full: 15 * 60_000, quick: 5 * 60_000, tiny: 2 * 60_000 };

const RESULTS_DIR = resolve(PROJECT_ROOT, 'bench', 'results');

interface Options {
  readonly mode: BenchMode;
  readonly only: readonly BenchId[];
  readonly out: string;
  /** Merge into `out` instead of overwriting it. */
  readonly merge: boolean;
  /** B5's records in flight at once (modelled figure). @default - the fan-out's own */
  readonly b5RecordConcurrency?: number;
}

function parseOptions(argv: string[]): Options | string {
  let values: { quick?: boolean; tiny?: boolean; only?: string; out?: string; merge?: boolean; 'b5-record-concurrency'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean' },
        // The smoke test's sizes: checks the harness and the JSON's shape in seconds.
        tiny: { type: 'boolean' },
        only: { type: 'string' },
        out: { type: 'string' },
        merge: { type: 'boolean' },
        'b5-record-concurrency': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (values.help) return '';
  const mode: BenchMode = values.tiny ? 'tiny' : values.quick ? 'quick' : 'full';
  const only = values.only === undefined ? [...BENCHMARKS] : values.only.split(',').map((id) => id.trim().toLowerCase());
  const unknown = only.filter((id) => !(BENCHMARKS as readonly string[]).includes(id));
  if (unknown.length > 0) return `--only ${values.only}: unknown benchmark ${unknown.join(', ')} (allowed: ${BENCHMARKS.join(', ')})`;
  const recordConcurrency = values['b5-record-concurrency'] === undefined ? undefined : Number(values['b5-record-concurrency']);
  if (recordConcurrency !== undefined && !(Number.isInteger(recordConcurrency) && recordConcurrency >= 1)) {
    return `--b5-record-concurrency ${values['b5-record-concurrency']}: must be a positive integer`;
  }
  const partial = only.length < BENCHMARKS.length;
  const merge = values.merge === true;
  const defaultOut = partial && !merge ? 'partial.json' : { full: 'latest.json', quick: 'quick.json', tiny: 'tiny.json' }[mode];
  return {
    mode,
    only: only as BenchId[],
    out: resolve(values.out ?? resolve(RESULTS_DIR, defaultOut)),
    merge,
    ...(recordConcurrency !== undefined ? { b5RecordConcurrency: recordConcurrency } : {}),
  };
}

const fixed = (value: number, digits = 1) => value.toFixed(digits);

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (typeof options === 'string') {
    process.stderr.write(options === '' ? `${USAGE}\n` : `${options}\n\n${USAGE}\n`);
    return options === '' ? 0 : 2;
  }
  useLocalAwsIdentity();
  const config = loadProjectConfig(PROJECT_ROOT);
  const configuredConcurrency = config.notification_service.kafka.fanout_concurrency;
  const plan = benchPlan(options.mode, configuredConcurrency);
  const startedAt = new Date();
  const [loadAverageAtStart = 0] = loadavg();
  const progress = new ProgressDisplay();
  const running = new Set<ChildTask>();
  let dynamoDb: DynamoDbLocal | undefined;

  const stopEverything = async () => {
    await Promise.all([...running].map((task) => task.stop(5_000)));
    await dynamoDb?.stop();
  };
  const watchdog = setTimeout(() => {
    progress.note(`the run took longer than ${WATCHDOG_MS[options.mode] / 60_000} minutes; stopping it`);
    void stopEverything().finally(() => process.exit(1));
  }, WATCHDOG_MS[options.mode]);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress.note(`${signal}: stopping`);
      void stopEverything().finally(() => process.exit(130));
    });
  }

  const run = async <T>(id: BenchId, module: string, input: unknown, summarise: (result: T) => string): Promise<T> => {
    progress.start(LABELS[id]);
    const task = new ChildTask(new URL(module, import.meta.url), input, (text) => progress.update(text));
    running.add(task);
    try {
      const result = await task.result<T>();
      progress.finish(summarise(result));
      return result;
    } catch (error) {
      progress.finish('failed');
      throw error;
    } finally {
      await task.stop();
      running.delete(task);
    }
  };
  const dynamoDbEndpoint = async (): Promise<string> => {
    const external = process.env.DYNAMODB_ENDPOINT;
    if (external) return external;
    if (!dynamoDb) {
      progress.note('starting DynamoDB Local for B2, B3, B5 and B6 ...');
      dynamoDb = await startDynamoDbLocal();
    }
    return dynamoDb.endpoint;
  };

  progress.note(
    `npm run bench (${options.mode}${options.only.length < BENCHMARKS.length ? `, only ${options.only.join(', ')}` : ''}): ` +
      `kafka.fanout_concurrency = ${configuredConcurrency}, Node ${process.version}`,
  );
  if (loadAverageAtStart > cpus().length) {
    progress.note(
      `note: the load average is ${loadAverageAtStart.toFixed(1)} on ${cpus().length} cores; other work shares this machine and the figures will show it`,
    );
  }
  const measured: { -readonly [K in keyof Measured]: Measured[K] } = {};
  let failed = false;
  try {
    if (options.only.includes('b0')) {
      measured.b0 = await run<DeliveryFigures>(
        'b0',
        './b0-raw-broadcast.ts',
        plan.b0,
        (r) => `${r.clients} clients: p50 ${fixed(r.p50Ms)} ms, p99 ${fixed(r.p99Ms)} ms, ${Math.round(r.deliveriesPerSecond)} deliveries/s`,
      );
    }
    if (options.only.includes('b1')) {
      measured.b1 = await run<B1Output>('b1', './b1-fanout-efficiency.ts', plan.b1, (r) => `${r.measurements.length} runs`);
    }
    if (options.only.includes('b2')) {
      const endpoint = await dynamoDbEndpoint();
      measured.b2 = await run<B2Output>('b2', './b2-store-cost.ts', { ...plan.b2, dynamodbEndpoint: endpoint }, (r) => `${r.scenarios.length} scenarios`);
    }
    if (options.only.includes('b5')) {
      const endpoint = await dynamoDbEndpoint();
      const input: B5Input = {
        ...plan.b5,
        ...(options.b5RecordConcurrency !== undefined ? { recordConcurrency: options.b5RecordConcurrency } : {}),
        dynamoDbLocal: { ...plan.b5.dynamoDbLocal, endpoint },
      };
      measured.b5 = await run<B5Output>(
        'b5',
        './b5-batch-parallelism.ts',
        input,
        (r) =>
          `${r.batchSize} records ${fixed(r.batchMsMedian, 0)} ms, one record ${fixed(r.singleMsMedian, 0)} ms: ratio ${fixed(r.batchRatio, 1)}` +
          ` (store modelled at ${r.storeLatencyMs} ms); on DynamoDB Local ${r.batchRatioDynamoDbLocal === null ? '-' : fixed(r.batchRatioDynamoDbLocal, 1)}`,
      );
    }
    if (options.only.includes('b3')) {
      const endpoint = await dynamoDbEndpoint();
      measured.b3 = await run<B3Output>(
        'b3',
        './b3-end-to-end.ts',
        { ...plan.b3, dynamodbEndpoint: endpoint },
        (r) => `${r.clients} clients: p50 ${fixed(r.p50Ms)} ms, p99 ${fixed(r.p99Ms)} ms, ${Math.round(r.deliveriesPerSecond)} deliveries/s`,
      );
    }
    if (options.only.includes('b6')) {
      const endpoint = await dynamoDbEndpoint();
      measured.b6 = await run<B6Output>(
        'b6',
        './b6-presence-inbox-cost.ts',
        { ...plan.b6, dynamodbEndpoint: endpoint },
        (r) =>
          `presence ${r.presence.map((c) => c.members).join('/')} members; markRead all on ${r.markRead.at(-1)?.inboxItems ?? '-'}: ` +
          `${r.markRead.at(-1)?.requests ?? '-'} requests, ${r.markRead.at(-1)?.writeCapacityUnits ?? '-'} WCU`,
      );
    }
    if (options.only.includes('b4')) {
      await dynamoDb?.stop();
      dynamoDb = undefined;
      measured.b4 = await run<B4Output>('b4', './b4-cold-start.ts', plan.b4, (r) => `${r.functions.length} functions`);
    }
  } catch (error) {
    failed = true;
    progress.note(`\n${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await stopEverything();
    clearTimeout(watchdog);
  }

  const assembled = assembleResults(measured, {
    mode: options.mode,
    startedAt,
    loadAverageAtStart,
    configuredConcurrency,
    ratePerSecond: POST_RATE_PER_SECOND,
    burst: POST_BURST,
  });
  const results = options.merge && !failed ? mergeResults(await previousResults(options.out), assembled, options.only) : assembled;
  process.stdout.write(`\n${renderResults(results)}\n`);
  if (!failed) {
    await mkdir(dirname(options.out), { recursive: true });
    await writeFile(options.out, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`\nresults: ${relative(process.cwd(), options.out)} (${results.durationSeconds} s)\n`);
  }
  return failed ? 1 : 0;
}

/** The results file `--merge` adds to; it must exist and be this schema. */
async function previousResults(path: string): Promise<BenchResults> {
  const previous = JSON.parse(await readFile(path, 'utf8')) as BenchResults;
  if (previous.schemaVersion !== 1) throw new Error(`${path}: schemaVersion ${String(previous.schemaVersion)}, not 1: run the whole bench instead of --merge`);
  return previous;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.exit(code));
}
