import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.js';
import type { InvocationLogEntry, LambdaHandler } from '../../local/lambda/functions.js';
import { startLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../../local/runtime.js';
import { EmulatorClient, UNUSED_TABLES } from './emulator-harness.js';

/**
 * `npm run dev`: the runtime watches the handlers' folders and runs changed code on the
 * next invocation. The project here is a scratch copy with one real handler file (the
 * `$default` function) that imports a second module, so a change anywhere in a handler's
 * module graph is what is tested; `$connect` and the authorizer are injected and allow all.
 */

const WAIT_MS = 10_000;

/** Rejects after `ms` instead of hanging the test. */
function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Polls until `check` holds, for at most WAIT_MS. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// The `$default` handler answers with the version its imported module holds. A frame
// `hold` makes it announce that it started (a file) and wait until the test releases it
// (another file), so an invocation can be caught under way while a reload happens;
// `hold-post` then posts to its connection through the Management API and notes how that
// went (a third file); `crash` throws where no invocation catches it.
const DEFAULT_HANDLER = `
import { existsSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { VERSION } from '../version.js';

const signals = new URL('../../signals/', import.meta.url);

export const handler = async (event: { body: string; requestContext: { connectionId: string } }) => {
  if (event.body.startsWith('hold')) {
    writeFileSync(new URL('started', signals), '');
    while (!existsSync(new URL('release', signals))) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (event.body === 'hold-post') {
    const url = process.env.MANAGEMENT_ENDPOINT + '/@connections/' + encodeURIComponent(event.requestContext.connectionId);
    const post = request(url, { method: 'POST' });
    post.on('response', (response) => writeFileSync(new URL('late-post', signals), 'status ' + response.statusCode));
    post.on('error', (error: NodeJS.ErrnoException) => writeFileSync(new URL('late-post', signals), String(error.code)));
    post.end('late');
  }
  if (event.body === 'crash') {
    await new Promise(() => setTimeout(() => { throw new Error('thrown outside the invocation'); }, 0));
  }
  return { statusCode: 200, body: JSON.stringify({ version: VERSION, frame: event.body }) };
};
`;
const version = (value: number) => `export const VERSION: number = ${value};\n`;

const allow: Partial<Record<string, LambdaHandler>> = {
  Authorizer: async (event) => ({
    principalId: 'alice',
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }] },
    context: { userId: 'alice' },
  }),
  Connect: async () => ({ statusCode: 200 }),
  Disconnect: async () => ({ statusCode: 200 }),
};

let root: string;
let runtime: LocalRuntime | undefined;
let reloads: (readonly string[])[];
let invocations: InvocationLogEntry[];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'handler-reload-'));
  await mkdir(join(root, 'lambdas', 'handlers'), { recursive: true });
  await mkdir(join(root, 'signals'));
  await writeFile(join(root, 'package.json'), '{ "type": "module" }\n');
  await writeFile(join(root, 'lambdas', 'handlers', 'default.ts'), DEFAULT_HANDLER);
  await writeFile(join(root, 'lambdas', 'version.ts'), version(1));
  reloads = [];
  invocations = [];
});

async function startWatching(options: Partial<LocalRuntimeOptions> = {}): Promise<LocalRuntime> {
  runtime = await startLocalRuntime({
    config: parseConfig({}),
    dynamodbEndpoint: 'http://127.0.0.1:9',
    tables: UNUSED_TABLES,
    jwtSecret: 'reload-test-secret',
    cleanupIntervalMs: 0,
    handlers: allow,
    projectRoot: root,
    watch: { debounceMs: 50, onReload: (changed) => reloads.push(changed) },
    logInvocation: (entry) => invocations.push(entry),
    notice: () => {},
    ...options,
  });
  return runtime;
}

afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await rm(root, { recursive: true, force: true });
});

/** Changes the version module and waits until the runtime has reloaded for it. */
async function changeVersion(value: number): Promise<void> {
  const before = reloads.length;
  await writeFile(join(root, 'lambdas', 'version.ts'), version(value));
  await until(() => reloads.length > before, 'the reload after lambdas/version.ts changed');
}

async function ask(client: EmulatorClient, frame: string): Promise<{ version: number; frame: string }> {
  client.socket.send(frame);
  return within(client.nextJson(), `the reply to ${frame}`);
}

