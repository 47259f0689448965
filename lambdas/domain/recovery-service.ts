import type { RecoveredPayload, RecoveredStream, StreamPosition } from '../../protocol/frames.js';
import type { Target } from '../../protocol/records.js';
import { EMPTY_POSITION, streamsOfConnection } from './notification-streams.js';
import { messageId as messageIdSchema } from '../../protocol/frames.js';
import { PostInDoubtError, ProtocolError } from './errors.js';
import type { Identity } from './model.js';
import type { Clock, ConnectionStore, Log, MessageSender, NotificationLog, PositionedNotification, StreamHead } from './ports.js';

/** Most notifications one `recover` replays; a client asks again from the last one it got. */
export const RECOVER_LIMIT = 500;
/** Most notifications one `recover` by positions posts (docs/protocol.md section 11); the client asks again. */
export const RECOVER_STREAMS_LIMIT = 100;

export interface RecoveryServiceOptions {
  readonly connections: ConnectionStore;
  readonly notifications: NotificationLog;
  readonly sender: MessageSender;
  readonly clock: Clock;
  readonly log: Log;
  readonly historyTtlSeconds: number;
  /** How long an empty offset may still be filled by a run storing it (`delivery.lease_seconds`). @default 60_000 */
  readonly settleMs?: number;
  /** Posting stops after this long, answering `complete: false` (the function's timeout is 10 s). @default 5000 */
  readonly postWithinMs?: number;
}

/**
 * Replays what a client missed: the user's inbox, the history of every channel the
 * connection holds and broadcasts, oldest first. Replays include notifications that
 * were already delivered live; clients drop those by messageId (protocol section 4).
 */
export class RecoveryService {
  constructor(private readonly options: RecoveryServiceOptions) {}

  async recover(connectionId: string, identity: Identity, since: string): Promise<{ count: number; complete: boolean }> {
    const { connections, notifications, sender, clock, historyTtlSeconds } = this.options;
    const connection = await connections.get(connectionId);
    if (!connection) throw new ProtocolError('NOT_REGISTERED', 'this connection is no longer registered; reconnect');

    const horizon = new Date(clock.now().getTime() - historyTtlSeconds * 1000).toISOString();
    let from: string;
    let complete = true;
    let skipMessageId: string | undefined;
    if (messageIdSchema.safeParse(since).success) {
      const acceptedAt = await notifications.acceptedAt(since);
      if (acceptedAt) {
        from = acceptedAt;
        skipMessageId = since;
      } else {
        // The message is unknown or has expired: replay all that is kept, and say so.
        from = horizon;
        complete = false;
      }
    } else {
      from = new Date(since).toISOString();
      if (from < horizon) {
        from = horizon;
        complete = false;
      }
    }

    const streams: Target[] = [
      { kind: 'user', userId: identity.userId },
      { kind: 'broadcast' },
      ...connection.channels.map((channel): Target => ({ kind: 'channel', channel })),
    ];
    const { notifications: found, truncated } = await notifications.readSince(streams, from, RECOVER_LIMIT + 1);
    const replay = found.filter((notification) => notification.messageId !== skipMessageId).slice(0, RECOVER_LIMIT);
    const more = truncated || found.filter((n) => n.messageId !== skipMessageId).length > RECOVER_LIMIT;
    // Sequential posts keep the order; the `recovered` reply follows the last one.
    let posted = 0;
    for (const notification of replay) {
      try {
        await sender.post(connectionId, JSON.stringify(notification.frame));
      } catch (error) {
        if (!(error instanceof PostInDoubtError)) throw error;
        // Maybe delivered: not posted again. The replay stops here, since a later post
        // could overtake it; `complete: false` tells the client to ask again from the
        // last one it got, which replays this one only if it did not arrive.
        this.options.log.warn('recover stopped at a post in doubt: maybe delivered, not posted again', {
          connectionId,
          messageId: notification.messageId,
          posted,
          left: replay.length - posted - 1,
        });
        return { count: posted, complete: false };
      }
      posted += 1;
    }
    this.options.log.info('recovered', { connectionId, since, count: posted, complete: complete && !more });
    return { count: posted, complete: complete && !more };
  }

