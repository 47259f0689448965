import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { FUNCTIONS, type FunctionDefinition } from '../../lambdas/routes.js';
import { createLambdaContext } from './context.js';
import { InvocationSandbox } from './sandbox.js';

/** A Lambda entry point as the handler modules export it. */
export type LambdaHandler = (event: any, context: Context) => unknown;

/** What Lambda reports of a failed invocation (the body of a function error). */
export interface FunctionError {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace?: readonly string[];
}

export type InvocationOutcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: FunctionError };

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
}

export const DEFAULT_FUNCTION_TIMEOUT_MS = 30_000;

/** The function id a Lambda Invoke names: an id, or an ARN / partial ARN ending in it. */
export function functionIdFromName(name: string): string {
  const match = /(?:^|:)function:([^:]+)(?::[^:]+)?$/.exec(name);
  return match ? match[1]! : name;
}

function toFunctionError(error: unknown): FunctionError {
  if (error instanceof Error) {
    return { errorType: error.name || 'Error', errorMessage: error.message, trace: error.stack?.split('\n') };
  }
  return { errorType: 'Error', errorMessage: String(error) };
}

function statusOf(outcome: InvocationOutcome): number | string {
  if (!outcome.ok) return 'error';
  const result = outcome.result as
    | { statusCode?: unknown; policyDocument?: { Statement?: Array<{ Effect?: unknown }> } }
    | undefined
    | null;
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

  constructor(options: LocalFunctionsOptions) {
    this.#options = options;
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
    let handler: LambdaHandler;
    try {
      handler = await this.#handler(id);
    } catch (error) {
      const cause = toFunctionError(error);
      return { ok: false, error: { errorType: 'Runtime.ImportModuleError', errorMessage: cause.errorMessage, trace: cause.trace } };
    }
    let timer: NodeJS.Timeout | undefined;
    const sandbox = new InvocationSandbox({ functionName: id, requestId: context.awsRequestId, timeoutMs });
    // Lambda stops a function at its timeout; here the handler's promise runs on, so its
    // sandbox is frozen instead (no request of it goes out any more), and its caller gets
    // the timeout error Lambda would report.
    const timedOut = new Promise<InvocationOutcome>((resolveTimeout) => {
      timer = setTimeout(() => {
        sandbox.freeze();
        resolveTimeout({
          ok: false,
          error: { errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds` },
        });
      }, timeoutMs);
      timer.unref();
    });
    const ran = sandbox.run(async (): Promise<InvocationOutcome> => {
      try {
        return { ok: true, result: await handler(structuredClone(event), context) };
      } catch (error) {
        return { ok: false, error: toFunctionError(error) };
      }
    });
    try {
      return await Promise.race([ran, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  #handler(id: string): Promise<LambdaHandler> {
    const injected = this.#options.handlers?.[id];
    if (injected) return Promise.resolve(injected);
    let loading = this.#loaded.get(id);
    if (!loading) {
      loading = this.#import(id);
      this.#loaded.set(id, loading);
      // A module that failed to load is retried on the next invocation, as a new sandbox would.
      loading.catch(() => this.#loaded.delete(id));
    }
    return loading;
  }

  async #import(id: string): Promise<LambdaHandler> {
    const definition = this.#definitions.get(id);
    if (!definition) throw new Error(`${id}: not a function of the route table`);
    const url = pathToFileURL(resolve(this.#options.projectRoot, definition.entry)).href;
    const module = (await import(url)) as { handler?: unknown };
    if (typeof module.handler !== 'function') {
      throw new Error(`${definition.entry}: exports no function named handler`);
    }
    return module.handler as LambdaHandler;
  }
}
