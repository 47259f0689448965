import type { Target } from '../../protocol/records.js';

/**
 * How notification streams (inbox, channel history, broadcast) are named and ordered,
 * shared by every NotificationLog implementation so that they agree.
 */

/** The key of the stream a notification for `target` is kept on. */
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

/**
 * Instants compare as strings, so every one is written the one way toISOString writes it
 * (`2024-01-01T00:00:00Z` would otherwise sort after `...00.000Z#...`).
 */
export function instantKey(instant: string): string {
  const ms = Date.parse(instant);
  return Number.isNaN(ms) ? instant : new Date(ms).toISOString();
}
