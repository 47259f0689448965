import { Continuity, MAX_RECOVER_ROUNDS, MAX_RECOVER_STREAMS, MAX_RETRY_AFTER_MS, type ContinuityLost, type Emission } from '../../client/continuity.js';
import { ConnectionGoneError, PostInDoubtError } from '../../lambdas/domain/errors.js';
import { EMPTY_POSITION, streamsOfConnection } from '../../lambdas/domain/notification-streams.js';
import type { MessageSender, NotificationLog } from '../../lambdas/domain/ports.js';
import type { RecoveryService } from '../../lambdas/domain/recovery-service.js';
import type { StreamPosition } from '../../protocol/frames.js';

/** What a client reads of a notification frame: its messageId and place. */
export interface ClientFrame {
  readonly messageId: string;
  readonly stream?: string;
  readonly offset?: number;
  readonly epoch?: string;
}

/** One notification the app showed, and when. */
export interface Shown {
  readonly messageId: string;
  readonly stream?: string;
  readonly offset?: number;
  readonly atMs: number;
}

/**
 * The app behind one connection, as the SDK runs it: every frame goes through the SDK's
 * own continuity module (client/continuity.ts), and what that emits is what the app
 * shows. Only the socket is modelled: frames are fed in the order API Gateway accepted
 * them, and `recover` calls the service's RecoveryService in process.
 */
export class AppClient {
  readonly continuity = new Continuity<ClientFrame>();
  readonly shown: Shown[] = [];
  readonly lost: ContinuityLost[] = [];
  /** `recover` requests made, frames replayed to it, heartbeats it healed through. */
  rounds = 0;
  replayed = 0;
  heartbeats = 0;
  /** Answers that said `retryAfterMs` (an offset taken, its notification maybe still being stored). */
  waits = 0;
  /** Recovery ran out of rounds, or a request failed for good: what the SDK would report. */
  failure: string | undefined;

  constructor(
    readonly connectionId: string,
    readonly userId: string,
    /** The channels its connection holds. */
    readonly channels: readonly string[],
  ) {}

  /** A notification frame off the socket, live or replayed. */
  receive(frame: ClientFrame): void {
    this.#show(this.continuity.receive(frame));
  }

  /** A `welcome` or `heartbeat` answer's heads. */
  observeHeads(heads: Readonly<Record<string, StreamPosition>>): void {
    this.continuity.observeHeads(heads);
  }

  #show(emissions: readonly Emission<ClientFrame>[]): void {
    const atMs = Date.now();
    for (const emission of emissions) {
      if (emission.type === 'continuityLost') this.lost.push(emission.lost);
      else this.shown.push({ messageId: emission.frame.messageId, stream: emission.frame.stream, offset: emission.frame.offset, atMs });
    }
  }

  /**
   * Recovery as client/notification-client.ts runs it after a heartbeat answer: `recover`
   * for the streams that want it, again while an answer leaves more (`complete: false`, a
   * gap, `retryAfterMs`, honoured up to 30 s), at most 50 rounds. The replayed frames
   * reach {@link receive} through the sender before the answer returns, as on a socket.
   */
  async recover(recovery: Pick<RecoveryService, 'recoverStreams'>): Promise<void> {
    for (let round = 0; this.continuity.needsRecovery; round += 1) {
      if (round === MAX_RECOVER_ROUNDS) {
        this.failure = `RECOVERY_INCOMPLETE after ${MAX_RECOVER_ROUNDS} rounds: ${this.continuity.wanted.join(', ')}`;
        return;
      }
      const request = this.continuity.takeRecoveryRequest(MAX_RECOVER_STREAMS);
      if (Object.keys(request).length === 0) continue;
      this.rounds += 1;
      let answer: Awaited<ReturnType<RecoveryService['recoverStreams']>>;
      try {
        answer = await recovery.recoverStreams(this.connectionId, { userId: this.userId, roles: [] }, request);
      } catch (error) {
        // Refused or unanswered: the streams wait for the next heartbeat's heads.
        this.continuity.recoveryFailed(request);
        this.failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        return;
      }
      this.failure = undefined;
      const { emissions, retryAfterMs } = this.continuity.applyRecovered(request, answer);
      this.#show(emissions);
      if (retryAfterMs > 0 && this.continuity.needsRecovery) {
        this.waits += 1;
        await sleep(Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
      }
    }
  }
}

