/**
 * The WebSocket the SDK talks through: the global one in browsers (and in Node
 * versions that have it), else the `ws` package, imported only then so a browser
 * bundle never includes it.
 */

/** The part of the WHATWG WebSocket interface the SDK uses; `ws` implements it too. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** `ws` reports a refused handshake with its HTTP status; browsers hide it. */
interface NodeWebSocket extends WebSocketLike {
  on(event: 'unexpected-response', listener: (request: unknown, response: { statusCode?: number; resume(): void }) => void): void;
  terminate(): void;
}

export const OPEN = 1;

let nodeWebSocket: Promise<WebSocketConstructor> | undefined;

/** The constructor to use: the one given, the global one, or `ws`'s. */
export async function resolveWebSocket(given?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (given) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return global;
  // Dynamic, and marked external in the browser bundle (local/page/client-bundle.ts):
  // only Node without a global WebSocket ever loads it.
  nodeWebSocket ??= import('ws').then((module) => module.default as unknown as WebSocketConstructor);
  return nodeWebSocket;
}

/**
 * Opens a socket and, where the implementation tells (Node's `ws`), records the HTTP
 * status of a refused handshake (401/403 = the token, 429 = over the per-user limit).
 */
export function openSocket(
  WebSocket: WebSocketConstructor,
  url: string,
  protocols: readonly string[],
): { socket: WebSocketLike; handshakeStatus: () => number | undefined } {
  const socket = new WebSocket(url, [...protocols]);
  let status: number | undefined;
  if (typeof (socket as Partial<NodeWebSocket>).on === 'function') {
    const nodeSocket = socket as NodeWebSocket;
    nodeSocket.on('unexpected-response', (_request, response) => {
      status = response.statusCode;
      response.resume();
      nodeSocket.terminate();
    });
  }
  return { socket, handshakeStatus: () => status };
}
