import type { NotificationLog, StoredNotification } from '../../domain/ports.js';
import type { Target } from '../../../protocol/records.js';
import type { MemoryState } from './state.js';
import { instantKey, streamKey } from '../../domain/notification-streams.js';

/** The in-memory twin of DynamoDbNotificationLog. */
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
      log.set(stored.messageId, stored);
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
}