/** Share of replayed posts whose answer is lost, delivered or not: the recovery meets unknown outcomes too. */
export interface ReplayFaults {
  /** Delivered, then the answer lost: PostInDoubtError. */
  readonly deliveredInDoubtRate: number;
  /** Never delivered, and the sender cannot tell: PostInDoubtError. */
  readonly lostInDoubtRate: number;
  readonly random: () => number;
}

/**
 * The sockets of the modelled clients, as the recovery's MessageSender: a post is parsed
 * as the client's socket would and fed to its client, in order. Seeded unknown outcomes
 * stop a replay as a timed-out post does (recovery-service.ts answers `complete: false`).
 */
export class ClientSockets implements MessageSender {
  readonly #clients: ReadonlyMap<string, AppClient>;
  inDoubt = 0;

  constructor(
    clients: ReadonlyMap<string, AppClient>,
    private readonly faults: ReplayFaults,
  ) {
    this.#clients = clients;
  }

  async post(connectionId: string, data: string): Promise<void> {
    const client = this.#clients.get(connectionId);
    // No client: its socket is closed (a gone connection), as API Gateway answers 410.
    if (!client) throw new ConnectionGoneError(connectionId);
    const draw = this.faults.random();
    const frame = JSON.parse(data) as ClientFrame;
    if (draw < this.faults.lostInDoubtRate) {
      this.inDoubt += 1;
      throw new PostInDoubtError(connectionId);
    }
    client.replayed += 1;
    client.receive(frame);
    if (draw < this.faults.lostInDoubtRate + this.faults.deliveredInDoubtRate) {
      this.inDoubt += 1;
      throw new PostInDoubtError(connectionId);
    }
  }

  async close(): Promise<void> {}
}

/** What the apps showed, against what each was sent. */
export interface AppVerdict {
  /** Clients judged: every connection whose socket stayed open. */
  readonly clients: number;
  /** Notifications due at those clients (clients x notifications). */
  readonly due: number;
  /** Due notifications shown once at least. */
  readonly shown: number;
  /** Due notifications never shown. */
  readonly missing: number;
  /** Notifications shown more than once (each counted once). */
  readonly twice: number;
  /** Clients that showed a stream's notifications out of offset order, or the partition's out of its order. */
  readonly disorder: number;
  /** Notifications shown that were not due (a frame for no notification of this run). */
  readonly unexpected: number;
  /** Clients that had something missing when the faults ended, and showed it since. */
  readonly healed: number;
  /** From the end of the faults to each healed client's last missing notification shown. */
  readonly healP50Ms: number;
  readonly healP99Ms: number;
  readonly problems: string[];
  readonly details: Record<string, unknown>;
}

/**
 * Judges the clients: every notification shown exactly once, in stream order (offsets
 * increasing per stream, and the partition's order across its notifications), at every
 * client. `missingAtEnd`: per client, what was not shown yet when the faults ended.
 */
