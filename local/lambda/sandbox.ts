import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';

/** What the freeze reports to a request the timed-out invocation makes or still has open. */
export class SandboxFrozenError extends Error {
  readonly code = 'ERR_LAMBDA_SANDBOX_FROZEN';
  constructor(functionName: string, requestId: string, timeoutMs: number) {
    super(
      `${functionName} invocation ${requestId} timed out after ${(timeoutMs / 1000).toFixed(2)} seconds and Lambda froze its sandbox: this HTTP request never leaves`,
    );
    this.name = 'SandboxFrozenError';
  }
}

export interface InvocationSandboxProps {
  readonly functionName: string;
  readonly requestId: string;
  readonly timeoutMs: number;
}

const current = new AsyncLocalStorage<InvocationSandbox>();
let listening = false;

// 'http.client.request.start' is published from ClientRequest's constructor, in the
// async context of the code that made the request: the AWS SDK's DynamoDB and Lambda
// calls and the Management API sender all go through node:http(s), so this one channel
// sees every request a handler makes.
function listen(): void {
  if (listening) return;
  listening = true;
  subscribe('http.client.request.start', (message) => {
    current.getStore()?.admit((message as { request: ClientRequest }).request);
  });
}

/**
 * One invocation's share of the process, as the sandbox Lambda would give it. In Lambda a
 * handler that outlives its timeout is stopped with its sandbox: it sends nothing more,
 * and requests it had open never complete. Here the handler's promise cannot be stopped,
 * so its network is: after {@link freeze}, every HTTP request started from the
 * invocation's async context is destroyed before any of it is written, and those still open
 * are destroyed at once. Without this a timed-out fan-out worker would go on posting
 * beside the retry that replaced it, which AWS never does.
 */
export class InvocationSandbox {
  readonly #props: InvocationSandboxProps;
  readonly #open = new Set<ClientRequest>();
  #frozen = false;

  constructor(props: InvocationSandboxProps) {
    this.#props = props;
    listen();
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  /** Runs `work` (the handler) so that the requests it makes, however deep, belong to this invocation. */
  run<T>(work: () => T): T {
    return current.run(this, work);
  }

  /** The invocation timed out: its open requests fail now, and later ones never start. */
  freeze(): void {
    this.#frozen = true;
    const open = [...this.#open];
    this.#open.clear();
    for (const request of open) request.destroy(this.#error());
  }

  /** Called for each request made in this invocation's context. */
  admit(request: ClientRequest): void {
    if (this.#frozen) {
      request.destroy(this.#error());
      return;
    }
    this.#open.add(request);
    request.once('close', () => this.#open.delete(request));
  }

  #error(): SandboxFrozenError {
    const { functionName, requestId, timeoutMs } = this.#props;
    return new SandboxFrozenError(functionName, requestId, timeoutMs);
  }
}
