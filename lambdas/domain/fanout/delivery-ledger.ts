import { COUNT_NAMES, emptyCounts, type OutcomeCounts } from './outcome-counts.js';

/**
 * One entry per messageId: the fan-out's duplicate check and in-progress marker in one
 * item (docs/delivery.md, "The lean path"). The first run to write it owns the delivery
 * until its lease ends; a later run finds it and either stops (done), waits (posting,
 * lease still held) or takes it over (posting, lease ended: its owner crashed or ran out
 * of time mid-way, so whatever it may have posted is in doubt and never posted again).
 */

/** What a delivery came to, as the ledger keeps it once done. */
export interface NotificationCounts extends OutcomeCounts {
  /** Connections the notification was meant for (each once). */
  targets: number;
  /** Shards its audience was split into (0 when it had none, 1 for the lean path). */
  shards: number;
}

/** `posting`: a run owns it (or did, until its lease ended); `done`: delivered, with its counts. */
export type LedgerStatus = 'posting' | 'done';

export interface LedgerEntry {
  readonly messageId: string;
  /** ISO; when the first run accepted it: the notification's timestamp and its place in history. */
  readonly acceptedAt: string;
  readonly status: LedgerStatus;
  readonly owner: string;
  /** Epoch ms when the owner's lease ends. */
  readonly leaseUntilMs: number;
  /** Present once done. */
  readonly counts?: NotificationCounts;
  /** What a run that gave the entry up alive had done, and what it never attempted. */
  readonly handover?: LedgerHandover;
  /** The stream position the first run took for it (docs/protocol.md section 11); absent for an entry without one. */
  readonly position?: { readonly stream: string; readonly epoch: string; readonly offset: number };
}

/**
 * A live run's handover of a lean delivery it could not finish (its time or lease ran
 * out): the outcomes of what it attempted, and the connection ids it never attempted,
 * certainly not posted, which the takeover posts.
 */
export interface LedgerHandover {
  readonly counts: OutcomeCounts;
  readonly pending: readonly string[];
}

/** A run's hold on a messageId. */
export interface LedgerClaim {
  readonly owner: string;
  readonly leaseUntilMs: number;
}

/** Every count a done entry keeps: the outcome counts, and what they were counted over. */
export const NOTIFICATION_COUNT_NAMES = ['targets', 'shards', ...COUNT_NAMES] as const;

export function emptyNotificationCounts(): NotificationCounts {
  return { targets: 0, shards: 0, ...emptyCounts() };
}
