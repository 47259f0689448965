import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type AttributeDefinition,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import { TABLES, type KeyDefinition, type TableDefinition, type TableNames } from '../protocol/tables.js';

/**
 * DynamoDB Local for the local runtime and the tests. The official jar reaches us through
 * the npm registry, inside the `amplify-dynamodb-simulator` tarball; only the tarball is
 * fetched (the package's own dependencies are large and unneeded), pinned, and cached
 * under `.cache/dynamodb-local/` at the project root.
 */

/** Pinned: a new simulator release may ship a DynamoDB Local that behaves differently. */
export const DYNAMODB_SIMULATOR_VERSION = '2.9.30';

const JAVA_MISSING = 'DynamoDB Local needs Java 17+: apt-get install -y default-jre-headless (or set DYNAMODB_ENDPOINT to another DynamoDB)';
const MINIMUM_JAVA_MAJOR = 17;
const READY_TIMEOUT_MS = 30_000;
const READY_POLL_INTERVAL_MS = 100;
const STOP_TIMEOUT_MS = 5_000;

const execFileAsync = promisify(execFile);
const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface DynamoDbLocalOptions {
  /** Loopback port to listen on. @default - a free port chosen by the operating system */
  readonly port?: number;
  /** Receives each line DynamoDB Local writes to stdout or stderr. @default - discarded */
  readonly onLog?: (line: string) => void;
}

export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** Stops the server; its in-memory data is gone. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts DynamoDB Local in memory on loopback and resolves once it answers ListTables.
 * The server dies with this process, even when this process is killed.
 * @throws Error naming the fix when Java 17+ is missing.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  assertJavaAvailable();
  const emulatorDir = await ensureEmulator();
  const port = options.port ?? (await findFreePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawnServer(emulatorDir, port, options.onLog);

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolveExit) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolveExit();
    }),
  );
  const stopOnParentExit = () => child.stdin?.end();
  process.once('exit', stopOnParentExit);

  const stop = async () => {
    process.removeListener('exit', stopOnParentExit);
    if (exit) return;
    // Closing stdin makes the wrapper shell stop java (see spawnServer).
    child.stdin?.end();
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  try {
    await waitUntilReady(endpoint, () => exit);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, stop };
}

/**
 * Creates every table of TABLES, named `${prefix}${id}`, with its keys, indexes (on
 * demand) and TTL. Tables that exist already are left as they are.
 */
export async function createTables(client: DynamoDBClient, prefix: string): Promise<TableNames> {
  const names = Object.fromEntries(TABLES.map((table) => [table.id, `${prefix}${table.id}`])) as TableNames;
  await Promise.all(TABLES.map((table) => createTable(client, table, names[table.id])));
  return names;
}

async function createTable(client: DynamoDBClient, table: TableDefinition, tableName: string): Promise<void> {
  const attributes = new Map<string, KeyDefinition>();
  const remember = (key: KeyDefinition | undefined) => key && attributes.set(key.name, key);
  remember(table.partitionKey);
  remember(table.sortKey);
  for (const index of table.globalSecondaryIndexes) {
    remember(index.partitionKey);
    remember(index.sortKey);
  }
  const globalSecondaryIndexes: GlobalSecondaryIndex[] = table.globalSecondaryIndexes.map((index) => ({
    IndexName: index.indexName,
    KeySchema: keySchema(index.partitionKey, index.sortKey),
    Projection:
      index.projection.type === 'INCLUDE'
        ? { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.projection.nonKeyAttributes] }
        : { ProjectionType: index.projection.type },
  }));
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [...attributes.values()].map((key): AttributeDefinition => ({ AttributeName: key.name, AttributeType: key.type })),
        KeySchema: keySchema(table.partitionKey, table.sortKey),
        ...(globalSecondaryIndexes.length > 0 ? { GlobalSecondaryIndexes: globalSecondaryIndexes } : {}),
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName: tableName });
  if (table.timeToLiveAttribute) {
    const current = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    if (current.TimeToLiveDescription?.TimeToLiveStatus === 'ENABLED') return;
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: table.timeToLiveAttribute, Enabled: true },
      }),
    );
  }
}

