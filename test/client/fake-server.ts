import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { NotificationFrame, StreamPosition } from '../../protocol/frames.js';

/** A client frame as the fake server received it. */
export interface ReceivedFrame {
  readonly messageId: string;
  readonly type: string;
  readonly payload: Record<string, unknown>;
}

/** One accepted socket of the fake server. */
export class FakeConnection {
  readonly id = `fake-${randomUUID().slice(0, 8)}`;
  readonly received: ReceivedFrame[] = [];
  readonly channels: Set<string>;
  /** When true, heartbeats get no answer (a connection that died silently). */
  silent = false;
  /** Request types this connection leaves unanswered (a request lost with its connection). */
  readonly unanswered = new Set<string>();
  closeCode: number | undefined;
  /** When this connection's token expires, as last told (welcome or refreshed). */
  tokenExpiresAt: string | undefined;
  readonly #waiters: { predicate: (frame: ReceivedFrame) => boolean; resolve: (frame: ReceivedFrame) => void }[] = [];
  readonly #closeWaiters: ((code: number) => void)[] = [];

  constructor(
    readonly socket: WebSocket,
    readonly token: string,
    readonly userId: string,
    /** The connect URL's query (`token`, `dedupe`). */
    readonly query: URLSearchParams,
  ) {
    this.channels = new Set([`user-${userId}`, 'system-announcements']);
    socket.on('close', (code) => {
      this.closeCode = code;
      for (const waiter of this.#closeWaiters.splice(0)) waiter(code);
    });
  }

  send(frame: Record<string, unknown>): void {
    this.socket.send(JSON.stringify({ messageId: randomUUID(), timestamp: new Date().toISOString(), ...frame }));
  }

  reply(to: ReceivedFrame, type: string, payload: Record<string, unknown>): void {
    this.send({ type, payload, replyTo: to.messageId });
  }

  /** As cleanup does when the token expired: `disconnect` (token-expired, reconnect), then the close. */
  expire(): void {
    this.send({ type: 'disconnect', payload: { reason: 'token-expired', reconnect: true } });
    this.drop();
  }

  /** Stream names of the channels held: `user-{id}` is the user stream, any other `channel#{name}`. */
  streams(): string[] {
    return [...this.channels].map(streamOf);
  }

  /** Closes from the server side, as API Gateway does on DELETE @connections or its caps. */
  drop(code = 1001): void {
    this.socket.close(code, 'Going away');
  }

  record(frame: ReceivedFrame): void {
    this.received.push(frame);
    const waiter = this.#waiters.find((candidate) => candidate.predicate(frame));
    if (waiter) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve(frame);
    }
  }

