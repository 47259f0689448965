import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { FUNCTIONS, type FunctionDefinition } from '../../protocol/routes.js';
import { createLambdaContext } from './context.js';
import { importModuleError, runInSandbox, type InvocationOutcome, type LambdaHandler, type LoadedHandler } from './invocation.js';
import { InvocationSandbox } from './sandbox.js';
import { WorkerHandlers } from './worker-handlers.js';

export type { FunctionError, InvocationOutcome, LambdaHandler } from './invocation.js';

/** The one log line per invocation. */
export interface InvocationLogEntry {
  readonly function: string;
  readonly route?: string;
  readonly connectionId?: string;
  /** The result's statusCode, the authorizer's policy effect, 'ok', or 'error'. */
  readonly status: number | string;
  readonly durationMs: number;
  readonly requestId: string;
  readonly error?: string;
}

/** Where an invocation came from, for its log line. */
export interface InvocationOrigin {
  readonly route?: string;
  readonly connectionId?: string;
}

export interface LocalFunctionsOptions {
  /** Project root; handler entries in the route table are relative to it. */
  readonly projectRoot: string;
  /** Handlers to use instead of importing a function's entry (tests). */
  readonly handlers?: Partial<Record<string, LambdaHandler>>;
  /** @default 30_000 for every function */
  readonly timeoutsMs?: Partial<Record<string, number>>;
  readonly log: (entry: InvocationLogEntry) => void;
  /**
   * Run the route table's handlers in a worker thread that {@link LocalFunctions.reload}
   * replaces, so changed code runs on the next invocation (`npm run dev`).
   * @default false - imported into this process once, as a warm Lambda keeps them
   */
  readonly reloadable?: boolean;
}

export const DEFAULT_FUNCTION_TIMEOUT_MS = 30_000;

/** The function id a Lambda Invoke names: an id, or an ARN / partial ARN ending in it. */
export function functionIdFromName(name: string): string {
  const match = /(?:^|:)function:([^:]+)(?::[^:]+)?$/.exec(name);
  return match ? match[1]! : name;
}

function statusOf(outcome: InvocationOutcome): number | string {
  if (!outcome.ok) return 'error';
  const result = outcome.result as { statusCode?: unknown; policyDocument?: { Statement?: Array<{ Effect?: unknown }> } } | undefined | null;
  if (typeof result?.statusCode === 'number') return result.statusCode;
  const effect = result?.policyDocument?.Statement?.[0]?.Effect;
  if (typeof effect === 'string') return effect;
  return 'ok';
}

/**
 * The functions of the route table, run in this process as Lambda would run them:
 * the entry module is imported once (the cold start), each invocation gets its own
 * Context and is cut at the function's timeout (its sandbox frozen: it sends nothing
 * more), and an error becomes a function error rather than an exception. The process environment must be set before the first
 * invocation, since handler modules read it when they load.
 */
export class LocalFunctions {
  readonly #options: LocalFunctionsOptions;
  readonly #definitions = new Map<string, FunctionDefinition>(FUNCTIONS.map((definition) => [definition.id, definition]));
  readonly #loaded = new Map<string, Promise<LambdaHandler>>();
  readonly #workers: WorkerHandlers | undefined;

  constructor(options: LocalFunctionsOptions) {
    this.#options = options;
    this.#workers = options.reloadable ? new WorkerHandlers() : undefined;
  }

  /**
   * Invocations that start from now on run the handlers' code as it is on disk now; those
   * under way finish on the code they started with. Only for `reloadable` functions.
   */
  reload(): void {
    if (!this.#workers) throw new Error('reload() needs LocalFunctions created with reloadable: true');
    this.#workers.reload();
  }

  /** Ends the handler worker threads, if any (invocations still running there fail). */
  async close(): Promise<void> {
    await this.#workers?.close();
  }

  /** The definition a function name (id or ARN) refers to, if any. */
  definition(name: string): FunctionDefinition | undefined {
    return this.#definitions.get(functionIdFromName(name));
  }

  /** Runs a function to completion; never rejects. */
  async invoke(id: string, event: unknown, origin: InvocationOrigin = {}): Promise<InvocationOutcome> {
    const timeoutMs = this.#options.timeoutsMs?.[id] ?? DEFAULT_FUNCTION_TIMEOUT_MS;
    const context = createLambdaContext({ functionName: id, timeoutMs });
    const startedAt = performance.now();
    const outcome = await this.#run(id, event, context, timeoutMs);
    this.#options.log({
      function: id,
      ...(origin.route !== undefined ? { route: origin.route } : {}),
      ...(origin.connectionId !== undefined ? { connectionId: origin.connectionId } : {}),
      status: statusOf(outcome),
      durationMs: Math.round((performance.now() - startedAt) * 10) / 10,
      requestId: context.awsRequestId,
      ...(outcome.ok ? {} : { error: `${outcome.error.errorType}: ${outcome.error.errorMessage}` }),
    });
    return outcome;
  }

  async #run(id: string, event: unknown, context: Context, timeoutMs: number): Promise<InvocationOutcome> {
    let handler: LoadedHandler;
    try {
      handler = await this.#handler(id);
    } catch (error) {
      return { ok: false, error: importModuleError(error) };
    }
    let timer: NodeJS.Timeout | undefined;
    const running = handler.start(event, context, timeoutMs);
    // Lambda stops a function at its timeout; here the handler's promise runs on, so its
    // sandbox is frozen instead (no request of it goes out any more), and its caller gets
    // the timeout error Lambda would report.
    const timedOut = new Promise<InvocationOutcome>((resolveTimeout) => {
      timer = setTimeout(() => {
        running.freeze();
        resolveTimeout({
          ok: false,
          error: { errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds` },
        });
      }, timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([running.outcome, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #handler(id: string): Promise<LoadedHandler> {
    const injected = this.#options.handlers?.[id];
    if (injected) return inThisProcess(id, injected);
    if (this.#workers) return this.#workers.load(this.#entryUrl(id));
    return inThisProcess(id, await this.#imported(id));
  }

  #imported(id: string): Promise<LambdaHandler> {
    let loading = this.#loaded.get(id);
    if (!loading) {
      loading = this.#import(id);
      this.#loaded.set(id, loading);
      // A module that failed to load is retried on the next invocation, as a new sandbox would.
      loading.catch(() => this.#loaded.delete(id));
    }
    return loading;
  }

  #entryUrl(id: string): string {
    const definition = this.#definitions.get(id);
    if (!definition) throw new Error(`${id}: not a function of the route table`);
    return pathToFileURL(resolve(this.#options.projectRoot, definition.entry)).href;
  }

  async #import(id: string): Promise<LambdaHandler> {
    const url = this.#entryUrl(id);
    const definition = this.#definitions.get(id)!;
    const module = (await import(url)) as { handler?: unknown };
    if (typeof module.handler !== 'function') {
      throw new Error(`${definition.entry}: exports no function named handler`);
    }
    return module.handler as LambdaHandler;
  }
}

/** A handler that runs in this process, each invocation in a sandbox of its own. */
function inThisProcess(functionName: string, handler: LambdaHandler): LoadedHandler {
  return {
    start(event, context, timeoutMs) {
      const sandbox = new InvocationSandbox({ functionName, requestId: context.awsRequestId, timeoutMs });
      return { outcome: runInSandbox(handler, event, context, sandbox), freeze: () => sandbox.freeze() };
    },
  };
}
