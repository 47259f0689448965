import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Every benchmark, and every server a benchmark measures against, runs in its own Node
 * process: CPU figures (process.cpuUsage) then belong to one side only, and two cores
 * are shared the way a client and a server would share them. The processes talk over
 * Node's IPC channel, and each one exits as soon as that channel closes, so nothing
 * outlives the run, even when the runner is killed.
 */

/** What a child says to its parent. */
export type ChildMessage =
  | { readonly kind: 'ready'; readonly info: unknown }
  | { readonly kind: 'progress'; readonly text: string }
  | { readonly kind: 'reply'; readonly id: number; readonly ok: boolean; readonly value: unknown }
  | { readonly kind: 'result'; readonly value: unknown }
  | { readonly kind: 'failed'; readonly error: string };

/** What a parent asks of its child. */
interface RequestMessage {
  readonly kind: 'request';
  readonly id: number;
  readonly method: string;
  readonly argument: unknown;
}

const TSX_LOADER = import.meta.resolve('tsx');

/** A TypeScript module started as a child process with an IPC channel. */
export class ChildTask {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly #exited: Promise<number | null>;
  readonly #stderr: string[] = [];
  #nextId = 1;
  #ready: Promise<unknown>;
  #result: Promise<unknown>;

  /**
   * @param moduleUrl - `import.meta.url`-relative URL of the module to run.
   * @param input - handed to the child as JSON (`childInput()`).
   * @param onProgress - receives the child's progress lines.
   */
  constructor(moduleUrl: URL, input: unknown, onProgress: (text: string) => void = () => {}) {
    this.#child = fork(fileURLToPath(moduleUrl), [], {
      execArgv: ['--import', TSX_LOADER, '--max-old-space-size=2048'],
      env: { ...process.env, BENCH_CHILD_INPUT: JSON.stringify(input ?? null) },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    // The last lines of stderr explain a crash; the rest is dropped.
    this.#child.stderr?.setEncoding('utf8');
    this.#child.stderr?.on('data', (chunk: string) => {
      this.#stderr.push(chunk);
      if (this.#stderr.length > 50) this.#stderr.shift();
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
    let settleReady!: { resolve: (value: unknown) => void; reject: (error: Error) => void };
    let settleResult!: { resolve: (value: unknown) => void; reject: (error: Error) => void };
    this.#ready = new Promise((resolve, reject) => (settleReady = { resolve, reject }));
    this.#result = new Promise((resolve, reject) => (settleResult = { resolve, reject }));
    // A caller may wait on only one of them; the other must not count as unhandled.
    this.#ready.catch(() => {});
    this.#result.catch(() => {});
    this.#child.on('message', (message: ChildMessage) => {
      switch (message.kind) {
        case 'ready':
          settleReady.resolve(message.info);
          break;
        case 'progress':
          onProgress(message.text);
          break;
        case 'reply': {
          const waiter = this.#pending.get(message.id);
          this.#pending.delete(message.id);
          if (message.ok) waiter?.resolve(message.value);
          else waiter?.reject(new Error(String(message.value)));
          break;
        }
        case 'result':
          settleResult.resolve(message.value);
          break;
        case 'failed':
          settleResult.reject(new Error(message.error));
          settleReady.reject(new Error(message.error));
          break;
      }
    });
    void this.#exited.then((code) => {
      const error = new Error(`${fileURLToPath(moduleUrl)} exited (code ${code}) early:\n${this.#stderr.join('').slice(-2000)}`);
      settleReady.reject(error);
      settleResult.reject(error);
      for (const waiter of this.#pending.values()) waiter.reject(error);
      this.#pending.clear();
    });
  }

  /** What the child announced with `announceReady`. */
  ready<T>(): Promise<T> {
    return this.#ready as Promise<T>;
  }

  /** What the child finished with (`runChildTask`). */
  result<T>(): Promise<T> {
    return this.#result as Promise<T>;
  }

  /** Calls a method the child registered with `serveRequests`. */
  request<T>(method: string, argument?: unknown): Promise<T> {
    const id = this.#nextId++;
    const message: RequestMessage = { kind: 'request', id, method, argument };
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#child.send(message);
    });
  }

  /** Closes the IPC channel (the child exits on it) and waits; kills it after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }
}

// ---- the child's side ----

/** The JSON the parent handed to this process. */
export function childInput<T>(): T {
  return JSON.parse(process.env.BENCH_CHILD_INPUT ?? 'null') as T;
}

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

// When the parent goes (finished, crashed or killed), so does this process.
process.on('disconnect', () => process.exit(0));

/** Tells the parent a progress line. */
export function reportProgress(text: string): void {
  void send({ kind: 'progress', text });
}

/** Tells the parent this server is ready, and how to reach it. */
export function announceReady(info: unknown): Promise<void> {
  return send({ kind: 'ready', info });
}

/** Answers the parent's `request(method, argument)` calls. */
export function serveRequests(methods: Record<string, (argument: unknown) => unknown>): void {
  process.on('message', (message: RequestMessage) => {
    if (message?.kind !== 'request') return;
    const method = methods[message.method];
    Promise.resolve()
      .then(() => {
        if (!method) throw new Error(`no method ${message.method}`);
        return method(message.argument);
      })
      .then(
        (value) => send({ kind: 'reply', id: message.id, ok: true, value: value ?? null }),
        (error: unknown) => send({ kind: 'reply', id: message.id, ok: false, value: describeError(error) }),
      );
  });
}

/**
 * Runs a benchmark body in this child, sends its result, and exits: whatever the body
 * left open (keep-alive sockets, timers) cannot keep the process alive.
 */
export function runChildTask<T>(body: () => Promise<T>): void {
  body().then(
    async (value) => {
      await send({ kind: 'result', value });
      process.exit(0);
    },
    async (error: unknown) => {
      await send({ kind: 'failed', error: describeError(error) });
      process.exit(1);
    },
  );
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}
