import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { tableEnvironment } from '../protocol/tables.js';
import { FUNCTIONS, WELCOME } from '../protocol/routes.js';
import { bundleFunctions } from './function-bundles.js';
import { loadProjectConfig } from '../local/jwt-secret.js';
import { PROJECT_ROOT } from '../local/project-root.js';
import { childInput, reportProgress, runChildTask } from './child-process.js';
import { quantile } from './round-measurement.js';

/**
 * B4, cold start: each function of the route table bundled as the CDK bundles it (the
 * esbuild options of lib/service-function.ts, FUNCTION_BUNDLING: ESM, minified, the AWS
 * SDK inside but for the credential providers it imports only without credentials in
 * the environment, the createRequire banner), its size and what it is made of (esbuild's
 * metafile, read here and not written out), and the time its module takes to
 * initialise: `import()` of the bundle in a fresh Node process, median of a few
 * processes. Modules left external resolve from the project's node_modules, as they
 * would from the runtime's in Lambda.
 */

export interface B4Input {
  /** Fresh processes per function; the median is reported. */
  readonly initRuns: number;
  /** Only these function ids. @default - every function of the route table */
  readonly only?: readonly string[];
}

export interface B4Function {
  readonly id: string;
  readonly entry: string;
  readonly bundleKb: number;
  readonly initMsMedian: number;
  readonly initMsRuns: number[];
  /** The largest contributors to the bundle (npm package or project folder), KB of output. */
  readonly largestParts: Array<{ readonly part: string; readonly kb: number }>;
}

export interface B4Output {
  readonly functions: B4Function[];
  readonly nodeVersion: string;
}

const IMPORT_TIMER = `
const started = performance.now();
await import(process.argv[1]);
process.stdout.write(String(performance.now() - started));
process.exit(0);
`;

const execFileAsync = promisify(execFile);

/** The environment the CDK stack gives a function, with placeholder resources. */
function lambdaLikeEnvironment(): NodeJS.ProcessEnv {
  const config = loadProjectConfig(PROJECT_ROOT);
  return {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_SERVICE_NAME: 'notifications',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    POWERTOOLS_METRICS_NAMESPACE: 'Notifications',
    SERVICE_CONFIG: JSON.stringify(config.notification_service),
    ...tableEnvironment('bench-'),
    MANAGEMENT_ENDPOINT: 'https://example.execute-api.us-east-1.amazonaws.com/prod',
    WELCOME_FUNCTION_NAME: WELCOME.id,
  };
}

/** `@aws-sdk/client-dynamodb`, `zod`, or the project folder (`lambdas/domain`) an input belongs to. */
function partOf(inputPath: string): string {
  const packagePath = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(inputPath);
  if (packagePath) return packagePath[1]!;
  return inputPath.split('/').slice(0, 2).join('/');
}

function largestParts(inputs: Record<string, { bytesInOutput: number }>): B4Function['largestParts'] {
  const bytes = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(inputs)) bytes.set(partOf(path), (bytes.get(partOf(path)) ?? 0) + bytesInOutput);
  return [...bytes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([part, size]) => ({ part, kb: Math.round((size / 1024) * 10) / 10 }));
}

async function initTimeMs(bundle: string, env: NodeJS.ProcessEnv): Promise<number> {
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', IMPORT_TIMER, pathToFileURL(bundle).href], {
    env,
    timeout: 30_000,
  });
  const ms = Number(stdout.trim());
  if (!Number.isFinite(ms)) throw new Error(`${bundle}: the import timer printed ${JSON.stringify(stdout)}`);
  return ms;
}

runChildTask(async (): Promise<B4Output> => {
  const input = childInput<B4Input>();
  const outDir = await mkdtemp(join(tmpdir(), 'bench-b4-'));
  const env = lambdaLikeEnvironment();
  try {
    // The modules left external resolve here, as they resolve from the runtime's
    // node_modules in Lambda.
    await symlink(join(PROJECT_ROOT, 'node_modules'), join(outDir, 'node_modules'), 'dir');
    const selected = FUNCTIONS.filter((definition) => !input.only || input.only.includes(definition.id));
    reportProgress(`bundling ${selected.length} functions`);
    const bundles = await bundleFunctions(selected, outDir);
    const functions: B4Function[] = [];
    for (const [index, { definition, outfile, output }] of bundles.entries()) {
      const bundleKb = (await stat(outfile)).size / 1024;
      reportProgress(`${index + 1}/${selected.length} ${definition.id}: ${bundleKb.toFixed(0)} KB, timing initialisation`);
      const runs: number[] = [];
      for (let run = 0; run < input.initRuns; run += 1) runs.push(await initTimeMs(outfile, env));
      functions.push({
        id: definition.id,
        entry: definition.entry,
        bundleKb,
        initMsMedian: quantile(
          [...runs].sort((a, b) => a - b),
          0.5,
        ),
        initMsRuns: runs,
        largestParts: largestParts(output.inputs),
      });
    }
    return { functions, nodeVersion: process.version };
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
});
