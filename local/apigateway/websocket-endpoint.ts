import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { AUTHORIZER, ROUTES, type RouteDefinition } from '../../protocol/routes.js';
import type { LocalFunctions } from '../lambda/functions.js';
import { decideAuthorization } from './authorizer-policy.js';
import { CLOSE_CODES, GOING_AWAY_REASON, closeCodeForReceiverError, defaultCloseReason } from './close-codes.js';
import {
  authorizerEvent,
  captureHandshake,
  connectEvent,
  connectMethodArn,
  disconnectEvent,
  messageEvent,
  type AuthorizerContext,
  type ConnectionIdentity,
} from './events.js';
import { apiGatewayId } from './identifiers.js';

/** API Gateway's fixed WebSocket limits, shortened in tests. */
export interface WebSocketLimits {
  /** Close (1001) after this long without a frame from the client. @default 600_000 */
  readonly idleTimeoutMs: number;
  /** Close (1001) this long after the connection opened. @default 7_200_000 */
  readonly maxConnectionMs: number;
  /** Close (1009) on a message larger than this. @default 131_072 */
  readonly messageBytes: number;
}

export const API_GATEWAY_WEBSOCKET_LIMITS: WebSocketLimits = {
  idleTimeoutMs: 600_000,
  maxConnectionMs: 7_200_000,
  messageBytes: 131_072,
};

/** What the Management API's GET answers for a connection. */
export interface ConnectionDescription {
  readonly connectedAt: string;
  readonly identity: { readonly sourceIp: string; readonly userAgent?: string };
  readonly lastActiveAt: string;
}

export type PostResult = 'sent' | 'gone';

/** A runtime message that is not an invocation (a refused handshake, a dropped frame). */
export type Notice = (message: string, fields?: Record<string, unknown>) => void;

export interface WebSocketEndpointOptions {
  readonly functions: LocalFunctions;
  readonly limits: WebSocketLimits;
  readonly apiId: string;
  readonly stage: string;
  /** The port the server listens on (known only once it listens). */
  readonly port: () => number;
  readonly notice: Notice;
}

interface LiveConnection {
  readonly identity: ConnectionIdentity;
  readonly authorizer: AuthorizerContext;
  readonly socket: WebSocket;
  /** Postable: the handshake completed and no close has begun. */
  open: boolean;
  lastActiveAt: number;
  /** The close this side started, or the receiver error that forced one. */
  closing?: { code: number; reason: string };
  readonly idleTimer: NodeJS.Timeout;
  readonly lifetimeTimer: NodeJS.Timeout;
  readonly closed: Promise<void>;
}

const ROUTES_BY_KEY = new Map<string, RouteDefinition>(ROUTES.map((route) => [route.routeKey, route]));

function route(routeKey: string): RouteDefinition {
  const found = ROUTES_BY_KEY.get(routeKey);
  if (!found) throw new Error(`the route table has no ${routeKey} route`);
  return found;
}

/**
 * Route selection for `$request.body.type`: a JSON object whose `type` names a custom
 * route goes there; anything else (not JSON, no `type`, an unknown one) goes to
 * `$default`. `$connect` and `$disconnect` cannot be selected by a message.
 */
export function selectRoute(body: string): RouteDefinition {
  let type: unknown;
  try {
    type = (JSON.parse(body) as { type?: unknown } | null)?.type;
  } catch {
    return route('$default');
  }
  if (typeof type === 'string' && type !== '$connect' && type !== '$disconnect') {
    return ROUTES_BY_KEY.get(type) ?? route('$default');
  }
  return route('$default');
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && typeof value === 'string') return value;
  }
  return undefined;
}

