import { Worker } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import type { FromHandlerThread, ToHandlerThread } from './handler-thread.js';
import type { FunctionError, InvocationOutcome, LoadedHandler, RunningInvocation } from './invocation.js';

// The worker imports the handlers' TypeScript itself: the hooks `tsx` put in this thread
// do not reach a worker's imports on Node 20, so the worker registers tsx's first.
// (Resolved when the first worker starts: tsx is a devDependency, needed only then.)
function bootstrap(): string {
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const thread = new URL('./handler-thread.ts', import.meta.url).href;
  return `import(${JSON.stringify(tsxApi)}).then((tsx) => tsx.register()).then(() => import(${JSON.stringify(thread)}))`;
}

/** A load that failed in the worker, with the worker's own message and trace. */
function loadError(error: FunctionError): Error {
  const failure = new Error(error.errorMessage);
  if (error.trace) failure.stack = error.trace.join('\n');
  return failure;
}

/** One worker thread and what it has in flight. */
class HandlerThread {
  readonly #worker: Worker;
  readonly #loads = new Map<number, { resolve(): void; reject(error: Error): void }>();
  readonly #invocations = new Map<number, (outcome: InvocationOutcome) => void>();
  readonly #loaded = new Map<string, Promise<void>>();
  readonly #onExit: () => void;
  #nextId = 0;
  #retired = false;
  #exited = false;
  #crash: Error | undefined;

  constructor(onExit: () => void) {
    this.#onExit = onExit;
    this.#worker = new Worker(bootstrap(), { eval: true });
    this.#worker.on('message', (message: FromHandlerThread) => this.#receive(message));
    // An exception no invocation caught ends the worker, as it ends a Lambda sandbox.
    this.#worker.on('error', (error) => (this.#crash = error));
    this.#worker.on('exit', (code) => this.#exit(code));
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** The entry modules this thread has loaded or is loading. */
  loadedUrls(): string[] {
    return [...this.#loaded.keys()];
  }

  /** Imports a function's entry module, once per thread. */
  load(url: string): Promise<void> {
    let loading = this.#loaded.get(url);
    if (!loading) {
      const loadId = this.#nextId++;
      loading = new Promise<void>((resolve, reject) => this.#loads.set(loadId, { resolve, reject }));
      this.#loaded.set(url, loading);
      loading.catch(() => this.#loaded.delete(url));
      this.#post({ type: 'load', loadId, url });
    }
    return loading;
  }

  invoke(url: string, event: unknown, context: Context, timeoutMs: number): RunningInvocation {
    const invocationId = this.#nextId++;
    const outcome = new Promise<InvocationOutcome>((resolve) => this.#invocations.set(invocationId, resolve));
    this.#post({
      type: 'invoke',
      invocationId,
      url,
      event,
      functionName: context.functionName,
      awsRequestId: context.awsRequestId,
      timeoutMs,
      remainingMs: context.getRemainingTimeInMillis(),
    });
    return {
      outcome,
      freeze: () => {
        // The runtime no longer waits for it: a retired thread need not either.
        this.#invocations.delete(invocationId);
        this.#post({ type: 'freeze', invocationId });
        this.#endIfIdle();
      },
    };
  }

  /** No new work comes to this thread; it ends once what it has in flight is done. */
  retire(): void {
    this.#retired = true;
    this.#endIfIdle();
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }

  #post(message: ToHandlerThread): void {
    if (this.#exited) {
      this.#exit(undefined);
      return;
    }
    this.#worker.postMessage(message);
  }

  #receive(message: FromHandlerThread): void {
    if (message.type === 'loaded') {
      const load = this.#loads.get(message.loadId);
      this.#loads.delete(message.loadId);
      if (message.error) load?.reject(loadError(message.error));
      else load?.resolve();
    } else {
      this.#invocations.get(message.invocationId)?.(message.outcome);
      this.#invocations.delete(message.invocationId);
    }
    this.#endIfIdle();
  }

  #endIfIdle(): void {
    if (!this.#retired) return;
    // Deferred: a caller whose load just resolved starts its invocation in the same turn.
    setImmediate(() => {
      if (this.#retired && !this.#exited && this.#loads.size === 0 && this.#invocations.size === 0) void this.#worker.terminate();
    });
  }

  /** Whatever was still in flight fails as Lambda fails it when the runtime process exits. */
  #exit(code: number | undefined): void {
    const firstExit = !this.#exited;
    this.#exited = true;
    const reason = this.#crash ? `${this.#crash.name}: ${this.#crash.message}` : `exit code ${code ?? 'unknown'}`;
    const error: FunctionError = { errorType: 'Runtime.ExitError', errorMessage: `the handler worker thread ended (${reason})` };
    for (const load of this.#loads.values()) load.reject(loadError(error));
    for (const settle of this.#invocations.values()) settle({ ok: false, error });
    this.#loads.clear();
    this.#invocations.clear();
    if (firstExit) this.#onExit();
  }
}

/**
 * The route table's handlers, run in a worker thread rather than in the runtime's own
 * process, so that their code can be reloaded: {@link reload} starts a new thread,
 * which imports every module fresh, for the next invocations, while the old thread
 * finishes those it has in flight and then ends. The runtime's sockets, servers and
 * DynamoDB are untouched. A thread starts on the first load after a reload (a cold start).
 */
export class WorkerHandlers {
  #current: HandlerThread | undefined;
  readonly #threads = new Set<HandlerThread>();

  /** The handler of a function's entry module, loaded in the current thread. */
  async load(url: string): Promise<LoadedHandler> {
    const thread = this.#thread();
    await thread.load(url);
    return { start: (event, context, timeoutMs) => thread.invoke(url, event, context, timeoutMs) };
  }

  /**
   * Invocations from now on run in a new thread, with the code as it is on disk now. The
   * new thread loads at once the functions the old one had loaded, so the next invocation
   * after a save does not wait for their cold start; one that fails to load fails again,
   * and is reported, on its invocation.
   */
  reload(): void {
    const warm = this.#current?.loadedUrls() ?? [];
    this.#current?.retire();
    this.#current = undefined;
    if (warm.length === 0) return;
    const thread = this.#thread();
    for (const url of warm) thread.load(url).catch(() => {});
  }

  /** Ends every thread, whatever it has in flight. */
  async close(): Promise<void> {
    this.#current = undefined;
    await Promise.all([...this.#threads].map((thread) => thread.terminate()));
  }

  #thread(): HandlerThread {
    if (!this.#current || this.#current.exited) {
      const thread: HandlerThread = new HandlerThread(() => {
        this.#threads.delete(thread);
        if (this.#current === thread) this.#current = undefined;
      });
      this.#threads.add(thread);
      this.#current = thread;
    }
    return this.#current;
  }
}
