import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { mintToken } from '../support/ws-client.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const TSC = require.resolve('typescript/bin/tsc');
const PACKAGE = '@aws-realtime-notifications/client';

/** What a user of the package writes: connect, subscribe, one notification, close. */
const EXAMPLE = `import { NotificationClient, NotificationClientError, type NotificationFrame, type StateChange } from '${PACKAGE}';

const url = process.env.NOTIFICATIONS_URL!;
const token = process.env.NOTIFICATIONS_TOKEN!;
const channel = process.env.NOTIFICATIONS_CHANNEL!;

const client = new NotificationClient({ url, getToken: async () => token });
client.on('state', (change: StateChange) => {
  if (change.error) console.error(change.state, change.error.code);
});
const received = new Promise<NotificationFrame>((resolve) => client.on('notification', resolve));

try {
  const welcome = await client.connect();
  const answer = await client.subscribe([channel]);
  console.log(JSON.stringify({ step: 'subscribed', userId: welcome.userId, accepted: answer.accepted }));
  const frame = await received;
  const priority: 'low' | 'medium' | 'high' | 'urgent' = frame.payload.priority;
  console.log(JSON.stringify({ step: 'notification', notificationId: frame.payload.notificationId, channel: frame.channel, priority }));
} catch (error) {
  console.error(error instanceof NotificationClientError ? \`\${error.code}: \${error.message}\` : error);
  process.exitCode = 1;
} finally {
  await client.close();
  console.log(JSON.stringify({ step: 'closed', state: client.state }));
}

/** Never called: proves the declarations are real types, not \`any\`. */
export function misuse(): void {
  // @ts-expect-error: subscribe takes an array of channel names
  void client.subscribe(channel);
  // @ts-expect-error: no such event
  client.on('notifications', () => {});
}
`;

/** The browser side of the API, type-checked with DOM and without Node's types. */
const BROWSER_EXAMPLE = `import { NotificationClient, type InboxReplyPayload, type MemberEvent } from '${PACKAGE}';

export async function start(badge: HTMLElement): Promise<NotificationClient> {
  const client = new NotificationClient({
    url: 'wss://abc123.execute-api.eu-west-1.amazonaws.com/prod',
    getToken: () => fetch('/api/notification-token').then((response) => response.text()),
    networkEvents: window,
  });
  client.on('unread', ({ count }) => (badge.textContent = String(count)));
  client.on('join', (member: MemberEvent) => console.log(member.userId, 'joined', member.channel));
  await client.connect();
  const page: InboxReplyPayload = await client.inbox({ limit: 10, unreadOnly: true });
  if (page.items[0]) await client.markRead([page.items[0].messageId]);
  // @ts-expect-error: markRead takes ids or 'all'
  await client.markRead('some');
  return client;
}
`;

/** strict, nodenext, as a Node.js project would set it; `lib`, `types` and files per target. */
function tsconfig(file: string, overrides: Record<string, unknown>) {
  return {
    compilerOptions: {
      strict: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      skipLibCheck: false,
      typeRoots: [join(ROOT, 'node_modules/@types')],
      ...overrides,
    },
    files: [file],
  };
}

/**
 * The SDK as a user gets it: `npm pack` (its prepack builds), installed from the tarball
 * into a project in the OS temp dir that has none of this repository, a usage example
 * type-checked there with tsc, then run with node against the local runtime.
 */
