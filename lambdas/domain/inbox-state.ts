import type { NotificationFrame } from '../../protocol/frames.js';

/**
 * A user's inbox read state, shared by every InboxStore implementation so that they
 * agree: a read-up-to watermark (`readUpTo`, an item position) plus the positions read
 * above it (`readAbove`). Marking all read moves the watermark (one write, whatever the
 * inbox holds); nothing is written per item and nothing on the notification path.
 */
export interface InboxReadState {
  /** Every item at or below this position is read; '' when none is. */
  readonly readUpTo: string;
  /** Positions above the watermark that are read. */
  readonly readAbove: ReadonlySet<string>;
}

export const EMPTY_READ_STATE: InboxReadState = { readUpTo: '', readAbove: new Set() };

/** An inbox item's position: its stream sort key, `{acceptedAt}#{messageId}`, newest sorting last. */
export function inboxPosition(acceptedAt: string, messageId: string): string {
  return `${acceptedAt}#${messageId}`;
}

export function isRead(state: InboxReadState, position: string): boolean {
  return position <= state.readUpTo || state.readAbove.has(position);
}

/** One inbox item as listed. */
export interface InboxItem {
  readonly messageId: string;
  /** ISO: when the service accepted it. */
  readonly acceptedAt: string;
  readonly read: boolean;
  readonly frame: NotificationFrame;
}

/** Where a page starts: the position of the last item of the previous page. */
export interface InboxPageRequest {
  /** 1..100. */
  readonly limit: number;
  /** Only items older than this position (a previous page's `next`). */
  readonly before?: string;
  readonly unreadOnly: boolean;
}

export interface InboxPage {
  /** Newest first. */
  readonly items: InboxItem[];
  /** The user's unread items, judged by the same state as `items`. */
  readonly unreadCount: number;
  /** The position to ask `before` for the next page, when more items are left. */
  readonly next?: string;
}

/** What markRead changed. */
export interface InboxMarkResult {
  readonly unreadCount: number;
  /** The messageIds this call turned from unread to read, newest first. */
  readonly read: string[];
  /** The watermark after the call ('' when nothing is read): every item at or below it is read. */
  readonly readUpTo: string;
}

/**
 * What a store answers for a markRead: `unread` as it was counted, `change` as
 * {@link markReadState} gave it (undefined: nothing changed), the ids newest first.
 */
export function markResult(
  state: InboxReadState,
  unread: readonly UnreadEntry[],
  change: { next: InboxReadState; changed: UnreadEntry[] } | undefined,
): InboxMarkResult {
  if (!change) return { unreadCount: unread.length, read: [], readUpTo: state.readUpTo };
  const newestFirst = [...change.changed].sort((a, b) => (a.position < b.position ? 1 : a.position > b.position ? -1 : 0));
  return { unreadCount: unread.length - change.changed.length, read: newestFirst.map((entry) => entry.messageId), readUpTo: change.next.readUpTo };
}

/** An unread item above the watermark, as counted. */
export interface UnreadEntry {
  readonly position: string;
  readonly messageId: string;
}

/**
 * The state after marking `target` read, given every unread item (`unread`, any order).
 * The watermark then moves up to just below the oldest item still unread, dropping the
 * exceptions it passes, so that `readAbove` holds only reads above an unread item.
 * @returns undefined when nothing changes (no write is needed).
 */
export function markReadState(
  state: InboxReadState,
  unread: readonly UnreadEntry[],
  target: readonly string[] | 'all',
): { next: InboxReadState; changed: UnreadEntry[] } | undefined {
  const wanted = target === 'all' ? undefined : new Set(target);
  const changed = unread.filter((entry) => wanted === undefined || wanted.has(entry.messageId));
  if (changed.length === 0) return undefined;
  const changedPositions = new Set(changed.map((entry) => entry.position));
  const stillUnread = unread
    .filter((entry) => !changedPositions.has(entry.position))
    .map((entry) => entry.position)
    .sort();
  const oldestUnread = stillUnread[0];
  const readAbove = [...state.readAbove, ...changedPositions];
  let readUpTo = state.readUpTo;
  const kept = new Set<string>();
  for (const position of readAbove) {
    if (oldestUnread === undefined || position < oldestUnread) {
      if (position > readUpTo) readUpTo = position;
    } else kept.add(position);
  }
  return { next: { readUpTo, readAbove: kept }, changed };
}
