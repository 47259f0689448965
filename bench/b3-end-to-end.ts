import { randomUUID } from 'node:crypto';
import type WebSocket from 'ws';
import { mintLocalToken } from '../local/commands/token.js';
import { ChildTask, childInput, reportProgress, runChildTask } from './child-process.js';
import { ClientSwarm, openSocket } from './client-swarm.js';
import { measureRounds, roundPayload, type DeliveryFigures, type RoundPlan } from './round-measurement.js';
import type { LocalRuntimeServerInfo, LocalRuntimeServerInput } from './servers/local-runtime-server.js';

/**
 * B3, end to end: producer record -> local runtime (MSK stand-in -> fan-out handler ->
 * Management API -> WebSocket endpoint) -> N real clients, each its own user,
 * subscribed to the channel the topic maps to. Measured exactly as B0 is.
 */

export interface B3Input extends RoundPlan {
  readonly clients: number;
  readonly dynamodbEndpoint: string;
}

export interface B3Output extends DeliveryFigures {
  readonly fanoutConcurrency: number;
  /** Posts the fan-out reported failed or gone over the measured rounds (0 expected). */
  readonly undelivered: number;
  /** Runtime notices (refused handshakes, failed async invocations). */
  readonly notices: number;
}

const JWT_SECRET = 'bench-local-secret';
/** Handshakes in flight at once while the clients connect (a crowd, not a stampede). */
const CONNECTING_AT_ONCE = 25;

/**
 * The frames one client received, parsed, and a way to wait for the next one that
 * matters. Listening starts before the socket opens: a frame that arrives with the
 * handshake's answer is not lost.
 */
class FrameInbox {
  readonly #frames: Record<string, unknown>[] = [];
  #waiter: { accept: (frame: Record<string, unknown>) => boolean; resolve: (frame: Record<string, unknown>) => void } | undefined;

  receive(data: WebSocket.RawData): void {
    const frame = JSON.parse(data.toString()) as Record<string, unknown>;
    if (this.#waiter?.accept(frame)) {
      this.#waiter.resolve(frame);
      this.#waiter = undefined;
    } else {
      this.#frames.push(frame);
    }
  }

  next(accept: (frame: Record<string, unknown>) => boolean, what: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const index = this.#frames.findIndex(accept);
    if (index >= 0) return Promise.resolve(this.#frames.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new Error(`no ${what} within ${timeoutMs} ms; received ${JSON.stringify(this.#frames.map((frame) => frame.type))}`));
      }, timeoutMs);
      this.#waiter = {
        accept,
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
      };
    });
  }
}

runChildTask(async (): Promise<B3Output> => {
  const input = childInput<B3Input>();
  const serverInput: LocalRuntimeServerInput = {
    dynamodbEndpoint: input.dynamodbEndpoint,
    tablePrefix: `bench-b3-${randomUUID().slice(0, 8)}-`,
    jwtSecret: JWT_SECRET,
  };
  const server = new ChildTask(new URL('./servers/local-runtime-server.ts', import.meta.url), serverInput);
  const swarm = new ClientSwarm();
  try {
    reportProgress('starting the local runtime');
    const info = await server.ready<LocalRuntimeServerInfo>();
    await swarm
      .open(
        input.clients,
        CONNECTING_AT_ONCE,
        async (index) => {
          const token = await mintLocalToken({ userId: `bench-user-${index}`, roles: [], ttlSeconds: 3600 }, JWT_SECRET);
          const inbox = new FrameInbox();
          const socket = await openSocket(`${info.wsUrl}/?token=${encodeURIComponent(token)}`, (data) => inbox.receive(data));
          await inbox.next((frame) => frame.type === 'welcome', 'welcome');
          const messageId = randomUUID();
          const reply = inbox.next((frame) => frame.replyTo === messageId, 'reply to subscribe');
          socket.send(JSON.stringify({ messageId, type: 'subscribe', payload: { channels: [info.channel] } }));
          const answer = await reply;
          const accepted = (answer.payload as { accepted?: string[] } | undefined)?.accepted ?? [];
          if (!accepted.includes(info.channel)) throw new Error(`subscribe to ${info.channel} was not accepted: ${JSON.stringify(answer)}`);
          swarm.attach(socket);
          return socket;
        },
        (opened) => {
          if (opened % 100 === 0 || opened === input.clients) reportProgress(`${opened}/${input.clients} clients connected and subscribed`);
        },
      )
      .catch(async (error: unknown) => {
        const diagnostics = await server.request('diagnostics').catch(() => 'unavailable');
        throw new Error(`${(error as Error).message}; runtime diagnostics: ${JSON.stringify(diagnostics)}`, { cause: error });
      });
    let undelivered = 0;
    let measuring = false;
    const figures = await measureRounds(
      swarm,
      input,
      async (round) => {
        if (round > input.warmupRounds) measuring = true;
        const response = await fetch(`${info.httpUrl}/_local/topics/${encodeURIComponent(info.topic)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ messageId: randomUUID(), type: 'notification', payload: roundPayload(round) }),
        });
        const summary = (await response.json()) as { delivered?: number; failed?: number; gone?: number };
        if (!response.ok) throw new Error(`publish failed: HTTP ${response.status} ${JSON.stringify(summary)}`);
        if (measuring) undelivered += (summary.failed ?? 0) + (summary.gone ?? 0);
      },
      () => server.request<NodeJS.CpuUsage>('cpuUsage'),
      (done, total) => reportProgress(`round ${done}/${total}`),
    );
    const notices = await server.request<number>('notices');
    reportProgress('closing clients');
    await swarm.close();
    await server.request('stop');
    return { ...figures, fanoutConcurrency: info.fanoutConcurrency, undelivered, notices };
  } finally {
    await swarm.close();
    await server.stop();
  }
});
