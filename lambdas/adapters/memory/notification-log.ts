import type { NotificationLog, PositionedNotification, StoredNotification, StreamHead, StreamSlice } from '../../domain/ports.js';
import type { StreamPosition } from '../../../protocol/frames.js';
import type { Target } from '../../../protocol/records.js';
import type { MemoryState } from './state.js';
import { instantKey, newEpoch, positionOf, storedSortKey, streamKey } from '../../domain/notification-streams.js';

/** The in-memory twin of DynamoDbNotificationLog. Nothing expires. */
export class MemoryNotificationLog implements NotificationLog {
  constructor(private readonly state: MemoryState) {}

  async append(notification: StoredNotification, streams: readonly Target[], _ttlSeconds: number): Promise<void> {
    const stored: StoredNotification = {
      messageId: notification.messageId,
      acceptedAt: instantKey(notification.acceptedAt),
      frame: structuredClone(notification.frame),
    };
    for (const stream of streams) {
      const key = streamKey(stream);
      let log = this.state.notifications.get(key);
      if (!log) {
        log = new Map();
        this.state.notifications.set(key, log);
      }
      log.set(storedSortKey(stored), stored);
    }
  }

  async acceptedAt(messageId: string): Promise<string | undefined> {
    return this.state.acceptedAt.get(messageId);
  }

  async readSince(streams: readonly Target[], since: string, limit: number): Promise<{ notifications: StoredNotification[]; truncated: boolean }> {
    const from = instantKey(since);
    const byMessage = new Map<string, StoredNotification>();
    for (const stream of streams) {
      for (const notification of this.state.notifications.get(streamKey(stream))?.values() ?? []) {
        if (notification.acceptedAt >= from) byMessage.set(notification.messageId, notification);
      }
    }
    const merged = [...byMessage.values()].sort((a, b) =>
      a.acceptedAt !== b.acceptedAt ? (a.acceptedAt < b.acceptedAt ? -1 : 1) : a.messageId < b.messageId ? -1 : 1,
    );
    return {
      notifications: merged.slice(0, limit).map((notification) => structuredClone(notification)),
      truncated: merged.length > limit,
    };
  }

  async takeOffset(stream: string, nowMs: number, _ttlSeconds: number): Promise<StreamPosition> {
    const head = this.state.heads.get(stream) ?? { epoch: newEpoch(nowMs), offset: 0, takenAtMs: nowMs };
    const next = { epoch: head.epoch, offset: head.offset + 1, takenAtMs: nowMs };
    this.state.heads.set(stream, next);
    return { epoch: next.epoch, offset: next.offset };
  }

  async heads(streams: readonly string[], _nowMs: number): Promise<Map<string, StreamHead>> {
    const heads = new Map<string, StreamHead>();
    for (const stream of streams) {
      const head = this.state.heads.get(stream);
      if (head) heads.set(stream, { ...head });
    }
    return heads;
  }

  async skip(stream: string, position: StreamPosition, _ttlSeconds: number): Promise<void> {
    let skips = this.state.skips.get(stream);
    if (!skips) {
      skips = new Set();
      this.state.skips.set(stream, skips);
    }
    skips.add(`${position.epoch}#${position.offset}`);
  }

  async placesOf(messageIds: readonly string[]): Promise<Map<string, StreamPosition | null>> {
    const places = new Map<string, StreamPosition | null>();
    for (const messageId of messageIds) {
      const entry = this.state.ledger.get(messageId);
      if (entry) places.set(messageId, entry.position ? { epoch: entry.position.epoch, offset: entry.position.offset } : null);
    }
    return places;
  }

  async giveBack(stream: string, position: StreamPosition, ttlSeconds: number): Promise<void> {
    const head = this.state.heads.get(stream);
    if (head && head.epoch === position.epoch && head.offset === position.offset) this.state.heads.set(stream, { ...head, offset: head.offset - 1 });
    else await this.skip(stream, position, ttlSeconds);
  }

  async readFrom(stream: string, epoch: string, fromOffset: number, limit: number, _nowMs: number): Promise<StreamSlice> {
    const notifications: PositionedNotification[] = [];
    for (const notification of this.state.notifications.get(stream)?.values() ?? []) {
      const position = positionOf(notification.frame);
      if (position?.epoch !== epoch || position.offset < fromOffset) continue;
      notifications.push({ ...structuredClone(notification), offset: position.offset, expiresAtMs: Number.POSITIVE_INFINITY });
    }
    notifications.sort((a, b) => a.offset - b.offset);
    const skipped = new Set<number>();
    for (const key of this.state.skips.get(stream) ?? []) {
      const [skippedEpoch, offset] = key.split('#');
      if (skippedEpoch === epoch && Number(offset) >= fromOffset) skipped.add(Number(offset));
    }
    return { notifications: notifications.slice(0, limit), skipped };
  }
}
