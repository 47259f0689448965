import type { Context } from 'aws-lambda';
import type { InvocationSandbox } from './sandbox.js';

/** A Lambda entry point as the handler modules export it. */
// biome-ignore lint/suspicious/noExplicitAny: each handler declares its own event type; `unknown` would refuse them all
export type LambdaHandler = (event: any, context: Context) => unknown;

/** What Lambda reports of a failed invocation (the body of a function error). */
export interface FunctionError {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace?: readonly string[];
}

export type InvocationOutcome = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: FunctionError };

export function toFunctionError(error: unknown): FunctionError {
  if (error instanceof Error) {
    return { errorType: error.name || 'Error', errorMessage: error.message, trace: error.stack?.split('\n') };
  }
  return { errorType: 'Error', errorMessage: String(error) };
}

/** What Lambda reports when the function's module cannot be loaded (its init failed). */
export function importModuleError(error: unknown): FunctionError {
  const cause = toFunctionError(error);
  return { errorType: 'Runtime.ImportModuleError', errorMessage: cause.errorMessage, trace: cause.trace };
}

/**
 * Runs one invocation of a loaded handler inside its sandbox, so the requests it makes
 * belong to the invocation; a throw becomes a function error, never an exception.
 * The same in this process and in a handler worker thread.
 */
export function runInSandbox(handler: LambdaHandler, event: unknown, context: Context, sandbox: InvocationSandbox): Promise<InvocationOutcome> {
  return sandbox.run(async (): Promise<InvocationOutcome> => {
    try {
      return { ok: true, result: await handler(structuredClone(event), context) };
    } catch (error) {
      return { ok: false, error: toFunctionError(error) };
    }
  });
}

/** One invocation under way: its outcome, and the freeze its timeout applies. */
export interface RunningInvocation {
  readonly outcome: Promise<InvocationOutcome>;
  freeze(): void;
}

/** A function's handler once its module is loaded (the cold start done), ready for invocations. */
export interface LoadedHandler {
  start(event: unknown, context: Context, timeoutMs: number): RunningInvocation;
}