export function judgeClients(
  clients: readonly AppClient[],
  messageIds: readonly string[],
  missingAtEnd: ReadonlyMap<AppClient, ReadonlySet<string>>,
  faultsEndedAtMs: number,
): AppVerdict {
  const order = new Map(messageIds.map((messageId, index) => [messageId, index]));
  const problems: string[] = [];
  let shown = 0;
  let missing = 0;
  let twice = 0;
  let disorder = 0;
  let unexpected = 0;
  const healTimes: number[] = [];
  for (const client of clients) {
    const counts = new Map<string, number>();
    for (const item of client.shown) counts.set(item.messageId, (counts.get(item.messageId) ?? 0) + 1);
    for (const messageId of messageIds) {
      const count = counts.get(messageId) ?? 0;
      if (count >= 1) shown += 1;
      else missing += 1;
      if (count > 1) twice += 1;
    }
    const strange = [...counts.keys()].filter((messageId) => !order.has(messageId));
    unexpected += strange.length;
    const lastOffset = new Map<string, number>();
    let lastIndex = -1;
    let inOrder = true;
    for (const item of client.shown) {
      const index = order.get(item.messageId) ?? lastIndex;
      if (index < lastIndex) inOrder = false;
      lastIndex = Math.max(lastIndex, index);
      if (item.stream !== undefined && item.offset !== undefined) {
        if (item.offset <= (lastOffset.get(item.stream) ?? 0)) inOrder = false;
        lastOffset.set(item.stream, item.offset);
      }
    }
    if (!inOrder) disorder += 1;
    const due = missingAtEnd.get(client);
    const healedAt = client.shown.filter((item) => due?.has(item.messageId)).map((item) => item.atMs);
    if (due && due.size > 0 && healedAt.length > 0) healTimes.push(Math.max(...healedAt) - faultsEndedAtMs);
    const gaps = messageIds.filter((messageId) => !counts.has(messageId));
    if (gaps.length > 0 || strange.length > 0 || !inOrder || [...counts.values()].some((count) => count > 1)) {
      problems.push(
        `client ${client.connectionId}: ${gaps.length ? `missing ${gaps.join(', ')}; ` : ''}showed ${client.shown.map((item) => `${item.messageId}@${item.stream}:${item.offset}`).join(' ')}` +
          `${client.failure ? `; recovery: ${client.failure}` : ''}; positions ${JSON.stringify(client.continuity.positions())}`,
      );
    }
  }
  healTimes.sort((a, b) => a - b);
  const percentile = (share: number) => (healTimes.length ? healTimes[Math.min(healTimes.length - 1, Math.ceil(share * healTimes.length) - 1)]! : 0);
  return {
    clients: clients.length,
    due: clients.length * messageIds.length,
    shown,
    missing,
    twice,
    disorder,
    unexpected,
    healed: healTimes.length,
    healP50Ms: Math.round(percentile(0.5)),
    healP99Ms: Math.round(percentile(0.99)),
    problems,
    details: {
      continuityLost: clients.reduce((sum, client) => sum + client.lost.length, 0),
      recoverRequests: clients.reduce((sum, client) => sum + client.rounds, 0),
      replayed: clients.reduce((sum, client) => sum + client.replayed, 0),
      heartbeats: clients.reduce((sum, client) => sum + client.heartbeats, 0),
      retryAfterWaits: clients.reduce((sum, client) => sum + client.waits, 0),
      unhealed: clients.filter((client) => client.failure !== undefined).length,
    },
  };
}

/**
 * What a `welcome` or `heartbeat` answer tells each client: the heads of every stream
 * its connection holds, `{ epoch: "", offset: 0 }` for one with nothing yet, as
 * lambdas/domain/stream-heads.ts answers them; read for all the clients at once, in
 * BatchGetItems of 100 heads, rather than one per client.
 */
export async function headsOf(
  clients: readonly AppClient[],
  notifications: Pick<NotificationLog, 'heads'>,
): Promise<Map<AppClient, Record<string, StreamPosition>>> {
  const streamsOf = new Map(clients.map((client) => [client, streamsOfConnection(client.userId, client.channels)]));
  const heads = await notifications.heads([...new Set([...streamsOf.values()].flat())], Date.now());
  const answers = new Map<AppClient, Record<string, StreamPosition>>();
  for (const [client, streams] of streamsOf) {
    const answer: Record<string, StreamPosition> = {};
    for (const stream of streams) {
      const head = heads.get(stream);
      answer[stream] = head ? { epoch: head.epoch, offset: head.offset } : { ...EMPTY_POSITION };
    }
    answers.set(client, answer);
  }
  return answers;
}

/**
 * Heals every client as the SDK would after the faults: a `heartbeat` answer's heads,
 * then recovery while a stream is behind; again at the next heartbeat for a client still
 * behind or whose recovery failed (at most `heartbeats` answers).
 */
export async function healClients(
  clients: readonly AppClient[],
  options: {
    readonly notifications: Pick<NotificationLog, 'heads'>;
    readonly recovery: Pick<RecoveryService, 'recoverStreams'>;
    readonly concurrency: number;
    readonly heartbeats: number;
    /** Between heartbeats (the SDK's interval is the welcome's; this model's is short). */
    readonly heartbeatIntervalMs: number;
  },
): Promise<void> {
  let pending = clients;
  for (let beat = 0; beat < options.heartbeats && pending.length > 0; beat += 1) {
    // A client whose recovery failed waits for the next heartbeat; one that recovered
    // is confirmed by the next answer's heads at once.
    if (pending.some((client) => client.failure !== undefined)) await sleep(options.heartbeatIntervalMs);
    const heads = await headsOf(pending, options.notifications);
    const behind: AppClient[] = [];
    for (const client of pending) {
      client.heartbeats += 1;
      client.observeHeads(heads.get(client)!);
      if (client.continuity.needsRecovery) behind.push(client);
    }
    await forEachConcurrently(behind, options.concurrency, (client) => client.recover(options.recovery));
    pending = behind;
  }
}

/** Runs `work` over `items`, at most `limit` at once. */
export async function forEachConcurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
