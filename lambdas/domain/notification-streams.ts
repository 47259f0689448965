import type { NotificationFrame, StreamPosition } from '../../protocol/frames.js';
import type { Target } from '../../protocol/records.js';

/**
 * How notification streams (inbox, channel history, broadcast) are named, positioned and
 * ordered, shared by every NotificationLog implementation so that they agree
 * (docs/protocol.md section 11).
 */

/** The key of the stream a notification for `target` is kept on; also its name on the wire. */
export function streamKey(target: Target): string {
  switch (target.kind) {
    case 'user':
      return `user#${target.userId}`;
    case 'channel':
      return `channel#${target.channel}`;
    case 'broadcast':
      return 'broadcast';
  }
}

/** The streams a connection holds: its user's, broadcast, and one per channel it holds. */
export function streamsOfConnection(userId: string, channels: readonly string[]): string[] {
  return [
    ...new Set([streamKey({ kind: 'user', userId }), streamKey({ kind: 'broadcast' }), ...channels.map((channel) => streamKey({ kind: 'channel', channel }))]),
  ];
}

/** A stream with nothing in it yet: offset 0, no epoch. */
export const EMPTY_POSITION: StreamPosition = { epoch: '', offset: 0 };

/**
 * A new epoch: the epoch-ms time its head was created, 13 digits, so that a later epoch
 * sorts after an earlier one (until the year 2286).
 */
export function newEpoch(nowMs: number): string {
  return String(Math.floor(nowMs)).padStart(13, '0');
}

/** Offsets in sort keys: 15 digits, so that they sort as numbers do. */
export function offsetKey(offset: number): string {
  return String(offset).padStart(15, '0');
}

/**
 * A stream item's sort key: by epoch, then offset (the order of the stream), then the
 * acceptance time and messageId for readers that want the time (the inbox's `readUpTo`).
 */
export function positionedSortKey(epoch: string, offset: number, acceptedAt: string, messageId: string): string {
  return `${epoch}#${offsetKey(offset)}#${instantKey(acceptedAt)}#${messageId}`;
}

/** The first sort key at or after `offset` of `epoch` (a prefix sorts before every key it starts). */
export function offsetFloorKey(epoch: string, offset: number): string {
  return `${epoch}#${offsetKey(offset)}`;
}

/** Past every offset of `epoch`. */
export function epochCeilingKey(epoch: string): string {
  return `${epoch}#~`;
}

/** The acceptance time inside a stream item's sort key, or undefined for another key. */
export function acceptedAtOfSortKey(sk: string): string | undefined {
  return /^(?:\d{13}#\d{15}#)?(\d{4}-\d{2}-\d{2}T[^#]+)#/.exec(sk)?.[1];
}

/**
 * The sort key of a stored notification: positioned when its frame carries a position
 * (everything the fan-out stores), else `{acceptedAt}#{messageId}` (frames made by hand in tests).
 */
export function storedSortKey(notification: { readonly messageId: string; readonly acceptedAt: string; readonly frame: NotificationFrame }): string {
  const position = positionOf(notification.frame);
  return position
    ? positionedSortKey(position.epoch, position.offset, notification.acceptedAt, notification.messageId)
    : `${instantKey(notification.acceptedAt)}#${notification.messageId}`;
}

/** The stream position a frame carries, when it carries one. */
export function positionOf(frame: NotificationFrame): { stream: string; epoch: string; offset: number } | undefined {
  if (frame.stream === undefined || frame.epoch === undefined || frame.offset === undefined) return undefined;
  return { stream: frame.stream, epoch: frame.epoch, offset: frame.offset };
}

/**
 * Instants compare as strings, so every one is written the one way toISOString writes it
 * (`2024-01-01T00:00:00Z` would otherwise sort after `...00.000Z#...`).
 */
export function instantKey(instant: string): string {
  const ms = Date.parse(instant);
  return Number.isNaN(ms) ? instant : new Date(ms).toISOString();
}
