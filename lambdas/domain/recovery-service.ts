import type { Target } from '../../protocol/records.js';
import { messageId as messageIdSchema } from '../../protocol/frames.js';
import { PostInDoubtError, ProtocolError } from './errors.js';
import type { Identity } from './model.js';
import type { Clock, ConnectionStore, Log, MessageSender, NotificationLog } from './ports.js';

/** Most notifications one `recover` replays; a client asks again from the last one it got. */
export const RECOVER_LIMIT = 500;

export interface RecoveryServiceOptions {
  readonly connections: ConnectionStore;
  readonly notifications: NotificationLog;
  readonly sender: MessageSender;
  readonly clock: Clock;
  readonly log: Log;
  readonly historyTtlSeconds: number;
}

/**
 * Replays what a client missed: the user's inbox, the history of every channel the
 * connection holds and broadcasts, oldest first. Replays include notifications that
 * were already delivered live; clients drop those by messageId (protocol section 4).
 */
export class RecoveryService {
  constructor(private readonly options: RecoveryServiceOptions) {}

  async recover(connectionId: string, identity: Identity, since: string): Promise<{ count: number; complete: boolean }> {
    const { connections, notifications, sender, clock, historyTtlSeconds } = this.options;
    const connection = await connections.get(connectionId);
    if (!connection) throw new ProtocolError('INTERNAL', 'this connection is no longer registered; reconnect');

    const horizon = new Date(clock.now().getTime() - historyTtlSeconds * 1000).toISOString();
    let from: string;
    let complete = true;
    let skipMessageId: string | undefined;
    if (messageIdSchema.safeParse(since).success) {
      const acceptedAt = await notifications.acceptedAt(since);
      if (acceptedAt) {
        from = acceptedAt;
        skipMessageId = since;
      } else {
        // The message is unknown or has expired: replay all that is kept, and say so.
        from = horizon;
        complete = false;
      }
    } else {
      from = new Date(since).toISOString();
      if (from < horizon) {
        from = horizon;
        complete = false;
      }
    }

    const streams: Target[] = [
      { kind: 'user', userId: identity.userId },
      { kind: 'broadcast' },
      ...connection.channels.map((channel): Target => ({ kind: 'channel', channel })),
    ];
    const { notifications: found, truncated } = await notifications.readSince(streams, from, RECOVER_LIMIT + 1);
    const replay = found.filter((notification) => notification.messageId !== skipMessageId).slice(0, RECOVER_LIMIT);
    const more = truncated || found.filter((n) => n.messageId !== skipMessageId).length > RECOVER_LIMIT;
    // Sequential posts keep the order; the `recovered` reply follows the last one.
    let posted = 0;
    for (const notification of replay) {
      try {
        await sender.post(connectionId, JSON.stringify(notification.frame));
      } catch (error) {
        if (!(error instanceof PostInDoubtError)) throw error;
        // Maybe delivered: not posted again. The replay stops here, since a later post
        // could overtake it; `complete: false` tells the client to ask again from the
        // last one it got, which replays this one only if it did not arrive.
        this.options.log.warn('recover stopped at a post in doubt: maybe delivered, not posted again', {
          connectionId,
          messageId: notification.messageId,
          posted,
          left: replay.length - posted - 1,
        });
        return { count: posted, complete: false };
      }
      posted += 1;
    }
    this.options.log.info('recovered', { connectionId, since, count: posted, complete: complete && !more });
    return { count: posted, complete: complete && !more };
  }
}