  /** The first received frame that matches, now or when it arrives. */
  nextRequest(predicate: (frame: ReceivedFrame) => boolean): Promise<ReceivedFrame> {
    const already = this.received.find(predicate);
    if (already) return Promise.resolve(already);
    return new Promise((resolve) => this.#waiters.push({ predicate, resolve }));
  }

  closed(): Promise<number> {
    if (this.closeCode !== undefined) return Promise.resolve(this.closeCode);
    return new Promise((resolve) => this.#closeWaiters.push(resolve));
  }
}

export interface FakeServerOptions {
  /** Told to clients in welcome. @default 300 */
  readonly heartbeatIntervalSeconds?: number;
  /**
   * Tokens last this long: welcome tells `tokenExpiresAt`, and `refresh` with a token of
   * the same user moves it by as much from now. @default none: no expiry told
   */
  readonly tokenLifetimeMs?: number;
  /**
   * Stream positions (docs/protocol.md section 11): notifications carry `stream` / `offset`
   * / `epoch`, welcome and heartbeat answers the heads, and `recover { streams }` replays
   * by position. False: a server from before them. @default true
   */
  readonly positions?: boolean;
  /** Most notifications one `recover { streams }` replays, in all. @default 100 */
  readonly recoverPageSize?: number;
}

/** The stream a channel's notifications are on in the fake: `user-{id}` is `user#{id}`. */
export function streamOf(channel: string): string {
  return channel.startsWith('user-') ? `user#${channel.slice('user-'.length)}` : `channel#${channel}`;
}

/** The epoch every stream of the fake starts in. */
export const EPOCH = '1765108800000';

/**
 * A small server speaking the protocol's frames (docs/protocol.md) over a real `ws`
 * socket: welcome, subscribe/unsubscribe, heartbeat, presence, recover from a kept
 * history, stats refused. Tests script refusals and drops.
 */
export class FakeNotificationServer {
  readonly connections: FakeConnection[] = [];
  /** Every token offered, in order, refused ones included. */
  readonly tokens: string[] = [];
  /** HTTP statuses for the next handshakes, first first; empty = accept. */
  readonly refusals: number[] = [];
  /** Every notification published, oldest first: what `recover` replays. */
  readonly history: NotificationFrame[] = [];
  /** Each stream's head: its epoch and the last offset taken. */
  readonly heads = new Map<string, StreamPosition>();
  /** Added to each welcome's payload (e.g. `unreadCount`). */
  welcomeExtras: ((connection: FakeConnection) => Record<string, unknown>) | undefined;
  /** Called with each accepted connection before its welcome is sent (to post frames ahead of it). */
  beforeWelcome: ((connection: FakeConnection) => void) | undefined;
  /** Called after a `recover { streams }` replayed and before its `recovered` answer (live frames in between). */
  beforeRecovered: ((connection: FakeConnection, round: number) => void) | undefined;
  /** How many `recover { streams }` were answered. */
  recoverRounds = 0;
  /** Per stream, the offset up to which notifications expired. */
  readonly #expiredUpTo = new Map<string, number>();
  readonly #connectionWaiters: ((connection: FakeConnection) => void)[] = [];

  private constructor(
    private readonly server: Server,
    private readonly sockets: WebSocketServer,
    readonly url: string,
    private readonly options: FakeServerOptions,
  ) {}

  static async start(options: FakeServerOptions = {}): Promise<FakeNotificationServer> {
    const server = createServer((_request, response) => response.writeHead(404).end());
    const sockets = new WebSocketServer({ noServer: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const fake = new FakeNotificationServer(server, sockets, url, options);
    server.on('upgrade', (request, socket, head) => {
      const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
      const token = query.get('token') ?? '';
      fake.tokens.push(token);
      const status = fake.refusals.shift();
      if (status !== undefined) {
        socket.end(`HTTP/1.1 ${status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      sockets.handleUpgrade(request, socket, head, (webSocket) => fake.#accept(webSocket, token, query));
    });
    return fake;
  }

  /** The n-th accepted connection (0-based), now or when it opens. */
  connection(index: number): Promise<FakeConnection> {
    const existing = this.connections[index];
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => {
      const check = (connection: FakeConnection) => {
        if (this.connections.indexOf(connection) === index) resolve(connection);
        else this.#connectionWaiters.push(check);
      };
      this.#connectionWaiters.push(check);
    });
  }

  /**
   * A notification frame, kept in the history, sent to every open connection holding
   * `channel` (or to `only` of them: `[]` for one that every connection misses).
   */
  publish(channel: string, title = 'Hello', only?: FakeConnection[]): NotificationFrame {
    const frame: NotificationFrame = {
      messageId: randomUUID(),
      timestamp: new Date().toISOString(),
      type: 'notification',
      channel,
      // As the service marks a notification to one user.
      ...(channel.startsWith('user-') ? { targetUserId: channel.slice('user-'.length) } : {}),
      payload: { notificationId: randomUUID(), title, message: `${title}!`, priority: 'medium', createdAt: new Date().toISOString() },
      ...(this.options.positions === false ? {} : { stream: streamOf(channel), ...this.#takeOffset(streamOf(channel)) }),
    };
    this.history.push(frame);
    for (const connection of only ?? this.connections) {
      if (connection.closeCode === undefined && connection.channels.has(channel)) connection.socket.send(JSON.stringify(frame));
    }
    return frame;
  }

  /** Takes a stream's next offset and never fills it (a tombstone): no post, and recovery passes over it. */
  skipOffset(channel: string): number {
    return this.#takeOffset(streamOf(channel)).offset;
  }

  /** Drops the kept notifications of a channel's stream up to `offset` (expired): a recovery from before finds them lost. */
  expire(channel: string, offset: number): void {
    const stream = streamOf(channel);
    this.#expiredUpTo.set(stream, Math.max(offset, this.#expiredUpTo.get(stream) ?? 0));
    for (let index = this.history.length - 1; index >= 0; index -= 1) {
      const kept = this.history[index]!;
      if (kept.stream === stream && kept.offset! <= offset) this.history.splice(index, 1);
    }
  }

  /** The heads of the streams `connection` holds; `{ epoch: "", offset: 0 }` for one with nothing yet. */
  headsFor(connection: FakeConnection): Record<string, StreamPosition> {
    return Object.fromEntries(connection.streams().map((stream) => [stream, this.heads.get(stream) ?? { epoch: '', offset: 0 }]));
  }

  #takeOffset(stream: string): { offset: number; epoch: string } {
    const head = this.heads.get(stream) ?? { epoch: EPOCH, offset: 0 };
    const next = { epoch: head.epoch || EPOCH, offset: head.offset + 1 };
    this.heads.set(stream, next);
    return next;
  }

  async stop(): Promise<void> {
    for (const connection of this.connections) connection.socket.terminate();
    this.sockets.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(socket: WebSocket, token: string, query: URLSearchParams): void {
    const connection = new FakeConnection(socket, token, token.split(':')[0] || 'alice', query);
    this.connections.push(connection);
    socket.on('message', (data) => this.#answer(connection, data.toString()));
    const lifetime = this.options.tokenLifetimeMs;
    if (lifetime !== undefined) connection.tokenExpiresAt = new Date(Date.now() + lifetime).toISOString();
    this.beforeWelcome?.(connection);
    connection.send({
      type: 'welcome',
      payload: {
        connectionId: connection.id,
        userId: connection.userId,
        channels: [...connection.channels].sort(),
        heartbeatIntervalSeconds: this.options.heartbeatIntervalSeconds ?? 300,
        serverTime: new Date().toISOString(),
        ...(connection.tokenExpiresAt ? { tokenExpiresAt: connection.tokenExpiresAt } : {}),
        ...(this.options.positions === false ? {} : { streams: this.headsFor(connection) }),
        ...this.welcomeExtras?.(connection),
      },
    });
    for (const waiter of this.#connectionWaiters.splice(0)) waiter(connection);
  }

  #answer(connection: FakeConnection, text: string): void {
    const frame = JSON.parse(text) as ReceivedFrame;
    connection.record(frame);
    if (connection.unanswered.has(frame.type)) return;
    const channels = (frame.payload.channels ?? []) as string[];
    switch (frame.type) {
      case 'subscribe': {
        const rejected = channels.filter((channel) => channel.startsWith('private-'));
        const accepted = channels.filter((channel) => !rejected.includes(channel));
        for (const channel of accepted) connection.channels.add(channel);
        connection.reply(frame, 'subscription', {
          connectionId: connection.id,
          channels: [...connection.channels].sort(),
          accepted,
          rejected: rejected.map((channel) => ({ channel, code: 'FORBIDDEN', reason: 'not allowed' })),
        });
        return;
      }
      case 'unsubscribe':
        for (const channel of channels) connection.channels.delete(channel);
        connection.reply(frame, 'subscription', { connectionId: connection.id, channels: [...connection.channels].sort(), accepted: channels, rejected: [] });
        return;
      case 'heartbeat':
        if (connection.silent) return;
        connection.reply(frame, 'heartbeat', {
          connectionId: connection.id,
          timestamp: new Date().toISOString(),
          status: 'alive',
          ...(this.options.positions === false ? {} : { streams: this.headsFor(connection) }),
        });
        return;
      case 'presence': {
        const users = Object.fromEntries(
          ((frame.payload.userIds ?? []) as string[]).map((userId) => {
            const count = this.connections.filter((other) => other.userId === userId && other.closeCode === undefined).length;
            return [userId, { online: count > 0, connections: count }];
          }),
        );
        connection.reply(frame, 'presence', { users });
        return;
      }
      case 'recover': {
        if (frame.payload.streams !== undefined) {
          this.#recoverStreams(connection, frame);
          return;
        }
        const since = String(frame.payload.since);
        const index = this.history.findIndex((kept) => kept.messageId === since);
        const replay = index >= 0 ? this.history.slice(index + 1) : this.history.filter((kept) => kept.timestamp >= since);
        const mine = replay.filter((kept) => connection.channels.has(kept.channel ?? ''));
        for (const kept of mine) connection.socket.send(JSON.stringify(kept));
        connection.reply(frame, 'recovered', { count: mine.length, complete: true });
        return;
      }
      case 'refresh': {
        // Tokens are `user:n`: another user's is refused, as the service refuses it.
        const user = String(frame.payload.token).split(':')[0];
        if (user !== connection.userId || this.options.tokenLifetimeMs === undefined) {
          connection.reply(frame, 'error', { code: 'TOKEN_USER_MISMATCH', message: 'the token is for another user than the connection' });
          return;
        }
        connection.tokenExpiresAt = new Date(Date.now() + this.options.tokenLifetimeMs).toISOString();
        connection.reply(frame, 'refreshed', { expiresAt: connection.tokenExpiresAt });
        return;
      }
      default:
        connection.reply(frame, 'error', { code: 'FORBIDDEN', message: `${frame.type} is not allowed` });
    }
  }

  /**
   * `recover { streams }` as section 11 has it: per stream the connection holds, the kept
   * notifications after the position, oldest first, at most `recoverPageSize` in all;
   * `lost` when some after the position are no longer kept (or the epoch is not the head's).
   */
  #recoverStreams(connection: FakeConnection, frame: ReceivedFrame): void {
    const asked = frame.payload.streams as Record<string, StreamPosition>;
    const held = new Set(connection.streams());
    let budget = this.options.recoverPageSize ?? 100;
    let count = 0;
    let complete = true;
    const streams: Record<string, StreamPosition & { lost?: true }> = {};
    for (const [stream, from] of Object.entries(asked)) {
      if (!held.has(stream)) continue;
      const head = this.heads.get(stream) ?? { epoch: '', offset: 0 };
      const sameEpoch = from.offset === 0 || from.epoch === head.epoch;
      const after = sameEpoch ? from.offset : 0;
      const kept = this.history.filter((entry) => entry.stream === stream && entry.epoch === head.epoch && entry.offset! > after);
      const lost = !sameEpoch || (this.#expiredUpTo.get(stream) ?? 0) > after;
      const replay = kept.slice(0, budget);
      budget -= replay.length;
      for (const entry of replay) connection.socket.send(JSON.stringify(entry));
      count += replay.length;
      const reachedHead = replay.length === kept.length;
      if (!reachedHead) complete = false;
      const offset = reachedHead ? head.offset : (replay.at(-1)?.offset ?? after);
      streams[stream] = { epoch: head.epoch, offset: Math.max(offset, sameEpoch ? from.offset : 0), ...(lost ? { lost: true as const } : {}) };
    }
    this.recoverRounds += 1;
    this.beforeRecovered?.(connection, this.recoverRounds);
    connection.reply(frame, 'recovered', { count, complete, streams });
  }
}
