import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { serverFrame as serverFrameSchema, type ServerFrame } from '../../protocol/frames.js';

export const TEST_JWT_SECRET = 'test-secret-for-e2e-runs';

/** An HS256 token as `npm run token` makes them. */
export async function mintToken(userId: string, roles: string[] = [], options: { secret?: string; expiresInSeconds?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSeconds ?? 600))
    .sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}

/** What the server answered when it refused the handshake. */
export class HandshakeRefused extends Error {
  constructor(readonly status: number) {
    super(`handshake refused with HTTP ${status}`);
  }
}

/**
 * A real WebSocket client that keeps every frame it receives, each validated against
 * the protocol's server frame schema, and lets a test wait for the next one it wants.
 */
export class TestClient {
  readonly frames: ServerFrame[] = [];
  readonly invalidFrames: string[] = [];
  closeCode?: number;
  private waiters: { predicate: (frame: ServerFrame) => boolean; resolve: (frame: ServerFrame) => void }[] = [];
  private closeWaiters: ((code: number) => void)[] = [];
  private consumed = new Set<ServerFrame>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      let frame: ServerFrame;
      try {
        frame = serverFrameSchema.parse(JSON.parse(text));
      } catch {
        this.invalidFrames.push(text);
        return;
      }
      this.frames.push(frame);
      for (const waiter of [...this.waiters]) {
        if (!this.consumed.has(frame) && waiter.predicate(frame)) {
          this.consumed.add(frame);
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(frame);
        }
      }
    });
    socket.on('close', (code) => {
      this.closeCode = code;
      for (const waiter of this.closeWaiters.splice(0)) waiter(code);
    });
  }

  /** Opens a connection; rejects with HandshakeRefused when the server answers with an HTTP status. */
  static open(url: string, options: { token?: string; protocols?: string[] } = {}): Promise<TestClient> {
    const target = options.token === undefined ? url : `${url}/?token=${encodeURIComponent(options.token)}`;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(target, options.protocols ?? []);
      const client = new TestClient(socket);
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_request, response) => {
        reject(new HandshakeRefused(response.statusCode ?? 0));
        response.resume();
        socket.terminate();
      });
      socket.once('error', (error) => reject(error));
    });
  }

  /** Opens a connection for a user and waits for its welcome. */
  static async connect(url: string, userId: string, roles: string[] = []): Promise<{ client: TestClient; connectionId: string }> {
    const client = await TestClient.open(url, { token: await mintToken(userId, roles) });
    const welcome = await client.next((frame) => frame.type === 'welcome');
    return { client, connectionId: (welcome.payload as { connectionId: string }).connectionId };
  }

  /** The next frame (received before or after this call, not handed out yet) that matches. */
  next(predicate: (frame: ServerFrame) => boolean = () => true, timeoutMs = 10_000): Promise<ServerFrame> {
    const already = this.frames.find((frame) => !this.consumed.has(frame) && predicate(frame));
    if (already) {
      this.consumed.add(already);
      return Promise.resolve(already);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (frame: ServerFrame) => {
          clearTimeout(timer);
          resolve(frame);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.map((f) => f.type))}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Sends a request and waits for the frame that answers it. */
  async request(type: string, payload: unknown = {}, extra: Record<string, unknown> = {}): Promise<ServerFrame> {
    const messageId = randomUUID();
    this.socket.send(JSON.stringify({ messageId, type, payload, ...extra }));
    return this.next((frame) => frame.replyTo === messageId);
  }

  sendRaw(data: string | Buffer, options: { binary?: boolean } = {}): void {
    this.socket.send(data, { binary: options.binary ?? false });
  }

  notifications(): ServerFrame[] {
    return this.frames.filter((frame) => frame.type === 'notification');
  }

  closed(timeoutMs = 10_000): Promise<number> {
    if (this.closeCode !== undefined) return Promise.resolve(this.closeCode);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
      this.closeWaiters.push((code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  async close(): Promise<void> {
    if (this.closeCode !== undefined) return;
    this.socket.close(1000);
    await this.closed();
  }
}
