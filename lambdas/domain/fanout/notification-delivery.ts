import { randomUUID } from 'node:crypto';
import type { NotificationFrame, StreamPosition } from '../../../protocol/frames.js';
import { positionOf, streamKey } from '../notification-streams.js';
import type { Target } from '../../../protocol/records.js';
import { TransientError } from '../errors.js';
import type { ConnectionRef } from '../model.js';
import type { Clock, ConnectionStore, DeliveryLedger, Log, NotificationLog, StoredNotification, SubscriptionStore, TimeBudget } from '../ports.js';
import { retryWithinBudget, type RetryTiming } from '../retry.js';
import { audienceOf, describeTarget, readAudience } from './audience.js';
import type { ChunkPoster } from './chunk-poster.js';
import { forEachBounded } from './connection-delivery.js';
import { emptyNotificationCounts, type LedgerClaim, type LedgerEntry, type NotificationCounts } from './delivery-ledger.js';
import type { PlannedDelivery } from './planned-delivery.js';
import { TokenBucket, UNLIMITED_POSTS } from './post-quota.js';
import { addCounts, sumOfOutcomes } from './outcome-counts.js';
import type { RecordPosition } from './source-record.js';
import { LEASE_MARGIN_MS, Lease } from './lease.js';

export interface NotificationDeliveryOptions {
  readonly ledger: DeliveryLedger;
  readonly notifications: NotificationLog;
  readonly connections: ConnectionStore;
  readonly subscriptions: SubscriptionStore;
  /** Posts a chunk under this run's lease and dead-letters its failures. */
  readonly poster: ChunkPoster;
  /** Large audiences; undefined without a progress store (every audience is posted here, a chunk at a time). */
  readonly planned: PlannedDelivery | undefined;
  readonly clock: Clock;
  readonly log: Log;
  readonly timing: RetryTiming;
  readonly reserveMs: number;
  readonly historyTtlSeconds: number;
  /** An audience up to this size is posted by the lean path: one chunk, no plan. */
  readonly chunkSize: number;
  readonly leaseMs: number;
  /** Posts per second of one notification's delivery; 0 for no limit. */
  readonly postsPerSecond: number;
}

/** What became of one notification. */
export type NotificationOutcome =
  | ({ readonly status: 'delivered'; readonly messageId: string; readonly target: Target } & NotificationCounts)
  | { readonly status: 'duplicate'; readonly messageId: string; readonly target: Target };

/**
 * Delivers one notification at most once per connection, whatever Kafka redelivers and
 * whenever a run dies (docs/delivery.md):
 *
 * - **the lean path** (an audience one chunk can post: every user-targeted notification,
 *   small channels): in one round trip, the ledger entry (duplicate check and in-progress
 *   marker, conditional), the history item, and the audience query; then the posts; then
 *   one write that marks it done. Four requests, three write units.
 * - **the shard plan** for larger audiences ({@link PlannedDelivery}).
 *
 * A run that finds the entry done reports a duplicate; one that finds it still posting
 * under a live lease fails the record for a later retry; one that finds the lease ended
 * takes over: a planned delivery is resumed, a lean one is counted in doubt (any of its
 * posts may have been made) and left to `recover`, never posted twice.
 */
export class NotificationDelivery {
  readonly #options: NotificationDeliveryOptions;

  constructor(options: NotificationDeliveryOptions) {
    this.#options = options;
  }