describe('the client package', () => {
  let runtime: TestRuntime;
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'client-package-'));
    runtime = await startTestRuntime({ kafka: { topics: ['booking-updates'] } });
  });

  afterAll(async () => {
    await runtime?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('packs, installs into a scratch project, type-checks an example and runs it: connect, subscribe, one notification, close', async () => {
    // Prepare: pack and install. No network: the tarball has no dependencies; `ws` (the
    // optional peer, needed on Node 20, which has no global WebSocket) comes from here.
    await run('npm', ['pack', join(ROOT, 'client'), '--pack-destination', scratch, '--silent'], { cwd: ROOT, timeout: 120_000 });
    const tarball = (await readdir(scratch)).find((name) => name.endsWith('.tgz'));
    expect(tarball).toBe('aws-realtime-notifications-client-0.1.0.tgz');
    const { stdout: listing } = await run('tar', ['-tzf', join(scratch, tarball!)]);
    const project = join(scratch, 'app');
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    await run('npm', ['install', join(scratch, tarball!), '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: project, timeout: 60_000 });
    const installed = JSON.parse(await readFile(join(project, 'node_modules', PACKAGE, 'package.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(project, 'example.ts'), EXAMPLE);
    await writeFile(join(project, 'tsconfig.json'), JSON.stringify(tsconfig('example.ts', { lib: ['es2022'], types: ['node'], outDir: 'out' })));
    await writeFile(join(project, 'browser.ts'), BROWSER_EXAMPLE);
    await writeFile(join(project, 'tsconfig.browser.json'), JSON.stringify(tsconfig('browser.ts', { lib: ['es2022', 'dom'], types: [], noEmit: true })));
    // A browser app's bundler, with no `ws` installed: the package maps it away ("browser": { "ws": false }).
    const browserBundle = await build({
      entryPoints: [join(project, 'browser.ts')],
      absWorkingDir: project,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    await symlink(join(ROOT, 'node_modules/ws'), join(project, 'node_modules/ws'), 'dir');

    // Act: type-check (both) and compile, then run against the runtime.
    const typeCheck = async (config: string) => {
      try {
        await run(process.execPath, [TSC, '-p', join(project, config)], { cwd: project, timeout: 60_000 });
        return '';
      } catch (error) {
        return String((error as { stdout?: string }).stdout ?? error);
      }
    };
    const record = notificationRecord({ channel: 'booking-updates' }, { priority: 'high' });
    const nodeErrors = await typeCheck('tsconfig.json');
    const browserErrors = await typeCheck('tsconfig.browser.json');
    const output = await runExample(
      join(project, 'out/example.js'),
      {
        NOTIFICATIONS_URL: runtime.wsUrl,
        NOTIFICATIONS_TOKEN: await mintToken('package-user'),
        NOTIFICATIONS_CHANNEL: 'booking-updates',
      },
      async () => {
        await runtime.publish('booking-updates', [record]);
      },
    );

    // Assess
    expect(listing.trim().split('\n').sort()).toEqual([
      'package/README.md',
      'package/dist/LICENSE',
      'package/dist/THIRD-PARTY-LICENSES.md',
      'package/dist/index.js',
      'package/dist/types/client/backoff.d.ts',
      'package/dist/types/client/close-codes.d.ts',
      // ContinuityLost, the `continuityLost` event's value, is declared there.
      'package/dist/types/client/continuity.d.ts',
      'package/dist/types/client/errors.d.ts',
      'package/dist/types/client/index.d.ts',
      'package/dist/types/client/notification-client.d.ts',
      'package/dist/types/client/transport.d.ts',
      // The protocol's plain types; the zod schemas stay inside index.js.
      expect.stringMatching(/^package\/dist\/types\/.*protocol\/error-codes\.d\.ts$/),
      expect.stringMatching(/^package\/dist\/types\/.*protocol\/types\.d\.ts$/),
      'package/package.json',
    ]);
    expect(installed).not.toHaveProperty('dependencies');
    expect(existsSync(join(project, 'node_modules/zod'))).toBe(false);
    expect(browserBundle.errors).toEqual([]);
    expect(browserBundle.outputFiles[0]!.text).not.toContain('import("ws")');
    expect(nodeErrors).toBe('');
    expect(browserErrors).toBe('');
    expect(output.code).toBe(0);
    expect(output.lines).toEqual([
      { step: 'subscribed', userId: 'package-user', accepted: ['booking-updates'] },
      { step: 'notification', notificationId: record.payload.notificationId, channel: 'booking-updates', priority: 'high' },
      { step: 'closed', state: 'closed' },
    ]);
  }, 240_000);
});

/**
 * Runs the compiled example with node; calls `onSubscribed` when it says it subscribed.
 * Killed after 30 s: a hang fails with what it printed.
 */
async function runExample(
  file: string,
  env: Record<string, string>,
  onSubscribed: () => Promise<void>,
): Promise<{ code: number | null; lines: unknown[]; stderr: string }> {
  const child = spawn(process.execPath, [file], { cwd: dirname(file), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: unknown[] = [];
  let stderr = '';
  let pending = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const line = JSON.parse(pending.slice(0, end)) as { step: string };
      pending = pending.slice(end + 1);
      lines.push(line);
      if (line.step === 'subscribed') void onSubscribed();
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolveExit) => child.on('close', (exitCode) => resolveExit(exitCode)));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`the example exited ${code}; it printed:\n${lines.map((line) => JSON.stringify(line)).join('\n')}\n${stderr}`);
  return { code, lines, stderr };
}
