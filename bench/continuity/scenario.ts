import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NotificationClient, type NotificationClientError } from '../../client/index.js';
import { seededRandom } from '../faults/seeded-random.js';
import { observedWebSocket, type WireEntry } from './observed-socket.js';
import { ServiceProcess, type ServiceSettings } from './service-process.js';
import { tallyClient, tallyRun, type Published, type Shown, type Tally } from './tally.js';

export interface ContinuityScenarioOptions {
  readonly clients: number;
  /** Notifications to the channel every client holds. */
  readonly channelNotifications: number;
  /** Notifications to one user each, spread over the clients' users. */
  readonly userNotifications: number;
  /** A stall follows each publish with this chance (seeded)... */
  readonly stallChance?: number;
  /** ...or exactly this many publishes, chosen by the seed, are followed by one. */
  readonly stallCount?: number;
  /** How long the service stays stopped. */
  readonly stallMs: number;
  /** Connections the service closes (`DELETE @connections`) right after each stall, at most. */
  readonly closesPerStall: number;
  /** Channel notifications after the faults, one every 200 ms. */
  readonly calmNotifications: number;
  /** The longest wait, after the calm ones, for every client to have shown everything. */
  readonly waitMs: number;
  /** Lanes that publish the user notifications (one Kafka partition each), beside the channel's. */
  readonly userLanes: number;
  readonly seed: number;
  readonly settings: ServiceSettings;
  /** Another DynamoDB (the test run's); else the service starts DynamoDB Local as `npm start` does. */
  readonly dynamodbEndpoint?: string;
  /** Hide stream positions from the SDK (observed-socket.ts): the run must then fail. */
  readonly hidePositions?: boolean;
  /** Progress lines. @default none */
  readonly progress?: (line: string) => void;
}

export interface ContinuityResult extends Tally {
  readonly stalls: number;
  readonly closes: number;
  /** What the SDK did to heal, read off its sockets. */
  readonly wire: WireCounts;
  /**
   * Publishes the producer endpoint answered with an error (e.g. 500 after the event source
   * mapping's retries, the record parked): noted, not a failure by themselves; whether the
   * notification reached the app is what the tally says.
   */
  readonly publishFailures: readonly string[];
  /** One line per problem found, with its evidence (stream, offsets, what was on the wire, recoveries). */
  readonly problems: readonly string[];
  /** The run's folder: Config.toml, service.log, evidence.json. */
  readonly directory: string;
  readonly durationMs: number;
}

/** The configuration of the stall test (docs/delivery.md section 10). */
export const STALL_TEST_SETTINGS: ServiceSettings = {
  writeTimeoutSeconds: 1,
  leaseSeconds: 2,
  fanoutConcurrency: 5,
  // The least lambdas/config/schema.ts allows: heads come every 5 s.
  heartbeatIntervalSeconds: 5,
  topic: 'booking-updates',
};

export interface WireCounts {
  /** Notification frames the clients' sockets received (the service's repeats included). */
  readonly notificationFrames: number;
  /** `recover` requests the clients sent, and the notifications the `recovered` answers counted. */
  readonly recoverRequests: number;
  readonly replayed: number;
  /** Connections opened after each client's first (reconnects). */
  readonly reconnects: number;
}

interface Observer {
  readonly userId: string;
  readonly client: NotificationClient;
  readonly shown: Shown[];
  readonly wire: WireEntry[];
  readonly errors: string[];
  readonly lost: unknown[];
}

interface Planned extends Published {
  sentAt: number;
  readonly lane: number;
  /** The lane's pause after this one is answered. */
  readonly gapMs: number;
  readonly record: Record<string, unknown>;
}

/** A stall the seed planned after a publish: when, and whose connections the service closes after it. */
interface PlannedStall {
  readonly delayMs: number;
  readonly victims: readonly number[];
}

/**
 * The stall test: the service (bench/continuity/service.ts) in a child process, SDK
 * clients on one channel, notifications to the channel and to each user while the
 * service is stopped (SIGSTOP) for longer than the lease and the write timeout and
 * closes connections with a backlog waiting; then calm, and a bounded wait until every
 * client showed what it was for. docs/delivery.md section 10.
 */
