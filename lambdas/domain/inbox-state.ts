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

/** An inbox item's position: its stream sort key (notification-streams.ts), newest sorting last. */
export { storedSortKey as inboxPosition } from './notification-streams.js';

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

/** What a store answers for a markRead: the count after it, and the ids it changed newest first. */
export function markResult(unreadCount: number, changed: readonly UnreadEntry[], readUpTo: string): InboxMarkResult {
  const newestFirst = [...changed].sort((a, b) => (a.position < b.position ? 1 : a.position > b.position ? -1 : 0));
  return { unreadCount, read: newestFirst.map((entry) => entry.messageId), readUpTo };
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

/**
 * Exceptions kept in a store's state item; a store may keep more as items of their own
 * (DynamoDbInboxStore). Each markRead rewrites the state item whole: at 12 positions of
 * about 62 bytes it stays within one write unit (1 KB; bench B6), and however many items
 * are read around an old unread one it never nears DynamoDB's 400 KB item limit.
 */
export const READ_ABOVE_IN_STATE = 12;

/** Items a store may write beside the state item in one change: a transaction's 100, less the state. */
export const EXCEPTION_ITEMS_PER_CHANGE = 99;

/** Where a change's exceptions go when the state item holds at most `limit` of them. */
export interface PlacedChange {
  /** The exceptions the state item keeps. */
  readonly inState: ReadonlySet<string>;
  /** Exceptions written as items of their own. */
  readonly newItems: readonly string[];
  /** True when exception items lie above the new watermark (old ones kept, or new ones). */
  readonly itemsAbove: boolean;
  /** What this write turns read: the change's entries less those deferred. */
  readonly changed: readonly UnreadEntry[];
  /** True when part of the change did not fit in one write and waits for the next. */
  readonly deferred: boolean;
}

/**
 * Splits the exceptions of `change` (from {@link markReadState}) between the state item,
 * which keeps at most `limit`, and items of their own (`asItems`: those above the
 * watermark stored so already; an exception item is never rewritten, and once the
 * watermark passes it, it is never read again and expires with its stream item). One
 * write holds at most `perWrite` items beside the state: when more positions would have
 * to move, the newest of the change are deferred to the next write (they stay unread
 * until then).
 */
export function placeExceptions(
  asItems: ReadonlySet<string>,
  change: { next: InboxReadState; changed: readonly UnreadEntry[] },
  limit: number = READ_ABOVE_IN_STATE,
  perWrite: number = EXCEPTION_ITEMS_PER_CHANGE,
): PlacedChange {
  const kept = change.next.readAbove;
  const keptInState = [...kept].filter((position) => !asItems.has(position));
  const changedPositions = new Set(change.changed.map((entry) => entry.position));
  const excess = keptInState.length - limit;
  let newItems: string[] = [];
  const deferred = new Set<string>();
  if (excess > 0) {
    // What this change read moves first (newest first), then what the state held before.
    const newestFirst = (a: string, b: string) => (a < b ? 1 : a > b ? -1 : 0);
    const candidates = [
      ...keptInState.filter((position) => changedPositions.has(position)).sort(newestFirst),
      ...keptInState.filter((position) => !changedPositions.has(position)).sort(newestFirst),
    ];
    newItems = candidates.slice(0, Math.min(excess, perWrite));
    for (const position of candidates.slice(newItems.length)) {
      if (deferred.size >= excess - newItems.length) break;
      if (changedPositions.has(position)) deferred.add(position);
    }
  }
  const moved = new Set(newItems);
  return {
    inState: new Set(keptInState.filter((position) => !moved.has(position) && !deferred.has(position))),
    newItems,
    itemsAbove: newItems.length > 0 || [...asItems].some((position) => kept.has(position)),
    changed: change.changed.filter((entry) => !deferred.has(entry.position)),
    deferred: deferred.size > 0,
  };
}