describe('local runtime with watch', () => {
  it('runs changed handler code on the next invocation, over the socket that stayed open', async () => {
    // Prepare
    const client = await EmulatorClient.connect(`${(await startWatching()).wsUrl}/?token=t`);
    const [connectionId] = runtime!.connectionIds();
    expect(await ask(client, 'first')).toEqual({ version: 1, frame: 'first' });

    // Act
    await changeVersion(2);
    const reply = await ask(client, 'second');

    // Assess
    expect(reply).toEqual({ version: 2, frame: 'second' });
    expect(reloads).toEqual([[join('lambdas', 'version.ts')]]);
    expect(runtime!.connectionIds()).toEqual([connectionId]);
    expect(client.socket.readyState).toBe(client.socket.OPEN);
    client.socket.close();
  });

  it('finishes an invocation under way on the code it started with', async () => {
    // Prepare: an invocation of version 1 is running when the file changes
    const client = await EmulatorClient.connect(`${(await startWatching()).wsUrl}/?token=t`);
    client.socket.send('hold');
    await until(() => existsSync(join(root, 'signals', 'started')), 'the held invocation to start');

    // Act
    await changeVersion(2);
    const next = await ask(client, 'next');
    await writeFile(join(root, 'signals', 'release'), '');
    const held = JSON.parse(await within(client.nextFrame(), 'the reply to hold'));

    // Assess: the new invocation ran version 2 at once; the held one ended on version 1
    expect(next).toEqual({ version: 2, frame: 'next' });
    expect(held).toEqual({ version: 1, frame: 'hold' });
    client.socket.close();
  });

  it('recovers from a change that does not load: the broken version fails, the fixed one runs', async () => {
    // Prepare
    const client = await EmulatorClient.connect(`${(await startWatching()).wsUrl}/?token=t`);
    expect(await ask(client, 'first')).toEqual({ version: 1, frame: 'first' });

    // Act
    const before = reloads.length;
    await writeFile(join(root, 'lambdas', 'version.ts'), 'export const VERSION = ;\n');
    await until(() => reloads.length > before, 'the reload after the broken change');
    client.socket.send('broken');
    const failed = JSON.parse(await within(client.nextFrame(), 'the reply to broken'));
    await changeVersion(3);
    const fixed = await ask(client, 'fixed');

    // Assess
    expect(failed).toMatchObject({ message: 'Internal server error' });
    expect(fixed).toEqual({ version: 3, frame: 'fixed' });
    client.socket.close();
  });

  it('cuts a handler at its timeout and freezes its sandbox in the worker, and the worker serves on', async () => {
    // Prepare
    const client = await EmulatorClient.connect(`${(await startWatching({ functionTimeoutsMs: { Default: 500 } })).wsUrl}/?token=t`);

    // Act: the held invocation times out, then, released, tries to post
    client.socket.send('hold-post');
    const timedOut = JSON.parse(await within(client.nextFrame(), 'the reply to hold-post'));
    await writeFile(join(root, 'signals', 'release'), '');
    await until(() => existsSync(join(root, 'signals', 'late-post')), 'the late post to end');
    const after = await ask(client, 'after');

    // Assess
    expect(timedOut).toMatchObject({ message: 'Internal server error' });
    expect(invocations.find((entry) => entry.status === 'error')?.error).toBe('Sandbox.Timedout: Task timed out after 0.50 seconds');
    expect(await readFile(join(root, 'signals', 'late-post'), 'utf8')).toBe('ERR_LAMBDA_SANDBOX_FROZEN');
    expect(after).toEqual({ version: 1, frame: 'after' });
    expect(client.frames).not.toContain('late');
    client.socket.close();
  });

  it('fails the invocation whose worker an uncaught exception ends, and runs the next in a new worker', async () => {
    // Prepare
    const client = await EmulatorClient.connect(`${(await startWatching()).wsUrl}/?token=t`);

    // Act
    client.socket.send('crash');
    const crashed = JSON.parse(await within(client.nextFrame(), 'the reply to crash'));
    const after = await ask(client, 'after');

    // Assess
    expect(crashed).toMatchObject({ message: 'Internal server error' });
    expect(invocations.find((entry) => entry.status === 'error')?.error).toMatch(
      /^Runtime\.ExitError: the handler worker thread ended \(Error: thrown outside the invocation\)$/,
    );
    expect(after).toEqual({ version: 1, frame: 'after' });
    expect(runtime!.connectionIds()).toHaveLength(1);
    client.socket.close();
  });
});
