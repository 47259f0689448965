import type { Context } from 'aws-lambda';
import WebSocket from 'ws';
import { parseConfig } from '../../lambdas/config/load.js';
import { TABLES, type TableNames } from '../../protocol/tables.js';
import { FUNCTIONS } from '../../protocol/routes.js';
import type { InvocationLogEntry, LambdaHandler } from '../../local/lambda/functions.js';
import { startLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../../local/runtime.js';

/**
 * The local runtime in front of small recording handlers instead of the service's, so
 * the emulation itself is what a test observes: which events each function received,
 * and what the client saw.
 */

export type RecordedEvent = any;

export const ALLOW_CONTEXT = { userId: 'alice', roles: 'admin,staff' };

/** Handlers that answer as the real ones would in the common case. */
function defaultHandlers(): Record<string, LambdaHandler> {
  const reply =
    (routeKey: string): LambdaHandler =>
    async (event) => ({
      statusCode: 200,
      body: JSON.stringify({ route: routeKey, body: event.body }),
    });
  return {
    Authorizer: async (event) => ({
      principalId: 'alice',
      policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }] },
      context: ALLOW_CONTEXT,
    }),
    Connect: async () => ({ statusCode: 200 }),
    Disconnect: async () => ({ statusCode: 200 }),
    Default: reply('$default'),
    Subscribe: reply('subscribe'),
    Unsubscribe: reply('unsubscribe'),
    Heartbeat: reply('heartbeat'),
    Presence: reply('presence'),
    Recover: reply('recover'),
    Stats: reply('stats'),
    Welcome: async () => ({ delivered: false }),
    Fanout: async (event) => ({ records: Object.values(event.records as Record<string, unknown[]>).flat().length }),
    Cleanup: async () => ({ closed: 0 }),
  };
}

export class Recorder {
  readonly events = new Map<string, RecordedEvent[]>();
  readonly contexts = new Map<string, Context[]>();
  readonly invocations: InvocationLogEntry[] = [];
  readonly #behaviour: Record<string, LambdaHandler>;
  readonly #waiters: { functionId: string; predicate: (event: RecordedEvent) => boolean; resolve: (event: RecordedEvent) => void }[] = [];

  constructor(overrides: Partial<Record<string, LambdaHandler>> = {}) {
    this.#behaviour = { ...defaultHandlers(), ...(overrides as Record<string, LambdaHandler>) };
  }

  /** Handlers for every function of the route table, each recording what it receives. */
  handlers(): Record<string, LambdaHandler> {
    return Object.fromEntries(
      FUNCTIONS.map((definition) => [
        definition.id,
        async (event: RecordedEvent, context: Context) => {
          this.#record(definition.id, event, context);
          return this.#behaviour[definition.id]!(event, context);
        },
      ]),
    );
  }

  of(functionId: string): RecordedEvent[] {
    return this.events.get(functionId) ?? [];
  }

  /** The first event (recorded or still to come) of a function that matches. */
  next(functionId: string, predicate: (event: RecordedEvent) => boolean = () => true): Promise<RecordedEvent> {
    const recorded = this.of(functionId).find(predicate);
    if (recorded) return Promise.resolve(recorded);
    return new Promise((resolve) => this.#waiters.push({ functionId, predicate, resolve }));
  }

  /** The `$disconnect` event of a connection, once it has run. */
  disconnectOf(connectionId: string): Promise<RecordedEvent> {
    return this.next('Disconnect', (event) => event.requestContext.connectionId === connectionId);
  }

  #record(functionId: string, event: RecordedEvent, context: Context): void {
    const list = this.events.get(functionId) ?? [];
    list.push(event);
    this.events.set(functionId, list);
    const contexts = this.contexts.get(functionId) ?? [];
    contexts.push(context);
    this.contexts.set(functionId, contexts);
    for (const waiter of [...this.#waiters]) {
      if (waiter.functionId === functionId && waiter.predicate(event)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  }
}

/** Table names nothing reads: the recording handlers never touch DynamoDB. */
export const UNUSED_TABLES = Object.fromEntries(TABLES.map((table) => [table.id, `unused-${table.id}`])) as TableNames;

export interface Emulator {
  readonly runtime: LocalRuntime;
  readonly recorder: Recorder;
  readonly notices: { message: string; fields?: Record<string, unknown> }[];
}

export async function startEmulator(overrides: Partial<Record<string, LambdaHandler>> = {}, options: Partial<LocalRuntimeOptions> = {}): Promise<Emulator> {
  const recorder = new Recorder(overrides);
  const notices: Emulator['notices'] = [];
  const runtime = await startLocalRuntime({
    port: 0,
    config: parseConfig({}),
    dynamodbEndpoint: 'http://127.0.0.1:9',
    tables: UNUSED_TABLES,
    jwtSecret: 'emulator-test-secret',
    cleanupIntervalMs: 0,
    handlers: recorder.handlers(),
    logInvocation: (entry) => recorder.invocations.push(entry),
    notice: (message, fields) => notices.push({ message, fields }),
    ...options,
  });
  return { runtime, recorder, notices };
}

/** A real `ws` client that keeps what it received, and how the handshake or the socket ended. */
export class EmulatorClient {
  readonly frames: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #frameWaiters: ((frame: string) => void)[] = [];
  #read = 0;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.frames.push(data.toString());
      const waiter = this.#frameWaiters.shift();
      if (waiter) waiter(this.frames[this.#read++]!);
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Opens a connection; rejects with the HTTP status when the handshake is refused. */
  static connect(url: string, protocols?: string[]): Promise<EmulatorClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, protocols);
      const client = new EmulatorClient(socket);
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => reject(new HandshakeRefusedError(response.statusCode ?? 0, body, response.headers)));
      });
      socket.once('error', (error) => reject(error));
    });
  }

  /** The next frame not read yet. */
  nextFrame(): Promise<string> {
    if (this.#read < this.frames.length) return Promise.resolve(this.frames[this.#read++]!);
    return new Promise((resolve) => this.#frameWaiters.push(resolve));
  }

  async nextJson(): Promise<RecordedEvent> {
    return JSON.parse(await this.nextFrame());
  }
}

export class HandshakeRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: Record<string, string | string[] | undefined>,
  ) {
    super(`handshake refused with HTTP ${status}`);
    this.name = 'HandshakeRefusedError';
  }
}

/** The handshake's refusal, or a failure when it succeeded. */
export async function refusal(connecting: Promise<EmulatorClient>): Promise<HandshakeRefusedError> {
  try {
    const client = await connecting;
    client.socket.terminate();
  } catch (error) {
    if (error instanceof HandshakeRefusedError) return error;
    throw error;
  }
  throw new Error('the handshake succeeded');
}
