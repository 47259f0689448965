import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const TSX_LOADER = import.meta.resolve('tsx');
const SERVICE_ENTRY = fileURLToPath(new URL('./service.ts', import.meta.url));
const READY_TIMEOUT_MS = 90_000;

export interface ServiceSettings {
  /** `websocket.write_timeout`, seconds. */
  readonly writeTimeoutSeconds: number;
  /** `delivery.lease_seconds`. */
  readonly leaseSeconds: number;
  /** `kafka.fanout_concurrency`. */
  readonly fanoutConcurrency: number;
  /** `websocket.heartbeat_interval`, seconds (at least 5, lambdas/config/schema.ts). */
  readonly heartbeatIntervalSeconds: number;
  /** The topic the run publishes on; its channel has the same name. */
  readonly topic: string;
}

/** The Config.toml of a run: the shipped defaults, except what the stall test sets. */
export function serviceConfigToml(settings: ServiceSettings): string {
  return [
    '# Written by npm run continuity (bench/continuity): the stall test of docs/delivery.md section 10.',
    '[notification_service.websocket]',
    `write_timeout = ${settings.writeTimeoutSeconds}`,
    `heartbeat_interval = ${settings.heartbeatIntervalSeconds}`,
    '',
    '[notification_service.kafka]',
    `topics = ["${settings.topic}"]`,
    `fanout_concurrency = ${settings.fanoutConcurrency}`,
    '',
    '[notification_service.delivery]',
    `lease_seconds = ${settings.leaseSeconds}`,
    '',
  ].join('\n');
}

export interface ServiceProcessOptions {
  readonly settings: ServiceSettings;
  /** Where the config file and the service's log go. */
  readonly directory: string;
  /** Another DynamoDB (the test run's); else the service starts DynamoDB Local itself, as `npm start` does. */
  readonly dynamodbEndpoint?: string;
  /** @default 'local-' */
  readonly tablePrefix?: string;
  /** The handlers' log level (Powertools). @default 'INFO' */
  readonly logLevel?: string;
}

/**
 * The service in a child process of its own (bench/continuity/service.ts, `npm start`
 * with a config file): stopped with SIGSTOP and resumed with SIGCONT as a whole, as a
 * Lambda container is frozen; DynamoDB Local, its own process, goes on.
 */
export class ServiceProcess {
  readonly httpUrl: string;
  readonly wsUrl: string;
  /** Every line the service wrote (invocations, handler logs, notices). */
  readonly logPath: string;
  readonly configPath: string;
  readonly #child: ChildProcess;
  readonly #log: WriteStream;
  readonly #exited: Promise<void>;
  #paused = false;

  private constructor(
    child: ChildProcess,
    log: WriteStream,
    exited: Promise<void>,
    info: { httpUrl: string; wsUrl: string },
    paths: { log: string; config: string },
  ) {
    this.#child = child;
    this.#log = log;
    this.#exited = exited;
    this.httpUrl = info.httpUrl;
    this.wsUrl = info.wsUrl;
    this.logPath = paths.log;
    this.configPath = paths.config;
  }

  static async start(options: ServiceProcessOptions): Promise<ServiceProcess> {
    const configPath = join(options.directory, 'Config.toml');
    const logPath = join(options.directory, 'service.log');
    await writeFile(configPath, serviceConfigToml(options.settings));
    const log = createWriteStream(logPath);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: '0',
      TABLE_PREFIX: options.tablePrefix ?? 'local-',
      POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'INFO',
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    if (options.dynamodbEndpoint) env.DYNAMODB_ENDPOINT = options.dynamodbEndpoint;
    else delete env.DYNAMODB_ENDPOINT;
    const child = spawn(process.execPath, ['--import', TSX_LOADER, SERVICE_ENTRY, '--config', configPath], {
      env,
      // stdin stays open: the service stops when it closes (this process went).
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stderr!.on('data', (chunk: Buffer) => log.write(chunk));
    const lines = createInterface({ input: child.stdout! });
    const info = await new Promise<{ httpUrl: string; wsUrl: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the service did not start within ${READY_TIMEOUT_MS} ms; see ${logPath}`)), READY_TIMEOUT_MS);
      void exited.then(() => reject(new Error(`the service exited before it was ready; see ${logPath}`)));
      lines.on('line', (line) => {
        log.write(`${line}\n`);
        if (!line.startsWith('{"ready"')) return;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { ready: { httpUrl: string; wsUrl: string } }).ready);
      });
    }).catch(async (error: unknown) => {
      child.kill('SIGKILL');
      await exited;
      log.end();
      throw error;
    });
    return new ServiceProcess(child, log, exited, info, { log: logPath, config: configPath });
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** Freezes the whole process: no timer, socket or handler of it runs until {@link resume}. */
  pause(): void {
    this.#paused = true;
    this.#child.kill('SIGSTOP');
    this.#log.write(`${JSON.stringify({ continuity: 'SIGSTOP', at: new Date().toISOString() })}\n`);
  }

  resume(): void {
    this.#child.kill('SIGCONT');
    this.#paused = false;
    this.#log.write(`${JSON.stringify({ continuity: 'SIGCONT', at: new Date().toISOString() })}\n`);
  }

  /** Writes a line of the run into the service's log, so the log reads in one order. */
  mark(fields: Record<string, unknown>): void {
    this.#log.write(`${JSON.stringify({ continuity: 'mark', at: new Date().toISOString(), ...fields })}\n`);
  }

  /** Stops the service as Ctrl-C stops `npm start`; kills it after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      if (this.#paused) this.resume();
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
      await this.#exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.#log.end(() => resolve()));
  }
}
