import WebSocket from 'ws';
import type { WebSocketConstructor, WebSocketLike } from '../../client/index.js';

/** One frame as it crossed a client's socket. */
export interface WireEntry {
  /** ms since the run started. */
  readonly at: number;
  readonly direction: 'in' | 'out';
  /** Which of the client's sockets (1, 2, ... in the order they were opened). */
  readonly socket: number;
  readonly frame: Record<string, any>;
}

export interface ObservedSocketOptions {
  /** Receives every frame in and out, parsed. */
  readonly record: (entry: WireEntry) => void;
  /** ms since the run started. */
  readonly now: () => number;
  /**
   * Hides stream positions from the SDK (`stream` / `offset` / `epoch` on notifications,
   * `streams` in welcome and heartbeat answers): it then behaves as against a service
   * without them, recovering only `since` a time after a reconnect. For checking that the
   * run fails without continuity.
   */
  readonly hidePositions?: boolean;
}

/**
 * A `WebSocketConstructor` for the SDK's `WebSocket` option: the `ws` package, with every
 * frame recorded as the SDK sent or received it (the SDK itself keeps no trace of the
 * `recover` it sent or the `recovered` it got).
 */
export function observedWebSocket(options: ObservedSocketOptions): WebSocketConstructor {
  let sockets = 0;
  return class ObservedSocket implements WebSocketLike {
    readonly #inner: WebSocket;
    readonly #id = ++sockets;
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: { code: number; reason: string }) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;

    constructor(url: string, protocols?: string | string[]) {
      this.#inner = new WebSocket(url, protocols);
      this.#inner.onopen = (event) => this.onopen?.(event);
      this.#inner.onclose = (event) => this.onclose?.({ code: event.code, reason: event.reason });
      this.#inner.onerror = (event) => this.onerror?.(event);
      this.#inner.onmessage = (event) => {
        const text = typeof event.data === 'string' ? event.data : String(event.data);
        let frame: Record<string, any> | undefined;
        try {
          frame = JSON.parse(text) as Record<string, any>;
        } catch {
          // Not JSON: the SDK reports it; nothing to record.
        }
        if (frame) options.record({ at: options.now(), direction: 'in', socket: this.#id, frame });
        this.onmessage?.({ data: frame && options.hidePositions ? JSON.stringify(withoutPositions(frame)) : text });
      };
    }

    get readyState(): number {
      return this.#inner.readyState;
    }

    get protocol(): string {
      return this.#inner.protocol;
    }

    send(data: string): void {
      try {
        options.record({ at: options.now(), direction: 'out', socket: this.#id, frame: JSON.parse(data) as Record<string, any> });
      } catch {
        // The SDK sends JSON only.
      }
      this.#inner.send(data);
    }

    close(code?: number, reason?: string): void {
      this.#inner.close(code, reason);
    }

    // What the SDK's transport uses of `ws` to read a refused handshake's status.
    on(event: 'unexpected-response', listener: (request: unknown, response: { statusCode?: number; resume(): void }) => void): void {
      this.#inner.on(event, listener as never);
    }

    terminate(): void {
      this.#inner.terminate();
    }
  };
}

function withoutPositions(frame: Record<string, any>): Record<string, any> {
  if (frame.type === 'notification') {
    const { stream: _stream, offset: _offset, epoch: _epoch, ...rest } = frame;
    return rest;
  }
  if ((frame.type === 'welcome' || frame.type === 'heartbeat') && frame.payload && typeof frame.payload === 'object') {
    const { streams: _streams, ...payload } = frame.payload as Record<string, unknown>;
    return { ...frame, payload };
  }
  return frame;
}
