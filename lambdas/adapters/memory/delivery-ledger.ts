import {
  emptyNotificationCounts,
  type LedgerClaim,
  type LedgerEntry,
  type LedgerHandover,
  type NotificationCounts,
} from '../../domain/fanout/delivery-ledger.js';
import { instantKey, positionOf, storedSortKey, streamKey } from '../../domain/notification-streams.js';
import type { DeliveryLedger, StoredNotification } from '../../domain/ports.js';
import type { Target } from '../../../protocol/records.js';
import { MemoryNotificationLog } from './notification-log.js';
import type { MemoryState } from './state.js';

/** The in-memory twin of DynamoDbDeliveryLedger. */
export class MemoryDeliveryLedger implements DeliveryLedger {
  readonly #log: MemoryNotificationLog;

  constructor(private readonly state: MemoryState) {
    this.#log = new MemoryNotificationLog(state);
  }

  async begin(notification: StoredNotification, streams: readonly Target[], claim: LedgerClaim, ttlSeconds: number): Promise<LedgerEntry | undefined> {
    const existing = this.state.ledger.get(notification.messageId);
    if (existing && existing.owner !== claim.owner) return structuredClone(existing);
    if (!existing) {
      const acceptedAt = instantKey(notification.acceptedAt);
      this.state.ledger.set(notification.messageId, {
        messageId: notification.messageId,
        acceptedAt,
        status: 'posting',
        owner: claim.owner,
        leaseUntilMs: claim.leaseUntilMs,
        ...(positionOf(notification.frame) ? { position: positionOf(notification.frame)! } : {}),
      });
      this.state.acceptedAt.set(notification.messageId, acceptedAt);
    }
    await this.#log.append(notification, streams, ttlSeconds);
    return undefined;
  }

  async get(messageId: string): Promise<LedgerEntry | undefined> {
    const entry = this.state.ledger.get(messageId);
    return entry && structuredClone(entry);
  }

  async takeOver(messageId: string, claim: LedgerClaim, nowMs: number): Promise<LedgerEntry | undefined> {
    const entry = this.state.ledger.get(messageId);
    if (entry?.status !== 'posting' || (entry.leaseUntilMs > nowMs && entry.owner !== claim.owner)) return undefined;
    const taken: LedgerEntry = { ...entry, owner: claim.owner, leaseUntilMs: claim.leaseUntilMs };
    this.state.ledger.set(messageId, taken);
    return structuredClone(taken);
  }

  async extend(messageId: string, owner: string, leaseUntilMs: number): Promise<boolean> {
    const entry = this.state.ledger.get(messageId);
    if (!entry || entry.owner !== owner || entry.status !== 'posting') return false;
    this.state.ledger.set(messageId, { ...entry, leaseUntilMs });
    return true;
  }

  async giveUp(messageId: string, owner: string, handover?: LedgerHandover): Promise<boolean> {
    const entry = this.state.ledger.get(messageId);
    if (!entry || entry.owner !== owner || entry.status !== 'posting') return false;
    this.state.ledger.set(messageId, { ...entry, leaseUntilMs: 0, ...(handover ? { handover: structuredClone(handover) } : {}) });
    return true;
  }

  async finish(messageId: string, owner: string, counts: NotificationCounts): Promise<boolean> {
    const entry = this.state.ledger.get(messageId);
    if (!entry || entry.owner !== owner) return false;
    const { handover: _handover, ...rest } = entry;
    this.state.ledger.set(messageId, { ...rest, status: 'done', leaseUntilMs: 0, counts: { ...emptyNotificationCounts(), ...counts } });
    return true;
  }

  async release(notification: StoredNotification, streams: readonly Target[], owner: string): Promise<boolean> {
    const entry = this.state.ledger.get(notification.messageId);
    const position = positionOf(notification.frame);
    if (!entry || entry.owner !== owner || entry.status !== 'posting') {
      // Not ours: an item at this run's own offset goes, unless the entry keeps the notification there.
      if (!position || (entry?.position?.epoch === position.epoch && entry.position.offset === position.offset)) return false;
      for (const stream of streams) this.state.notifications.get(streamKey(stream))?.delete(storedSortKey(notification));
      return true;
    }
    this.state.ledger.delete(notification.messageId);
    this.state.acceptedAt.delete(notification.messageId);
    for (const stream of streams) this.state.notifications.get(streamKey(stream))?.delete(storedSortKey(notification));
    return position !== undefined;
  }
}