/** Answers a handshake with an HTTP status instead of a socket, as API Gateway does. */
function refuseHandshake(socket: Duplex, status: number, body: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`,
    'Connection: close',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries({ 'Content-Type': 'application/json', ...headers }).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  socket.once('finish', () => socket.destroy());
}

const HOP_BY_HOP = new Set(['connection', 'content-length', 'transfer-encoding', 'upgrade', 'keep-alive']);

function resultHeaders(headers: unknown): Record<string, string> {
  if (typeof headers !== 'object' || headers === null) return {};
  return Object.fromEntries(
    Object.entries(headers).filter(([name, value]) => typeof value === 'string' && !HOP_BY_HOP.has(name.toLowerCase()) && !/[\r\n]/.test(name + value)),
  ) as Record<string, string>;
}

/**
 * The WebSocket side of API Gateway: the handshake runs the authorizer and `$connect`
 * before the socket exists, frames are routed to their functions, API Gateway's limits
 * close connections, and `$disconnect` runs once for every connection that opened.
 */
export class WebSocketEndpoint {
  readonly #options: WebSocketEndpointOptions;
  readonly #server: WebSocketServer;
  readonly #connections = new Map<string, LiveConnection>();
  readonly #chosenProtocols = new WeakMap<IncomingMessage, string>();
  readonly #handshakeSockets = new Set<Duplex>();
  readonly #work = new Set<Promise<unknown>>();
  #stopping = false;

  constructor(options: WebSocketEndpointOptions) {
    this.#options = options;
    this.#server = new WebSocketServer({
      noServer: true,
      maxPayload: options.limits.messageBytes,
      // The subprotocol is the one $connect answered with, whatever the client offered.
      handleProtocols: (_offered, request) => this.#chosenProtocols.get(request) ?? false,
    });
  }

  /** The http server's 'upgrade' listener. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {
      // A client that leaves mid-handshake; the flow below notices the closed socket.
    });
    if (this.#stopping) {
      refuseHandshake(socket, 503, JSON.stringify({ message: 'Service Unavailable' }));
      return;
    }
    this.#track(this.#handshake(request, socket, head));
  }

  /** Sends one text frame; 'gone' when the connection is unknown, not yet open, or closing. */
  post(connectionId: string, data: Buffer): PostResult {
    const connection = this.#connections.get(connectionId);
    if (!connection?.open || connection.socket.readyState !== WebSocket.OPEN) return 'gone';
    connection.socket.send(data, { binary: false });
    return 'sent';
  }

  describe(connectionId: string): ConnectionDescription | undefined {
    const connection = this.#connections.get(connectionId);
    if (!connection?.open) return undefined;
    const { sourceIp, userAgent } = connection.identity;
    return {
      connectedAt: new Date(connection.identity.connectedAt).toISOString(),
      identity: { sourceIp, ...(userAgent !== undefined ? { userAgent } : {}) },
      lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
    };
  }

  /** Closes a connection (its `$disconnect` follows); false when it is unknown or already closing. */
  delete(connectionId: string): boolean {
    const connection = this.#connections.get(connectionId);
    if (!connection?.open) return false;
    this.#close(connection, CLOSE_CODES.normal, defaultCloseReason(CLOSE_CODES.normal));
    return true;
  }

  /** Ids of the connections that are open now. */
  connectionIds(): string[] {
    return [...this.#connections.values()].filter((connection) => connection.open).map((c) => c.identity.connectionId);
  }

  /**
   * Refuses new handshakes, closes every connection with 1001 (a client that does not
   * answer the close is cut after `graceMs`), and waits for every `$disconnect`.
   */
  async stop(graceMs = 1_000): Promise<void> {
    this.#stopping = true;
    for (const socket of this.#handshakeSockets) socket.destroy();
    const connections = [...this.#connections.values()];
    for (const connection of connections) this.#close(connection, CLOSE_CODES.goingAway, GOING_AWAY_REASON);
    const cut = setTimeout(() => {
      for (const connection of connections) connection.socket.terminate();
    }, graceMs);
    cut.unref();
    await Promise.all(connections.map((connection) => connection.closed));
    clearTimeout(cut);
    // Handshakes in flight and $disconnect invocations still running.
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
    this.#server.close();
  }

  #track(work: Promise<unknown>): void {
    this.#work.add(work);
    void work.finally(() => this.#work.delete(work));
  }

  async #handshake(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { functions, notice } = this.#options;
    const url = new URL(request.url ?? '/', 'http://localhost');
    const isWebSocket =
      request.method === 'GET' &&
      request.headers.upgrade?.toLowerCase() === 'websocket' &&
      typeof request.headers['sec-websocket-key'] === 'string' &&
      request.headers['sec-websocket-version'] === '13';
    if (!isWebSocket) {
      refuseHandshake(socket, 400, JSON.stringify({ message: 'Bad Request' }));
      return;
    }
    // Identity source route.request.querystring.token: without it API Gateway answers
    // 401 and never calls the authorizer.
    if (!url.searchParams.get('token')) {
      refuseHandshake(socket, 401, JSON.stringify({ message: 'Unauthorized' }), { 'x-amzn-ErrorType': 'UnauthorizedException' });
      return;
    }
    this.#handshakeSockets.add(socket);
    try {
      const port = this.#options.port();
      const handshake = captureHandshake(request, port);
      const identity: ConnectionIdentity = {
        connectionId: apiGatewayId(),
        connectedAt: Date.now(),
        apiId: this.#options.apiId,
        stage: this.#options.stage,
        domainName: request.headers.host ?? `127.0.0.1:${port}`,
        sourceIp: handshake.sourceIp,
        ...(handshake.userAgent !== undefined ? { userAgent: handshake.userAgent } : {}),
      };
      const origin = { route: '$connect', connectionId: identity.connectionId };

      const authorizedAt = performance.now();
      const authorization = await functions.invoke(AUTHORIZER.id, authorizerEvent(handshake, identity), origin);
      const decision = decideAuthorization(authorization, connectMethodArn(identity), Math.round(performance.now() - authorizedAt));
      if (!decision.allowed) {
        notice('handshake refused by the authorizer', { connectionId: identity.connectionId, status: decision.status, reason: decision.reason });
        const errorType =
          decision.status === 401 ? 'UnauthorizedException' : decision.status === 403 ? 'AccessDeniedException' : 'AuthorizerConfigurationException';
        refuseHandshake(socket, decision.status, JSON.stringify({ message: decision.message }), { 'x-amzn-ErrorType': errorType });
        return;
      }

      const connectRoute = route('$connect');
      const connected = await functions.invoke(connectRoute.id, connectEvent(handshake, identity, decision.authorizer), origin);
      if (!connected.ok) {
        refuseHandshake(socket, 500, JSON.stringify({ message: 'Internal server error' }));
        return;
      }
      const result = connected.result as { statusCode?: unknown; body?: unknown; headers?: unknown } | null | undefined;
      const status = typeof result?.statusCode === 'number' ? result.statusCode : 200;
      if (typeof result?.statusCode !== 'number') {
        // Accepted here; say so, since the deployed handlers should answer with an explicit status.
        notice('$connect returned no statusCode; treated as 200', { connectionId: identity.connectionId });
      }
      if (status < 200 || status > 299) {
        const body = typeof result?.body === 'string' ? result.body : '';
        refuseHandshake(socket, status, body, resultHeaders(result?.headers));
        return;
      }

      // $connect stored the connection; if the client left meanwhile (or the runtime is
      // stopping), API Gateway would report the disconnect so the store forgets it.
      if (this.#stopping || !socket.readable || !socket.writable) {
        socket.destroy();
        await this.#disconnect(identity, decision.authorizer, CLOSE_CODES.abnormal, defaultCloseReason(CLOSE_CODES.abnormal));
        return;
      }
      const protocol = headerValue(result?.headers, 'sec-websocket-protocol');
      if (protocol !== undefined) this.#chosenProtocols.set(request, protocol);
      this.#server.handleUpgrade(request, socket, head, (webSocket) => this.#open(webSocket, identity, decision.authorizer));
    } catch (error) {
      notice('handshake failed', { error: String(error) });
      refuseHandshake(socket, 500, JSON.stringify({ message: 'Internal server error' }));
    } finally {
      this.#handshakeSockets.delete(socket);
    }
  }

  #open(socket: WebSocket, identity: ConnectionIdentity, authorizer: AuthorizerContext): void {
    const { limits } = this.#options;
    let markClosed!: () => void;
    const closed = new Promise<void>((resolveClosed) => (markClosed = resolveClosed));
    const connection: LiveConnection = {
      identity,
      authorizer,
      socket,
      // Postable only from here on: before, a Management API post answers 410.
      open: true,
      lastActiveAt: Date.now(),
      idleTimer: setTimeout(() => this.#close(connection, CLOSE_CODES.goingAway, GOING_AWAY_REASON), limits.idleTimeoutMs).unref(),
      lifetimeTimer: setTimeout(() => this.#close(connection, CLOSE_CODES.goingAway, GOING_AWAY_REASON), limits.maxConnectionMs).unref(),
      closed,
    };
    this.#connections.set(identity.connectionId, connection);

    const touch = () => {
      connection.lastActiveAt = Date.now();
      connection.idleTimer.refresh();
    };
    socket.on('ping', touch);
    socket.on('message', (data: RawData, isBinary: boolean) => {
      touch();
      if (isBinary) {
        this.#close(connection, CLOSE_CODES.unsupportedData, defaultCloseReason(CLOSE_CODES.unsupportedData));
        return;
      }
      if (!connection.open) return;
      this.#track(this.#message(connection, Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8')));
    });
    socket.on('error', (error: Error & { code?: string }) => {
      // ws has already answered the frame with a close (1009 for an oversized message).
      const code = closeCodeForReceiverError(error.code);
      connection.open = false;
      connection.closing ??= { code, reason: defaultCloseReason(code) };
    });
    socket.on('close', (code: number, reason: Buffer) => {
      connection.open = false;
      clearTimeout(connection.idleTimer);
      clearTimeout(connection.lifetimeTimer);
      this.#connections.delete(identity.connectionId);
      const statusCode = connection.closing?.code ?? code;
      const disconnectReason = connection.closing?.reason ?? (reason.toString('utf8') || defaultCloseReason(statusCode));
      const disconnected = this.#disconnect(identity, authorizer, statusCode, disconnectReason);
      this.#track(disconnected);
      void disconnected.finally(markClosed);
    });
  }

  async #message(connection: LiveConnection, body: string): Promise<void> {
    const selected = selectRoute(body);
    const event = messageEvent(connection.identity, selected.routeKey, body, connection.authorizer);
    const outcome = await this.#options.functions.invoke(selected.id, event, {
      route: selected.routeKey,
      connectionId: connection.identity.connectionId,
    });
    if (connection.socket.readyState !== WebSocket.OPEN) return;
    if (!outcome.ok) {
      // What API Gateway sends when the integration fails.
      connection.socket.send(
        JSON.stringify({
          message: 'Internal server error',
          connectionId: connection.identity.connectionId,
          requestId: event.requestContext.requestId,
        }),
      );
      return;
    }
    const reply = (outcome.result as { body?: unknown } | null | undefined)?.body;
    // A route response: only routes set up to return one send the result's body back.
    if (selected.returnsReply && reply !== undefined && reply !== null) {
      connection.socket.send(typeof reply === 'string' ? reply : JSON.stringify(reply));
    }
  }

  async #disconnect(identity: ConnectionIdentity, authorizer: AuthorizerContext, statusCode: number, reason: string): Promise<void> {
    const disconnectRoute = route('$disconnect');
    await this.#options.functions.invoke(disconnectRoute.id, disconnectEvent(identity, statusCode, reason, authorizer), {
      route: disconnectRoute.routeKey,
      connectionId: identity.connectionId,
    });
  }

  #close(connection: LiveConnection, code: number, reason: string): void {
    if (connection.closing && !connection.open) return;
    connection.open = false;
    connection.closing = { code, reason };
    connection.socket.close(code, reason);
  }
}
