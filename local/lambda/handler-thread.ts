import { parentPort } from 'node:worker_threads';
import { createLambdaContext } from './context.js';
import { importModuleError, runInSandbox, type FunctionError, type InvocationOutcome, type LambdaHandler } from './invocation.js';
import { InvocationSandbox } from './sandbox.js';

/**
 * The body of a handler worker thread (see {@link WorkerHandlers}): it imports the
 * functions' entry modules when asked, and runs their invocations, each in its own
 * sandbox. Every module the handlers import is loaded fresh in each worker, so a worker
 * started after a file changed runs the changed code.
 */

/** What the runtime asks of the worker. */
export type ToHandlerThread =
  | { readonly type: 'load'; readonly loadId: number; readonly url: string }
  | {
      readonly type: 'invoke';
      readonly invocationId: number;
      readonly url: string;
      readonly event: unknown;
      readonly functionName: string;
      readonly awsRequestId: string;
      readonly timeoutMs: number;
      /** What is left of the timeout when the invocation reaches the worker. */
      readonly remainingMs: number;
    }
  | { readonly type: 'freeze'; readonly invocationId: number };

/** What the worker answers. */
export type FromHandlerThread =
  | { readonly type: 'loaded'; readonly loadId: number; readonly error?: FunctionError }
  | { readonly type: 'outcome'; readonly invocationId: number; readonly outcome: InvocationOutcome };

const port = parentPort;
if (!port) throw new Error('local/lambda/handler-thread.ts runs only as a worker thread');

const handlers = new Map<string, Promise<LambdaHandler>>();
const sandboxes = new Map<number, InvocationSandbox>();

function load(url: string): Promise<LambdaHandler> {
  let loading = handlers.get(url);
  if (!loading) {
    loading = import(url).then((module: { handler?: unknown }) => {
      if (typeof module.handler !== 'function') throw new Error(`${new URL(url).pathname}: exports no function named handler`);
      return module.handler as LambdaHandler;
    });
    handlers.set(url, loading);
    loading.catch(() => handlers.delete(url));
  }
  return loading;
}

const post = (message: FromHandlerThread) => port.postMessage(message);

port.on('message', (message: ToHandlerThread) => {
  switch (message.type) {
    case 'load':
      load(message.url).then(
        () => post({ type: 'loaded', loadId: message.loadId }),
        (error: unknown) => post({ type: 'loaded', loadId: message.loadId, error: importModuleError(error) }),
      );
      return;
    case 'invoke': {
      const { invocationId, functionName, awsRequestId, timeoutMs, remainingMs } = message;
      const context = createLambdaContext({ functionName, timeoutMs: remainingMs, awsRequestId });
      const sandbox = new InvocationSandbox({ functionName, requestId: awsRequestId, timeoutMs });
      sandboxes.set(invocationId, sandbox);
      load(message.url)
        .then(
          (handler) => runInSandbox(handler, message.event, context, sandbox),
          (error: unknown): InvocationOutcome => ({ ok: false, error: importModuleError(error) }),
        )
        .then((outcome) => {
          sandboxes.delete(invocationId);
          post({ type: 'outcome', invocationId, outcome: cloneable(outcome) });
        });
      return;
    }
    case 'freeze':
      sandboxes.get(message.invocationId)?.freeze();
      sandboxes.delete(message.invocationId);
      return;
  }
});

/** A result crosses to the runtime by structured clone; one that cannot is what JSON makes of it (as Lambda serializes it). */
function cloneable(outcome: InvocationOutcome): InvocationOutcome {
  if (!outcome.ok) return outcome;
  try {
    structuredClone(outcome.result);
    return outcome;
  } catch {
    return { ok: true, result: outcome.result === undefined ? undefined : JSON.parse(JSON.stringify(outcome.result)) };
  }
}