export async function runContinuityScenario(options: ContinuityScenarioOptions): Promise<ContinuityResult> {
  const started = performance.now();
  const now = () => performance.now() - started;
  const say = (line: string) => options.progress?.(`${(now() / 1000).toFixed(1)}s ${line}`);
  const random = seededRandom(options.seed);
  const directory = await mkdtemp(join(tmpdir(), 'continuity-'));
  const runId = `r${options.seed}-${randomUUID().slice(0, 6)}`;
  const { topic } = options.settings;
  const channelStream = `channel#${topic}`;

  const service = await ServiceProcess.start({
    settings: options.settings,
    directory,
    dynamodbEndpoint: options.dynamodbEndpoint,
    tablePrefix: options.dynamodbEndpoint ? `continuity-${runId}-` : 'local-',
  });
  say(`service pid ${service.pid} at ${service.httpUrl}; config ${service.configPath}; log ${service.logPath}`);
  const observers: Observer[] = [];
  try {
    // ---- clients: the SDK over ws, tokens from POST /_local/token, all on one channel ----
    const getToken = (userId: string) => async () => {
      const response = await fetch(`${service.httpUrl}/_local/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId }),
      });
      if (!response.ok) throw new Error(`POST /_local/token answered ${response.status}`);
      return ((await response.json()) as { token: string }).token;
    };
    for (let index = 0; index < options.clients; index += 1) {
      const userId = `${runId}-u${String(index + 1).padStart(2, '0')}`;
      const wire: WireEntry[] = [];
      const client = new NotificationClient({
        url: service.wsUrl,
        getToken: getToken(userId),
        WebSocket: observedWebSocket({ record: (entry) => wire.push(entry), now, hidePositions: options.hidePositions }),
        // The reconnect jitter from the seed too.
        random: seededRandom(options.seed * 1000 + index),
      });
      const observer: Observer = { userId, client, shown: [], wire, errors: [], lost: [] };
      client.on('notification', (frame) =>
        observer.shown.push({ id: frame.payload.notificationId, at: now(), stream: frame.stream, offset: frame.offset, epoch: frame.epoch }),
      );
      client.on('error', (error: NotificationClientError) => observer.errors.push(`${Math.round(now())}ms ${error.code}: ${error.message}`));
      client.on('continuityLost', (lost) => observer.lost.push(lost));
      observers.push(observer);
    }
    await Promise.all(
      observers.map(async ({ client }) => {
        await client.connect();
        const answer = await client.subscribe([topic]);
        if (!answer.channels.includes(topic)) throw new Error(`subscribe ${topic} was refused: ${JSON.stringify(answer.rejected)}`);
      }),
    );
    say(`${observers.length} clients connected and subscribed to ${topic}`);

    // ---- the plan: channel and user notifications interleaved by the seed ----
    const kinds = [...Array(options.channelNotifications).fill('channel'), ...Array(options.userNotifications).fill('user')] as ('channel' | 'user')[];
    shuffle(kinds, random);
    const userOrder = observers.map((_, index) => index);
    const streamOrders = new Map<string, number>();
    const plan: Planned[] = [];
    let userCount = 0;
    for (const [index, kind] of kinds.entries()) {
      let target: { channel: string } | { targetUserId: string };
      let stream: string;
      let lane: number;
      if (kind === 'channel') {
        target = { channel: topic };
        stream = channelStream;
        lane = 0;
      } else {
        // Round robin over the users, in an order the seed picks anew each round.
        if (userCount % userOrder.length === 0) shuffle(userOrder, random);
        const userIndex = userOrder[userCount % userOrder.length]!;
        userCount += 1;
        target = { targetUserId: observers[userIndex]!.userId };
        stream = `user#${observers[userIndex]!.userId}`;
        lane = 1 + (userIndex % options.userLanes);
      }
      const order = streamOrders.get(stream) ?? 0;
      streamOrders.set(stream, order + 1);
      const id = `${runId}-${kind === 'channel' ? 'c' : 'u'}${String(index + 1).padStart(3, '0')}`;
      const gapMs = Math.floor(random() * 20);
      plan.push({ id, stream, order, sentAt: Number.POSITIVE_INFINITY, calm: false, lane, gapMs, record: notificationRecord(id, target) });
    }
    // Which publishes a stall follows, a few ms later, and whose connections are closed after it.
    const stallIndexes: number[] = [];
    if (options.stallCount !== undefined) {
      // Spread over the run: one in each equal part of it, not in its first or last publishes.
      const parts = options.stallCount;
      const span = Math.max(1, Math.floor((plan.length - 4) / parts));
      for (let part = 0; part < parts; part += 1) stallIndexes.push(2 + part * span + Math.floor(random() * span));
    } else {
      for (let index = 0; index < plan.length; index += 1) if (random() < (options.stallChance ?? 1 / 3)) stallIndexes.push(index);
    }
    const stallAfter = new Map<number, PlannedStall>();
    for (const index of stallIndexes) {
      const closeCount = options.closesPerStall > 0 ? 1 + Math.floor(random() * options.closesPerStall) : 0;
      const victims = pick(
        observers.map((_, client) => client),
        closeCount,
        random,
      );
      stallAfter.set(index, { delayMs: 1 + Math.floor(random() * 15), victims });
    }

    // ---- faults: stalls and server-side closes ----
    const publishFailures: string[] = [];
    let stalls = 0;
    let closes = 0;
    let lastStallEnd = 0;
    let stallChain: Promise<void> = Promise.resolve();
    const closing: Promise<void>[] = [];
    let stallPending = false;
    const stall = ({ delayMs, victims }: PlannedStall) => {
      // One stall at a time: a second one asked for while one is due or under way is not doubled.
      if (stallPending) return;
      stallPending = true;
      stallChain = stallChain.then(async () => {
        await sleep(delayMs);
        service.pause();
        const from = now();
        await sleep(options.stallMs);
        service.resume();
        lastStallEnd = now();
        stalls += 1;
        stallPending = false;
        say(`stall ${stalls}: ${Math.round(lastStallEnd - from)} ms`);
        // With the backlog of the stall waiting: the service closes a few connections.
        for (const victim of victims) {
          const connectionId = observers[victim]!.client.connectionId;
          if (!connectionId) continue;
          closes += 1;
          closing.push(
            fetch(`${service.httpUrl}/@connections/${encodeURIComponent(connectionId)}`, { method: 'DELETE' }).then(
              (response) => void response.body?.cancel(),
              () => {},
            ),
          );
        }
      });
    };

    // ---- publishing: one sequential lane per partition, all lanes at once ----
    const publish = async (item: Planned, partition: number): Promise<void> => {
      item.sentAt = now();
      const answered = fetch(`${service.httpUrl}/_local/topics/${encodeURIComponent(topic)}?partition=${partition}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([item.record]),
      });
      const response = await answered.catch((error: unknown) => ({ ok: false, status: 0, text: async () => String(error) }));
      if (!response.ok) publishFailures.push(`${item.id}: ${response.status} ${(await response.text()).slice(0, 300)}`);
      else await response.text();
    };
    const lanes = Array.from({ length: options.userLanes + 1 }, (_, lane) => plan.filter((item) => item.lane === lane));
    const positions = new Map(plan.map((item, index) => [item, index]));
    await Promise.all(
      lanes.map(async (items, lane) => {
        for (const item of items) {
          const sending = publish(item, lane);
          const planned = stallAfter.get(positions.get(item)!);
          if (planned) stall(planned);
          await sending;
          await sleep(item.gapMs);
        }
      }),
    );
    await stallChain;
    await Promise.all(closing);
    say(`published ${plan.length}; ${stalls} stalls; ${closes} connections closed by the service`);

    // ---- calm: a few channel notifications, then wait until every client is whole ----
    await sleep(300);
    for (let index = 0; index < options.calmNotifications; index += 1) {
      const id = `${runId}-calm${index + 1}`;
      const item: Planned = {
        id,
        stream: channelStream,
        order: streamOrders.get(channelStream) ?? 0,
        sentAt: 0,
        calm: true,
        lane: 0,
        gapMs: 200,
        record: notificationRecord(id, { channel: topic }),
      };
      streamOrders.set(channelStream, item.order + 1);
      plan.push(item);
      await publish(item, 0);
      await sleep(item.gapMs);
    }
    const expectedOf = (observer: Observer) => plan.filter((item) => item.stream === channelStream || item.stream === `user#${observer.userId}`);
    const deadline = now() + options.waitMs;
    const whole = () => observers.every((observer) => expectedOf(observer).every((item) => observer.shown.some((shown) => shown.id === item.id)));
    while (!whole() && now() < deadline) await sleep(100);
    say(whole() ? 'every client shows everything it was for' : `still missing some after ${options.waitMs} ms`);
    // A little longer: a late duplicate or a replay out of order shows here.
    await sleep(1500);

    const perClient = observers.map((observer) => tallyClient(observer.userId, expectedOf(observer), observer.shown, lastStallEnd));
    const tally = tallyRun(perClient);
    const problems = explain(observers, perClient, plan);
    await writeFile(
      join(directory, 'evidence.json'),
      JSON.stringify(
        {
          options: { ...options, progress: undefined },
          lastStallEnd,
          plan: plan.map(({ record: _record, ...item }) => item),
          clients: observers.map((observer, index) => ({
            ...perClient[index],
            shown: observer.shown,
            errors: observer.errors,
            lost: observer.lost,
            wire: observer.wire,
          })),
        },
        null,
        1,
      ),
    );
    return { ...tally, stalls, closes, wire: countWire(observers), publishFailures, problems, directory, durationMs: now() };
  } finally {
    await Promise.all(observers.map(({ client }) => client.close()));
    await service.stop();
  }
}

function countWire(observers: readonly Observer[]): WireCounts {
  let notificationFrames = 0;
  let recoverRequests = 0;
  let replayed = 0;
  let reconnects = 0;
  for (const { wire } of observers) {
    let sockets = 0;
    for (const { direction, frame, socket } of wire) {
      sockets = Math.max(sockets, socket);
      if (direction === 'out' && frame.type === 'recover') recoverRequests += 1;
      if (direction === 'in' && frame.type === 'notification') notificationFrames += 1;
      if (direction === 'in' && frame.type === 'recovered') replayed += Number(frame.payload?.count ?? 0);
    }
    reconnects += Math.max(0, sockets - 1);
  }
  return { notificationFrames, recoverRequests, replayed, reconnects };
}

function notificationRecord(id: string, target: Record<string, unknown>): Record<string, unknown> {
  return {
    messageId: randomUUID(),
    type: 'notification',
    payload: { notificationId: id, title: id, message: 'npm run continuity', priority: 'low', createdAt: new Date().toISOString() },
    ...target,
  };
}

/**
 * A line per missing, doubled or disordered notification (the first 20): its stream and
 * offset as other clients saw it, whether it reached this client's socket at all, and the
 * client's `recover` requests for that stream with the service's `recovered` answers.
 */
function explain(observers: readonly Observer[], perClient: readonly ReturnType<typeof tallyClient>[], plan: readonly Planned[]): string[] {
  const lines: string[] = [];
  const placeOf = new Map<string, string>();
  for (const observer of observers) {
    for (const shown of observer.shown)
      if (shown.stream && !placeOf.has(shown.id)) placeOf.set(shown.id, `${shown.stream} offset ${shown.offset} epoch ${shown.epoch}`);
  }
  const planned = new Map(plan.map((item) => [item.id, item]));
  for (const [index, tally] of perClient.entries()) {
    const observer = observers[index]!;
    const cases = [
      ...tally.missing.map((id) => ['missing', id] as const),
      ...tally.twice.map((id) => ['twice', id] as const),
      ...tally.disorder.map((id) => ['disorder', id] as const),
      ...tally.extra.map((id) => ['extra', id] as const),
    ];
    for (const [kind, id] of cases) {
      if (lines.length >= 20) return lines;
      const stream = planned.get(id)?.stream ?? '?';
      const onWire = observer.wire.filter(
        (entry) => entry.direction === 'in' && entry.frame.type === 'notification' && entry.frame.payload?.notificationId === id,
      );
      const recoveries = recoveriesOf(observer.wire, stream);
      lines.push(
        `${kind} ${id} for ${observer.userId}: ${placeOf.get(id) ?? `${stream}, on no client's socket`}; ` +
          `on its sockets ${onWire.length} time(s)${onWire.length > 0 ? ` (${onWire.map((entry) => `socket ${entry.socket} at ${Math.round(entry.at)}ms offset ${entry.frame.offset}`).join(', ')})` : ''}; ` +
          `recover for ${stream}: ${recoveries.length === 0 ? 'none' : recoveries.join(' | ')}; ` +
          `errors: ${observer.errors.slice(-3).join(' / ') || 'none'}`,
      );
    }
  }
  return lines;
}

/** `recover` requests that named `stream`, each with the `recovered` (or error) that answered it. */
function recoveriesOf(wire: readonly WireEntry[], stream: string): string[] {
  const out: string[] = [];
  for (const entry of wire) {
    if (entry.direction !== 'out' || entry.frame.type !== 'recover') continue;
    const asked = entry.frame.payload?.streams?.[stream];
    if (!asked) continue;
    const answer = wire.find((other) => other.direction === 'in' && other.frame.replyTo === entry.frame.messageId);
    const answered = answer?.frame.type === 'recovered' ? answer.frame.payload?.streams?.[stream] : undefined;
    out.push(
      `at ${Math.round(entry.at)}ms from ${asked.epoch}/${asked.offset} -> ` +
        (answer
          ? `${answer.frame.type} ${JSON.stringify(answered ?? answer.frame.payload)} count ${answer.frame.payload?.count} complete ${answer.frame.payload?.complete}`
          : 'no answer'),
    );
  }
  return out;
}

function shuffle<T>(items: T[], random: () => number): void {
  for (let index = items.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
}

function pick<T>(items: readonly T[], count: number, random: () => number): T[] {
  const copy = [...items];
  shuffle(copy, random);
  return copy.slice(0, count);
}