function keySchema(partitionKey: KeyDefinition, sortKey?: KeyDefinition): KeySchemaElement[] {
  return [{ AttributeName: partitionKey.name, KeyType: 'HASH' }, ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }] : [])];
}

function assertJavaAvailable(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new Error(JAVA_MISSING, { cause: probe.error });
  // `java -version` prints to stderr: `openjdk version "17.0.15"` or `java version "1.8.0_422"`.
  const version = /version "(\d+)(?:\.(\d+))?/.exec(`${probe.stderr}${probe.stdout}`);
  if (!version) return;
  const major = version[1] === '1' ? Number(version[2]) : Number(version[1]);
  if (major < MINIMUM_JAVA_MAJOR) throw new Error(`${JAVA_MISSING}; found Java ${major}`);
}

/** The extracted `emulator/` folder, fetched on first use and reused afterwards. */
async function ensureEmulator(): Promise<string> {
  const cacheDir = join(projectRoot, '.cache', 'dynamodb-local');
  const emulatorDir = join(cacheDir, `amplify-dynamodb-simulator-${DYNAMODB_SIMULATOR_VERSION}`);
  if (existsSync(join(emulatorDir, 'DynamoDBLocal.jar'))) return emulatorDir;

  await mkdir(cacheDir, { recursive: true });
  // Two processes may fetch at once (tests and `npm start`): each works in its own
  // directory and renames the finished folder into place, so nobody sees half of it.
  const workDir = await mkdtemp(join(cacheDir, 'fetch-'));
  try {
    await execFileAsync('npm', ['pack', `amplify-dynamodb-simulator@${DYNAMODB_SIMULATOR_VERSION}`, '--pack-destination', workDir], {
      cwd: workDir,
      maxBuffer: 16 * 1024 * 1024,
    });
    const tarball = (await readdir(workDir)).find((name) => name.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack amplify-dynamodb-simulator@${DYNAMODB_SIMULATOR_VERSION} left no tarball in ${workDir}`);
    await execFileAsync('tar', ['-xzf', join(workDir, tarball), '-C', workDir, 'package/emulator']);
    try {
      await rename(join(workDir, 'package', 'emulator'), emulatorDir);
    } catch (error) {
      // Another process won the race; its copy is complete because it was renamed whole.
      if (!existsSync(join(emulatorDir, 'DynamoDBLocal.jar'))) throw error;
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  return emulatorDir;
}

function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * A small shell stands between us and java so that java dies with this process even on
 * SIGKILL: the shell holds our stdin pipe, and when it closes (we stopped, exited or were
 * killed) it stops java. Java itself cannot notice that its parent has gone.
 */
const WRAPPER = `
exec 3<&0
java "$@" </dev/null &
server=$!
{ while read -r _ <&3; do :; done; kill "$server" 2>/dev/null; } &
watcher=$!
wait "$server"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
`;

function spawnServer(emulatorDir: string, port: number, onLog?: (line: string) => void): ChildProcess {
  const args = [
    `-Djava.library.path=${join(emulatorDir, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(emulatorDir, 'DynamoDBLocal.jar'),
    '-inMemory',
    '-disableTelemetry',
    '-port',
    String(port),
  ];
  const child = spawn('sh', ['-c', WRAPPER, 'dynamodb-local', ...args], {
    cwd: emulatorDir,
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group, so a forced stop reaches java as well as the shell.
    detached: true,
  });
  child.unref();
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    // Unreferenced so an idle server never keeps this process alive on its own.
    (stream as unknown as { unref?: () => void }).unref?.();
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) onLog?.(line);
    });
  }
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

async function waitUntilReady(endpoint: string, exited: () => { code: number | null; signal: NodeJS.Signals | null } | undefined): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
    requestHandler: { requestTimeout: 2_000 },
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      const exit = exited();
      if (exit) {
        throw new Error(`DynamoDB Local exited before it was ready (code ${exit.code}, signal ${exit.signal}); pass onLog to see its output`);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        if (Date.now() >= deadline) {
          throw new Error(`DynamoDB Local did not answer at ${endpoint} within ${READY_TIMEOUT_MS / 1000} s`, {
            cause: error,
          });
        }
      }
      await new Promise((wake) => setTimeout(wake, READY_POLL_INTERVAL_MS));
    }
  } finally {
    client.destroy();
  }
}