  /**
   * `recover` by positions (docs/protocol.md section 11): for each stream the connection
   * holds, the notifications after the asked position, oldest first, at most
   * {@link RECOVER_STREAMS_LIMIT} in all, then where each stream now stands.
   */
  async recoverStreams(connectionId: string, identity: Identity, asked: Readonly<Record<string, StreamPosition>>): Promise<RecoveredPayload> {
    const { connections, notifications, sender, clock, log } = this.options;
    const connection = await connections.get(connectionId);
    if (!connection) throw new ProtocolError('NOT_REGISTERED', 'this connection is no longer registered; reconnect');
    const held = new Set(streamsOfConnection(identity.userId, connection.channels));
    const streams = Object.keys(asked).filter((stream) => held.has(stream));
    const nowMs = clock.now().getTime();
    const heads = await notifications.heads(streams, nowMs);
    const answer: Record<string, RecoveredStream> = {};
    const startedMs = performance.now();
    let posted = 0;
    let complete = true;
    for (const stream of streams) {
      const from = asked[stream]!;
      if (posted >= RECOVER_STREAMS_LIMIT) {
        // Not reached in this request: it keeps the asked position, and the client asks again.
        answer[stream] = { epoch: from.epoch, offset: from.offset };
        complete = false;
        continue;
      }
      const plan = await this.planStream(stream, from, heads.get(stream), nowMs, RECOVER_STREAMS_LIMIT - posted);
      answer[stream] = plan.answer;
      if (!plan.complete) complete = false;
      for (const notification of plan.replay) {
        // Out of time: the stream stands just before its first notification not posted.
        if (performance.now() - startedMs > (this.options.postWithinMs ?? 5000)) {
          answer[stream] = { ...withoutRetry(plan.answer), offset: notification.offset - 1 };
          complete = false;
          break;
        }
        try {
          await sender.post(connectionId, JSON.stringify(notification.frame));
        } catch (error) {
          if (!(error instanceof PostInDoubtError)) throw error;
          // Maybe delivered: not posted again here. The client asks again from the
          // answered position; one that has it drops it by position.
          log.warn('recover stopped at a post in doubt: maybe delivered, not posted again', { connectionId, stream, offset: notification.offset });
          answer[stream] = { ...withoutRetry(plan.answer), offset: notification.offset - 1 };
          for (const rest of streams) answer[rest] ??= { epoch: asked[rest]!.epoch, offset: asked[rest]!.offset };
          return this.finish(connectionId, posted, false, answer);
        }
        posted += 1;
      }
    }
    return this.finish(connectionId, posted, complete, answer);
  }

  private finish(connectionId: string, count: number, complete: boolean, streams: Record<string, RecoveredStream>): RecoveredPayload {
    this.options.log.info('recovered by positions', { connectionId, count, complete, streams: Object.keys(streams).length });
    return { count, complete, streams };
  }

