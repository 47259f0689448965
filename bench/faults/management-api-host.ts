import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ManagementApiReport, ManagementFaults } from './faulty-management-api.js';
import type { ManagementApiThreadData, ManagementApiThreadMessage } from './management-api-thread.js';

export interface FaultyManagementApiOptions {
  readonly faults: Omit<ManagementFaults, 'gone' | 'broken' | 'random' | 'onCrash' | 'onOutage'>;
  readonly gone: ReadonlySet<string>;
  readonly broken: ReadonlySet<string>;
  readonly seed: number;
}

/** The stand-in, running in its own thread. */
export interface FaultyManagementApiThread {
  /** `http://127.0.0.1:{port}`; add `/{stage}` to name who posts. */
  readonly url: string;
  /** True from the moment the victim died (set by the API thread, read synchronously). */
  readonly crashed: () => boolean;
  /** True from the moment `faults.outageAfter` was met (set by the API thread, read synchronously). */
  readonly outageDue: () => boolean;
  /** Resolves when the victim dies. */
  readonly crash: Promise<{ readonly stage: string; readonly atMs: number }>;
  /** Everything the API saw so far. */
  report(): Promise<ManagementApiReport>;
  stop(): Promise<void>;
}

/**
 * Starts the faulty Management API in a worker thread. The thread loads TypeScript
 * through tsx's API, so this works under `tsx` (npm run faults) and under vitest alike.
 */
export async function startFaultyManagementApi(options: FaultyManagementApiOptions): Promise<FaultyManagementApiThread> {
  const crashFlag = new SharedArrayBuffer(8);
  const flag = new Int32Array(crashFlag);
  const data: ManagementApiThreadData = {
    faults: options.faults,
    gone: [...options.gone],
    broken: [...options.broken],
    seed: options.seed,
    crashFlag,
  };
  // tsx's ESM API by its package folder: require.resolve would pick the CommonJS build.
  const tsxFolder = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(tsxFolder, 'dist/esm/api/index.mjs')).href;
  const entry = new URL('./management-api-thread.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  const worker = new Worker(code, { eval: true, workerData: data, execArgv: [] });
  let onCrash: (crash: { stage: string; atMs: number }) => void = () => {};
  const crash = new Promise<{ stage: string; atMs: number }>((resolve) => (onCrash = resolve));
  let onReport: ((report: ManagementApiReport) => void) | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (message: ManagementApiThreadMessage) => {
      if (message.type === 'listening') resolve(message.port);
      else if (message.type === 'crashed') onCrash(message);
      else if (message.type === 'report') onReport?.(message.report);
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    crashed: () => Atomics.load(flag, 0) === 1,
    outageDue: () => Atomics.load(flag, 1) === 1,
    crash,
    report: () =>
      new Promise<ManagementApiReport>((resolve) => {
        onReport = resolve;
        worker.postMessage({ type: 'report' });
      }),
    stop: async () => {
      worker.postMessage({ type: 'stop' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await worker.terminate();
    },
  };
}
