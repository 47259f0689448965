import {
  EMPTY_READ_STATE,
  inboxPosition,
  isRead,
  markReadState,
  markResult,
  type InboxItem,
  type InboxMarkResult,
  type InboxPage,
  type InboxPageRequest,
  type InboxReadState,
  type UnreadEntry,
} from '../../domain/inbox-state.js';
import type { InboxStore, StoredNotification } from '../../domain/ports.js';
import type { MemoryState } from './state.js';

/**
 * The in-memory twin of DynamoDbInboxStore. Each method reads and writes without an
 * await in between, which is what the DynamoDB twin's conditional write achieves.
 */
export class MemoryInboxStore implements InboxStore {
  constructor(private readonly state: MemoryState) {}

  async list(userId: string, request: InboxPageRequest): Promise<InboxPage> {
    const state = this.readState(userId);
    const newestFirst = this.positioned(userId).reverse();
    const candidates = newestFirst.filter(
      ({ position }) => (request.before === undefined || position < request.before) && !(request.unreadOnly && isRead(state, position)),
    );
    const shown = candidates.slice(0, request.limit);
    const items: InboxItem[] = shown.map(({ position, notification }) => ({
      messageId: notification.messageId,
      acceptedAt: notification.acceptedAt,
      read: isRead(state, position),
      frame: structuredClone(notification.frame),
    }));
    return {
      items,
      unreadCount: this.unread(userId, state).length,
      ...(candidates.length > request.limit ? { next: shown[shown.length - 1]!.position } : {}),
    };
  }

  async unreadCount(userId: string): Promise<number> {
    return this.unread(userId, this.readState(userId)).length;
  }

  async markRead(userId: string, target: readonly string[] | 'all'): Promise<InboxMarkResult> {
    const state = this.readState(userId);
    const unread = this.unread(userId, state);
    const change = markReadState(state, unread, target);
    if (!change) return markResult(unread.length, [], state.readUpTo);
    this.state.inboxes.set(userId, change.next);
    return markResult(unread.length - change.changed.length, change.changed, change.next.readUpTo);
  }

  private readState(userId: string): InboxReadState {
    return this.state.inboxes.get(userId) ?? EMPTY_READ_STATE;
  }

  /** The user's stream, oldest first, with each item's position. */
  private positioned(userId: string): { position: string; notification: StoredNotification }[] {
    return [...(this.state.notifications.get(`user#${userId}`)?.values() ?? [])]
      .map((notification) => ({ position: inboxPosition(notification), notification }))
      .sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
  }

  private unread(userId: string, state: InboxReadState): UnreadEntry[] {
    return this.positioned(userId)
      .filter(({ position }) => !isRead(state, position))
      .map(({ position, notification }) => ({ position, messageId: notification.messageId }));
  }
}