  /**
   * What to replay of one stream, and where it then stands. Offsets between the asked
   * position and the head that hold no notification are passed over when a tombstone
   * says so, or once the notification after them was accepted more than the settle time
   * ago (no run can still be storing them); a younger empty offset stops the stream
   * there (`retryAfterMs`). Offsets missing right after the asked position while nothing
   * is known of the asked one either have expired: `lost`.
   */
  private async planStream(stream: string, from: StreamPosition, head: StreamHead | undefined, nowMs: number, room: number): Promise<StreamPlan> {
    if (!head) {
      // Nothing kept: never written, or its whole history expired with its head.
      return { replay: [], answer: { ...EMPTY_POSITION, ...(from.offset > 0 ? { lost: true as const } : {}) }, complete: true };
    }
    let lost = false;
    let start = from;
    if (from.offset > 0 && from.epoch !== head.epoch) {
      // Another epoch: the asked one's history is gone. The current one is replayed from its start.
      lost = true;
      start = { epoch: head.epoch, offset: 0 };
    }
    const replay: PositionedNotification[] = [];
    const settleMs = this.options.settleMs ?? 60_000;
    const stand = (offset: number, complete: boolean, retryAfterMs?: number): StreamPlan => ({
      replay,
      answer: { epoch: head.epoch, offset, ...(lost ? { lost: true as const } : {}), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
      complete,
    });
    if (start.offset >= head.offset) return stand(head.offset, true);

    // Read from the asked offset itself: whether it is still known tells expiry from a gap.
    const wanted = room + 1;
    const slice = await this.options.notifications.readFrom(stream, head.epoch, Math.max(start.offset, 1), wanted, nowMs);
    const later = slice.notifications.filter((notification) => notification.offset > start.offset);
    // Each item's ledger entry says where its notification lives: an item elsewhere is the
    // leftover of a redelivery that took an offset, wrote there, and is removing it again
    // (an offset given back may even hold a leftover beside the item that took it after).
    const places = await this.options.notifications.placesOf(later.map((notification) => notification.messageId));
    const byOffset = new Map<number, PositionedNotification>();
    for (const notification of slice.notifications) {
      const place = places.get(notification.messageId);
      const atItsPlace = place === null || (place !== undefined && place.epoch === head.epoch && place.offset === notification.offset);
      if (!byOffset.has(notification.offset) || atItsPlace) byOffset.set(notification.offset, notification);
    }
    let anchored = start.offset === 0 || byOffset.has(start.offset) || slice.skipped.has(start.offset);
    let cursor = start.offset;
    let index = 0;
    while (cursor < head.offset) {
      const next = cursor + 1;
      while (later[index] && later[index]!.offset <= next) index += 1;
      const item = byOffset.get(next);
      if (item) {
        const place = places.get(item.messageId);
        if (place === undefined && Date.parse(item.acceptedAt) + settleMs > nowMs) {
          // No entry yet: its claim is still on its way (written beside the item), or it is
          // being released. Ask again soon: the entry (or the item's removal) is milliseconds away.
          return stand(cursor, false, Math.max(100, Math.min(1000, Math.ceil(Date.parse(item.acceptedAt) + settleMs - nowMs))));
        }
        if (place && (place.epoch !== head.epoch || place.offset !== next)) {
          // A duplicate's leftover: the notification lives at its entry's offset. Passed over
          // once settled, as an empty offset is: until then its run may give the offset
          // back, and the next notification would be stored where this client stands.
          const settledAtMs = (item.takenAtMs ?? Date.parse(item.acceptedAt)) + settleMs;
          if (settledAtMs > nowMs) return stand(cursor, false, Math.max(100, Math.min(1000, Math.ceil(settledAtMs - nowMs))));
          cursor = next;
          anchored = true;
          continue;
        }
        if (replay.length >= room) return stand(cursor, false);
        replay.push(item);
        cursor = next;
        anchored = true;
        continue;
      }
      if (slice.skipped.has(next)) {
        cursor = next;
        anchored = true;
        continue;
      }
      const after = later[index];
      // The read stopped short of what follows this gap: ask again from here.
      if (!after && slice.notifications.length >= wanted) return stand(cursor, false);
      if (!anchored) {
        // Before the first item still kept, and nothing known of the asked one: expired.
        lost = true;
        cursor = (after ? after.offset : head.offset + 1) - 1;
        anchored = true;
        continue;
      }
      // When the offset after it was taken (later than this one was): no run still storing this one can be that late.
      const settledAtMs = (after ? (after.takenAtMs ?? Date.parse(after.acceptedAt)) : head.takenAtMs) + settleMs;
      if (settledAtMs > nowMs) return stand(cursor, false, Math.max(100, Math.ceil(settledAtMs - nowMs)));
      cursor = next;
    }
    return stand(cursor, true);
  }
}

interface StreamPlan {
  /** What to post, oldest first. */
  readonly replay: PositionedNotification[];
  /** Where the stream stands once all of `replay` is posted. */
  readonly answer: RecoveredStream;
  /** False when the stream has more than this request replays. */
  readonly complete: boolean;
}

function withoutRetry(answer: RecoveredStream): RecoveredStream {
  const { retryAfterMs: _retryAfterMs, ...rest } = answer;
  return rest;
}
