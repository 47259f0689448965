import WebSocket from 'ws';

/**
 * Many real WebSocket clients in one process, for B0 and B3 alike: each notification is
 * tagged with its round (`payload.notificationId = "round-<n>"`), and each client
 * notes when it received it. Latency is receipt minus the moment the publisher started
 * the round, on this process's clock.
 */

const ROUND_ID = /^round-(\d+)$/;

export interface RoundTiming {
  /** ms from the publish to each receipt, in arrival order. */
  readonly latenciesMs: number[];
  /** ms from the publish to the last receipt. */
  readonly durationMs: number;
}

export class ClientSwarm {
  readonly #sockets: WebSocket[] = [];
  #round: { id: number; startedAt: number; receipts: number[]; done: () => void } | undefined;

  get size(): number {
    return this.#sockets.length;
  }

  /**
   * Opens `count` clients, `parallel` handshakes at a time.
   * @param open - opens the client with this index and resolves once it may receive
   *   notifications; it must pass the socket to `attach`.
   */
  async open(count: number, parallel: number, open: (index: number) => Promise<WebSocket>, onOpened: (opened: number) => void = () => {}): Promise<void> {
    let next = 0;
    let opened = 0;
    await Promise.all(
      Array.from({ length: Math.min(parallel, count) }, async () => {
        while (next < count) {
          const socket = await open(next++);
          this.#sockets.push(socket);
          opened += 1;
          onOpened(opened);
        }
      }),
    );
  }

  /** Makes the swarm time the round notifications this socket receives. */
  attach(socket: WebSocket): void {
    socket.on('message', (data) => this.#onMessage(data.toString()));
  }

  #onMessage(text: string): void {
    const round = this.#round;
    if (!round) return;
    // Every client parses what it receives, as a browser's onmessage handler would.
    let frame: { type?: string; payload?: { notificationId?: string } };
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type !== 'notification') return;
    const match = ROUND_ID.exec(frame.payload?.notificationId ?? '');
    if (!match || Number(match[1]) !== round.id) return;
    round.receipts.push(performance.now());
    if (round.receipts.length === this.#sockets.length) round.done();
  }

  /**
   * Runs one round: calls `publish` and resolves once every client has received the
   * round's notification.
   * @throws Error when some clients have not received it within `timeoutMs`.
   */
  async round(id: number, publish: () => Promise<void>, timeoutMs = 30_000): Promise<RoundTiming> {
    let done!: () => void;
    const complete = new Promise<void>((resolve) => (done = resolve));
    const startedAt = performance.now();
    const round = { id, startedAt, receipts: [] as number[], done };
    this.#round = round;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`round ${id}: ${round.receipts.length} of ${this.#sockets.length} clients received the notification within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([Promise.all([publish(), complete]), timeout]);
    } finally {
      clearTimeout(timer);
      this.#round = undefined;
    }
    const latenciesMs = round.receipts.map((receivedAt) => receivedAt - startedAt);
    return { latenciesMs, durationMs: Math.max(...latenciesMs) };
  }

  /** Closes every client and waits for the closes to finish (bounded). */
  async close(): Promise<void> {
    await Promise.all(
      this.#sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.readyState === WebSocket.CLOSED) return resolve();
            const timer = setTimeout(() => {
              socket.terminate();
              resolve();
            }, 5_000);
            socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            socket.close(1000);
          }),
      ),
    );
  }
}

/**
 * Opens a WebSocket and resolves once it is open.
 * @param onMessage - attached before the handshake, so no early frame is missed.
 */
export function openSocket(url: string, onMessage?: (data: WebSocket.RawData) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    if (onMessage) socket.on('message', onMessage);
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_request, response) => {
      reject(new Error(`${url.replace(/token=[^&]+/, 'token=...')}: handshake refused with HTTP ${response.statusCode}`));
      response.resume();
      socket.terminate();
    });
    socket.once('error', reject);
  });
}