  async deliver(frame: NotificationFrame, target: Target, position: RecordPosition | undefined, budget: TimeBudget): Promise<NotificationOutcome> {
    const { ledger, log, historyTtlSeconds, notifications, clock } = this.#options;
    const { messageId } = frame;
    const context = { messageId, ...position, target: describeTarget(target) };
    const startedAt = performance.now();
    const claim = this.#claim(budget);
    const storeCall = this.#storeCall(budget);
    const stream = streamKey(target);

    // Round trip 1: the stream's next offset (docs/protocol.md section 11), and the audience beside it.
    const audience = readAudience(audienceOf(target, this.#options));
    audience.catch(() => undefined);
    const takenAtMs = clock.now().getTime();
    const place = await storeCall(() => notifications.takeOffset(stream, takenAtMs, historyTtlSeconds));
    const positioned: NotificationFrame = { ...frame, stream, epoch: place.epoch, offset: place.offset };
    const notification: StoredNotification = { messageId, acceptedAt: frame.timestamp, frame: positioned, takenAtMs };

    // Round trip 2: the ledger entry (conditional) and the history item.
    let existing: LedgerEntry | undefined;
    try {
      existing = await storeCall(() => ledger.begin(notification, [target], claim, historyTtlSeconds));
    } catch (error) {
      // Nothing was posted; whatever part of the claim landed is given up for the retry.
      await this.#release(notification, target, claim, budget);
      throw error;
    }
    if (!existing && clock.now().getTime() - takenAtMs > this.#options.leaseMs - LEASE_MARGIN_MS) {
      // Stalled between taking the offset and storing the notification for longer than
      // recovery waits on an empty offset (docs/protocol.md section 11): a client may
      // already have passed over it. Nothing was posted: give it up, and let the retry
      // store it afresh, at a new offset.
      await this.#release(notification, target, claim, budget);
      throw new TransientError(`stored ${messageId} too late for its offset ${place.offset} (stalled); the retry takes a new one`);
    }
    let counts: NotificationCounts;
    if (existing) {
      // Another run has it: the offset this run took will never hold it.
      await this.#skip(stream, place, takenAtMs, context, budget);
      const resumed = await this.#resume(existing, frame, target, context, budget);
      if (resumed === 'duplicate') {
        log.info('notification already delivered', { ...context, outcome: 'duplicate', durationMs: Math.round(performance.now() - startedAt) });
        return { status: 'duplicate', messageId, target };
      }
      counts = resumed;
    } else {
      let refs: ConnectionRef[];
      try {
        refs = await storeCall(async () => audience.catch(() => readAudience(audienceOf(target, this.#options))));
      } catch (error) {
        await this.#release(notification, target, claim, budget);
        throw error;
      }
      try {
        counts = await this.#deliverClaimed(positioned, refs, claim, context, budget);
      } catch (error) {
        // Posts may have been made: the claim stays, but its lease is given up, so that
        // the record's retry takes it over at once instead of meeting a live lease.
        await this.#yieldLease(messageId, claim, context, budget);
        throw error;
      }
    }
    log.info('notification delivered', { ...context, outcome: 'delivered', durationMs: Math.round(performance.now() - startedAt), ...counts });
    return { status: 'delivered', messageId, target, ...counts };
  }

  /** Posts a notification this run has claimed, and marks it done. */
  async #deliverClaimed(
    frame: NotificationFrame,
    refs: ConnectionRef[],
    claim: LedgerClaim,
    context: Record<string, unknown>,
    budget: TimeBudget,
  ): Promise<NotificationCounts> {
    const { planned, chunkSize, ledger, log } = this.#options;
    let counts: NotificationCounts;
    if (refs.length === 0) counts = emptyNotificationCounts();
    else if (refs.length > chunkSize && planned) counts = await planned.plan(frame, refs, budget, context);
    else counts = await this.#postHere(frame, refs, claim, context, budget);
    if (!(await this.#storeCall(budget)(() => ledger.finish(frame.messageId, claim.owner, counts)))) {
      log.warn('lost the notification to another run before marking it done', context);
    }
    return counts;
  }

  /**
   * The lean path: this run posts the whole audience (one chunk; more only without a
   * progress store), every attempt fenced on the ledger's lease, renewed while posting
   * outlasts half of it.
   */
  async #postHere(
    frame: NotificationFrame,
    refs: ConnectionRef[],
    claim: LedgerClaim,
    context: Record<string, unknown>,
    budget: TimeBudget,
  ): Promise<NotificationCounts> {
    const { poster, clock, postsPerSecond, log, ledger, leaseMs } = this.#options;
    const lease = new Lease(claim.leaseUntilMs, { clock, log, budget, leaseMs, renew: (untilMs) => ledger.extend(frame.messageId, claim.owner, untilMs) });
    const quota = postsPerSecond > 0 ? new TokenBucket({ ratePerSecond: postsPerSecond }) : UNLIMITED_POSTS;
    const { report, leaseHeld } = await poster.post({ messageId: frame.messageId, data: JSON.stringify(frame), refs, lease, quota, budget, context });
    const counts = addCounts({ ...emptyNotificationCounts(), targets: refs.length, shards: 1 }, report);
    // Another run may own it now and count it in doubt: no dead letters from this one.
    if (!leaseHeld) log.warn('lease ran out mid-delivery; no dead letters sent', { ...context, failed: report.failed, unattempted: report.unattempted.length });
    if (report.unattempted.length === 0) return counts;
    // Certainly not posted: handed to the record's retry, which takes the entry over at
    // once (the lease is given up) and posts them, rather than counting them in doubt. The
    // write is conditional on this run still owning the entry, whatever its lease says.
    const pending = report.unattempted.map((ref) => ref.connectionId);
    const { targets: _targets, shards: _shards, ...done } = counts;
    const handed = await this.#storeCall(budget)(() => ledger.giveUp(frame.messageId, claim.owner, { counts: done, pending })).catch(() => false);
    if (handed) {
      log.warn('time or lease ran out before every post; the retry posts the rest', { ...context, unattempted: pending.length });
      throw new DeliveryInProgressError(`${pending.length} of ${refs.length} targets of ${frame.messageId} not attempted yet; the retry posts them`);
    }
    // Another run owns it now and cannot know what this one attempted: in doubt to it too.
    return { ...counts, inDoubt: counts.inDoubt + pending.length };
  }

  /** A run found the entry: done, still someone else's, or left behind by a run that stopped. */
  async #resume(
    existing: LedgerEntry,
    frame: NotificationFrame,
    target: Target,
    context: Record<string, unknown>,
    budget: TimeBudget,
  ): Promise<NotificationCounts | 'duplicate'> {
    const { ledger, clock, log, planned, notifications, historyTtlSeconds } = this.#options;
    if (existing.status === 'done') return 'duplicate';
    const nowMs = clock.now().getTime();
    if (existing.leaseUntilMs > nowMs) {
      throw new DeliveryInProgressError(`another run is delivering ${frame.messageId} (lease for ${existing.leaseUntilMs - nowMs} ms more)`);
    }
    const claim = this.#claim(budget);
    const storeCall = this.#storeCall(budget);
    const taken = await storeCall(() => ledger.takeOver(frame.messageId, claim, nowMs));
    if (!taken) {
      const now = await storeCall(() => ledger.get(frame.messageId));
      if (!now || now.status === 'done') return 'duplicate';
      throw new DeliveryInProgressError(`another run took over ${frame.messageId}`);
    }
    // The history is what makes every in-doubt post recoverable: make sure it is there,
    // as the first run accepted it, at the place it took.
    const original: NotificationFrame = {
      ...frame,
      timestamp: taken.acceptedAt,
      ...(taken.position ? { stream: taken.position.stream, epoch: taken.position.epoch, offset: taken.position.offset } : {}),
    };
    await storeCall(() => notifications.append({ messageId: frame.messageId, acceptedAt: taken.acceptedAt, frame: original }, [target], historyTtlSeconds));
    let counts: NotificationCounts;
    const job = planned ? await planned.find(frame.messageId, budget) : undefined;
    if (job && planned) {
      log.info('resuming a planned delivery', { ...context, planId: job.planId, shards: job.shardCount });
      counts = await planned.resume(job, budget, context);
    } else {
      counts = await this.#resumeLean(taken, original, target, claim, context, budget);
    }
    if (!(await storeCall(() => ledger.finish(frame.messageId, claim.owner, counts)))) {
      log.warn('lost the notification to another run before marking it done', context);
    }
    return counts;
  }

  /**
   * Takes over a lean delivery another run left mid-way. A run that handed it over alive
   * said which targets it never attempted: those are posted now. A run that stopped
   * without a word (crashed, stalled past its lease) may have posted to anyone, so the
   * notification is posted again only to connections that drop duplicates by position
   * (`?dedupe=1`, the SDK): they get it now, once on screen; the rest are in doubt, never
   * posted twice, and heal by position (docs/protocol.md section 11).
   */
  async #resumeLean(
    taken: LedgerEntry,
    frame: NotificationFrame,
    target: Target,
    claim: LedgerClaim,
    context: Record<string, unknown>,
    budget: TimeBudget,
  ): Promise<NotificationCounts> {
    const { log, connections } = this.#options;
    const storeCall = this.#storeCall(budget);
    const refs = await storeCall(() => readAudience(audienceOf(target, this.#options)));
    if (taken.handover) {
      // A live run handed it over: it knows what it attempted. Its never-attempted targets
      // still connected are posted now; the rest is as it counted.
      const pending = new Set(taken.handover.pending);
      const toPost = refs.filter((ref) => pending.has(ref.connectionId));
      log.info('took over a delivery handed over mid-way', { ...context, pending: pending.size, stillConnected: toPost.length });
      const posted = toPost.length > 0 ? await this.#postHere(frame, toPost, claim, context, budget) : emptyNotificationCounts();
      const handed = { ...emptyNotificationCounts(), ...taken.handover.counts };
      const counts = addCounts({ ...handed, targets: 0, shards: 1 }, posted);
      return { ...counts, targets: sumOfOutcomes(handed) + pending.size };
    }
    const dedupers: ConnectionRef[] = [];
    await forEachBounded([refs], 25, async (ref) => {
      const connection = await storeCall(() => connections.get(ref.connectionId)).catch(() => undefined);
      if (connection?.dedupe) dedupers.push(ref);
    });
    const inDoubt = refs.length - dedupers.length;
    log.warn('took over a delivery left mid-way: posted again to clients that drop duplicates, the rest in doubt', {
      ...context,
      postedAgain: dedupers.length,
      inDoubt,
    });
    const posted = dedupers.length > 0 ? await this.#postHere(frame, dedupers, claim, context, budget) : emptyNotificationCounts();
    return { ...posted, targets: refs.length, shards: refs.length > 0 ? 1 : 0, inDoubt: posted.inDoubt + inDoubt };
  }

  #claim(budget: TimeBudget): LedgerClaim {
    return { owner: randomUUID(), leaseUntilMs: Lease.endFrom(this.#options.clock.now().getTime(), this.#options.leaseMs, budget) };
  }

  #storeCall(budget: TimeBudget): <T>(work: () => Promise<T>) => Promise<T> {
    return (work) => retryWithinBudget(work, this.#options.timing, budget, this.#options.reserveMs);
  }

  async #release(notification: StoredNotification, target: Target, claim: LedgerClaim, budget: TimeBudget): Promise<void> {
    try {
      const freed = await this.#storeCall(budget)(() => this.#options.ledger.release(notification, [target], claim.owner));
      const place = positionOf(notification.frame);
      // The redelivery takes another offset: this one will never hold the notification.
      if (place && freed) await this.#freeOffset(place.stream, place, notification.takenAtMs, budget);
    } catch (error) {
      // The claim then lapses with its lease; the retry takes it over, finds nothing
      // posted but cannot know it, and counts the audience in doubt (recoverable).
      this.#options.log.warn('could not release a claim', { messageId: notification.messageId, error: error instanceof Error ? error.name : String(error) });
    }
  }

  /** A tombstone for an offset that will never hold a notification; recovery passes it at once (else after the settle time). */
  async #skip(stream: string, place: StreamPosition, takenAtMs: number, context: Record<string, unknown>, budget: TimeBudget): Promise<void> {
    try {
      await this.#freeOffset(stream, place, takenAtMs, budget);
    } catch (error) {
      this.#options.log.warn('could not mark a skipped offset; recovery passes it after the settle time', {
        ...context,
        offset: place.offset,
        error: error instanceof Error ? error.name : String(error),
      });
    }
  }

  /**
   * An offset this run took and will never fill. Given back to the head (reused by the
   * next notification) only while no recovery can have passed over it yet: younger than
   * the settle time (the lease, less its margin). An older one keeps a tombstone: a
   * client may already stand past it, and would never see what reused it.
   */
  async #freeOffset(stream: string, place: StreamPosition, takenAtMs: number | undefined, budget: TimeBudget): Promise<void> {
    const { notifications, historyTtlSeconds, clock, leaseMs } = this.#options;
    const young = takenAtMs !== undefined && clock.now().getTime() - takenAtMs < leaseMs - LEASE_MARGIN_MS;
    await this.#storeCall(budget)(() =>
      young ? notifications.giveBack(stream, place, historyTtlSeconds) : notifications.skip(stream, place, historyTtlSeconds),
    );
  }

  /** Ends this run's lease now (it failed after posting may have begun), so the retry takes over without waiting. */
  async #yieldLease(messageId: string, claim: LedgerClaim, context: Record<string, unknown>, budget: TimeBudget): Promise<void> {
    try {
      await this.#storeCall(budget)(() => this.#options.ledger.giveUp(messageId, claim.owner));
    } catch (error) {
      // The lease then ends by itself; the retry waits for it.
      this.#options.log.warn('could not give the lease up after a failure', { ...context, error: error instanceof Error ? error.name : String(error) });
    }
  }
}

/** The record's delivery is still going on (another run, or shards); retrying the record resumes it. */
export class DeliveryInProgressError extends TransientError {}
