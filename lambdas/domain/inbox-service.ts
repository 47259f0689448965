import type { InboxReplyPayload, InboxStatePayload } from '../../protocol/frames.js';
import { ProtocolError } from './errors.js';
import type { InboxMarkResult } from './inbox-state.js';
import { acceptedAtOfSortKey, instantKey } from './notification-streams.js';
import type { Clock, ConnectionStore, InboxStore, Log, MessageSender } from './ports.js';
import { serverFrame } from './server-frames.js';

export interface InboxServiceOptions {
  readonly inbox: InboxStore;
  readonly connections: Pick<ConnectionStore, 'listByUser'>;
  readonly sender: MessageSender;
  readonly clock: Clock;
  readonly log: Log;
}

/** What `inbox` asks for (its payload, defaults applied). */
export interface InboxRequest {
  readonly limit: number;
  readonly before?: string;
  readonly unreadOnly: boolean;
}

/**
 * The user's inbox (docs/protocol.md section 10): pages of it, and its read state, which
 * is the same on every device: a change is pushed to the user's other connections.
 * Every call is for the caller's own user id; nothing here reads another user's inbox.
 */
export class InboxService {
  constructor(private readonly options: InboxServiceOptions) {}

  async list(userId: string, request: InboxRequest): Promise<InboxReplyPayload> {
    const before = request.before === undefined ? undefined : decodeInboxCursor(request.before);
    const page = await this.options.inbox.list(userId, {
      limit: request.limit,
      unreadOnly: request.unreadOnly,
      ...(before !== undefined ? { before } : {}),
    });
    return {
      items: page.items.map((item) => ({ messageId: item.messageId, timestamp: item.acceptedAt, read: item.read, notification: item.frame.payload })),
      unreadCount: page.unreadCount,
      ...(page.next !== undefined ? { nextCursor: encodeInboxCursor(page.next) } : {}),
    };
  }

  async unreadCount(userId: string): Promise<number> {
    return this.options.inbox.unreadCount(userId);
  }

  /**
   * Marks read and tells the user's other connections (best effort: a connection that is
   * gone or fails is logged, and the requester's answer does not wait on its fate).
   */
  async markRead(userId: string, connectionId: string, target: readonly string[] | 'all'): Promise<InboxStatePayload> {
    const state = inboxStateAnswer(await this.options.inbox.markRead(userId, target));
    if (state.read.length > 0) await this.pushToOthers(userId, connectionId, state);
    return state;
  }

  private async pushToOthers(userId: string, connectionId: string, state: InboxStatePayload): Promise<void> {
    const { connections, sender, clock, log } = this.options;
    const others = (await connections.listByUser(userId)).filter((ref) => ref.connectionId !== connectionId);
    if (others.length === 0) return;
    const data = JSON.stringify(serverFrame(clock, 'inboxState', state));
    const outcomes = await Promise.allSettled(others.map((ref) => sender.post(ref.connectionId, data)));
    outcomes.forEach((outcome, index) => {
      if (outcome.status === 'rejected') {
        log.warn('inboxState not delivered to another connection', { userId, connectionId: others[index]!.connectionId, error: String(outcome.reason) });
      }
    });
  }
}

/**
 * The most ids an `inboxState` lists. A uuid costs 39 bytes in the list, so 1,000 keep the
 * frame near 40 KB, a third of API Gateway's 128 KB message limit, beyond which the
 * Management API refuses the push (413) and a route response is cut off. Only `all` can
 * change more (`messageIds` takes at most 100).
 */
export const INBOX_STATE_MAX_IDS = 1000;

/**
 * The `inboxState` for a markRead result: at most {@link INBOX_STATE_MAX_IDS} ids, the
 * newest. When more changed, `truncated: true` and `readUpTo` (the watermark's timestamp:
 * every item whose timestamp is earlier is read) tell the client its list is partial, so
 * it marks by the watermark or asks `inbox` again; `unreadCount` is exact either way. A
 * client that knows neither field still reads a valid frame, with a shorter `read`.
 */
export function inboxStateAnswer(result: InboxMarkResult, maxIds = INBOX_STATE_MAX_IDS): InboxStatePayload {
  if (result.read.length <= maxIds) return { unreadCount: result.unreadCount, read: result.read };
  const acceptedAt = acceptedAtOfSortKey(result.readUpTo);
  return {
    unreadCount: result.unreadCount,
    read: result.read.slice(0, maxIds),
    truncated: true,
    // A watermark is always an item's position; the fallback only keeps the frame valid.
    readUpTo: acceptedAt ?? new Date(0).toISOString(),
  };
}

/** An inbox position: a stream item's sort key (`{epoch}#{offset}#{acceptedAt}#{messageId}`, notification-streams.ts; `{acceptedAt}#{messageId}` for an item without a position). */
const POSITION = /^(?:\d{13}#\d{15}#)?(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)#([A-Za-z0-9-]{1,128})$/;

/** An inbox position as the opaque cursor the client hands back. */
export function encodeInboxCursor(position: string): string {
  return Buffer.from(position, 'utf8').toString('base64url');
}

/** The position in a cursor. @throws ProtocolError INVALID_MESSAGE when it is not one this service made. */
export function decodeInboxCursor(cursor: string): string {
  const position = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = POSITION.exec(position);
  if (!match || instantKey(match[1]!) !== match[1] || encodeInboxCursor(position) !== cursor) {
    throw new ProtocolError('INVALID_MESSAGE', 'payload.before: not a nextCursor of an earlier inbox answer');
  }
  return position;
}
