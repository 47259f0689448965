import { serverFrame, type ServerFrame, type WelcomePayload } from '../protocol/frames.js';
import { formatZodIssues } from '../protocol/zod-issues.js';
import { NotificationClientError } from './errors.js';
import { OPEN, openSocket, type WebSocketConstructor, type WebSocketLike } from './transport.js';

export interface ConnectionEvents {
  /**
   * A frame that passed the protocol's schema, once {@link Connection.start} was called:
   * those that came before it (before `welcome` too) first, in arrival order.
   */
  frame(connection: Connection, frame: ServerFrame): void;
  /** Text that is not a protocol frame (API Gateway's own `Internal server error` is one). */
  invalidFrame(connection: Connection, text: string, reason: string): void;
  /** The socket closed after `welcome`; not called for one closed before. */
  closed(connection: Connection, code: number, reason: string): void;
}

export interface ConnectionOptions {
  readonly WebSocket: WebSocketConstructor;
  readonly url: string;
  readonly token: string;
  readonly protocols: readonly string[];
  /** How long the handshake and `welcome` may take together. */
  readonly welcomeTimeoutMs: number;
  readonly events: ConnectionEvents;
}

/** Most frames kept while a connection waits for its welcome or its start; more are reported and dropped. */
export const MAX_EARLY_FRAMES = 1000;

/**
 * The WebSocket URL with the token in `?token=`, where the authorizer looks for it, and
 * `dedupe=1`: this client drops duplicates by position, so the service may post again
 * what it is unsure it posted (docs/protocol.md section 11, "Duplicates").
 */
export function connectUrl(url: string, token: string): string {
  const target = new URL(url);
  target.searchParams.set('token', token);
  target.searchParams.set('dedupe', '1');
  return target.toString();
}

/**
 * One WebSocket connection: it is ready when the server's `welcome` arrives, and it
 * reports its close once, at the moment the SDK gives it up (not when the close
 * handshake ends), so a dead socket can never deliver into a newer one's state.
 */
export class Connection {
  welcome: WelcomePayload | undefined;
  /** Resolves with `welcome`; rejects when the handshake is refused, the socket closes first, or it takes too long. */
  readonly ready: Promise<WelcomePayload>;
  readonly #socket: WebSocketLike;
  readonly #events: ConnectionEvents;
  /**
   * Frames received before {@link start}: a notification can overtake the welcome (both are
   * posted by different functions), and the client reads the welcome before what follows.
   */
  #early: ServerFrame[] | undefined = [];
  #closed = false;
  #settleReady!: (outcome: { welcome: WelcomePayload } | { error: NotificationClientError }) => void;

  constructor(options: ConnectionOptions) {
    this.#events = options.events;
    this.ready = new Promise((resolve, reject) => {
      this.#settleReady = (outcome) => ('welcome' in outcome ? resolve(outcome.welcome) : reject(outcome.error));
    });
    // Unhandled until the caller awaits it; the outcome is never lost.
    this.ready.catch(() => {});
    const { socket, handshakeStatus } = openSocket(options.WebSocket, connectUrl(options.url, options.token), options.protocols);
    this.#socket = socket;

    const welcomeTimer = setTimeout(() => {
      this.#fail(new NotificationClientError('TIMEOUT', `no welcome within ${options.welcomeTimeoutMs} ms`));
    }, options.welcomeTimeoutMs);

    socket.onmessage = (event) => {
      if (this.#closed) return;
      const text = typeof event.data === 'string' ? event.data : undefined;
      const frame = text === undefined ? undefined : parseFrame(text);
      if (!frame?.ok) {
        this.#events.invalidFrame(this, text ?? '<binary>', frame?.reason ?? 'a binary frame');
        return;
      }
      if (!this.welcome && frame.value.type === 'welcome') {
        clearTimeout(welcomeTimer);
        this.welcome = frame.value.payload;
        this.#settleReady({ welcome: frame.value.payload });
        return;
      }
      if (!this.welcome && frame.value.type === 'disconnect') {
        // `unregistered`: the connection was gone before its welcome; no welcome follows.
        this.#fail(
          new NotificationClientError('HANDSHAKE_FAILED', `the server disconnected before welcome (${frame.value.payload.reason})`, {
            reason: frame.value.payload.reason,
          }),
        );
        return;
      }
      if (this.#early) {
        if (this.#early.length < MAX_EARLY_FRAMES) this.#early.push(frame.value);
        else this.#events.invalidFrame(this, text!, `more than ${MAX_EARLY_FRAMES} frames before welcome; dropped`);
        return;
      }
      this.#events.frame(this, frame.value);
    };
    socket.onclose = (event) => {
      clearTimeout(welcomeTimer);
      if (this.#closed) return;
      if (!this.welcome) {
        this.#fail(refusal(handshakeStatus(), event.code));
        return;
      }
      this.#markClosed(event.code, event.reason);
    };
    // Every error is followed by a close event, which carries what can be known.
    socket.onerror = () => {};
  }

  get connectionId(): string | undefined {
    return this.welcome?.connectionId;
  }

  get isOpen(): boolean {
    return !this.#closed && this.#socket.readyState === OPEN;
  }

  /**
   * Delivers the frames kept so far, in arrival order, then every frame as it comes. Called
   * once the client has read the welcome: frames before it are not lost, and not reordered.
   */
  start(): void {
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const frame of early) {
      if (this.#closed) return;
      this.#events.frame(this, frame);
    }
  }

  /** Sends one frame; false when the socket is no longer open. */
  send(frame: Record<string, unknown>): boolean {
    if (!this.isOpen) return false;
    this.#socket.send(JSON.stringify(frame));
    return true;
  }

  /** Closes the socket and reports the close now, without waiting for the close handshake. */
  close(code = 1000, reason = ''): void {
    if (this.#closed) return;
    try {
      this.#socket.close(code, reason);
    } catch {
      // Already closing: the close is reported below all the same.
    }
    if (this.welcome) this.#markClosed(code, reason);
    else this.#fail(new NotificationClientError('CLOSED', reason || 'closed before welcome'));
  }

  #fail(error: NotificationClientError): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#socket.close();
    } catch {
      // A socket still connecting may refuse close(); it is abandoned either way.
    }
    this.#settleReady({ error });
  }

  #markClosed(code: number, reason: string): void {
    this.#closed = true;
    this.#events.closed(this, code, reason);
  }
}

function parseFrame(text: string): { ok: true; value: ServerFrame } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const parsed = serverFrame.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, reason: formatZodIssues(parsed.error, { limit: 1, root: 'frame' })[0] ?? 'not a protocol frame' };
}

/** Why a socket closed before `welcome`, as the SDK reports it. */
function refusal(status: number | undefined, closeCode: number): NotificationClientError {
  if (status === 401 || status === 403) {
    return new NotificationClientError('AUTH_REJECTED', `the server refused the token (HTTP ${status})`, { status });
  }
  if (status !== undefined) {
    return new NotificationClientError('HANDSHAKE_FAILED', `the server refused the connection (HTTP ${status})`, { status });
  }
  // Browsers do not expose the status of a refused handshake.
  return new NotificationClientError('HANDSHAKE_FAILED', `the connection closed before welcome (close code ${closeCode})`, { closeCode });
}
