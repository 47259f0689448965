import type { StreamPosition } from '../../protocol/frames.js';
import type { Connection } from './model.js';
import { EMPTY_POSITION, streamKey, streamsOfConnection } from './notification-streams.js';
import type { Clock, Log, NotificationLog } from './ports.js';

/**
 * The heads of the streams a connection holds, for `welcome` and `heartbeat` answers
 * (docs/protocol.md section 11): a client behind a head has missed something even when
 * nothing newer follows. One BatchGetItem of the head items (half a read unit each).
 */
export class StreamHeads {
  constructor(
    private readonly options: {
      readonly notifications: Pick<NotificationLog, 'heads'>;
      readonly clock: Clock;
      readonly log: Log;
    },
  ) {}

  /** Every stream the connection holds, `{ epoch: "", offset: 0 }` for those with nothing yet. */
  async of(connection: Pick<Connection, 'connectionId' | 'userId' | 'channels'>): Promise<Record<string, StreamPosition>> {
    const streams = streamsOfConnection(connection.userId, connection.channels);
    const heads = await this.options.notifications.heads(streams, this.options.clock.now().getTime());
    const answer: Record<string, StreamPosition> = {};
    for (const stream of streams) {
      const head = heads.get(stream);
      answer[stream] = head ? { epoch: head.epoch, offset: head.offset } : { ...EMPTY_POSITION };
    }
    return answer;
  }

  /**
   * The heads of `channels`' streams, for a `subscription` answer: a client that just took a
   * channel learns where it starts, so a notification whose live post it misses next is
   * found as a gap. Undefined when they cannot be read now.
   */
  async ofChannels(connectionId: string, channels: readonly string[]): Promise<Record<string, StreamPosition> | undefined> {
    if (channels.length === 0) return undefined;
    const streams = channels.map((channel) => streamKey({ kind: 'channel', channel }));
    try {
      const heads = await this.options.notifications.heads(streams, this.options.clock.now().getTime());
      return Object.fromEntries(
        streams.map((stream) => [stream, heads.has(stream) ? { epoch: heads.get(stream)!.epoch, offset: heads.get(stream)!.offset } : { ...EMPTY_POSITION }]),
      );
    } catch (error) {
      this.options.log.warn('subscription answer without stream heads: they could not be read', {
        connectionId,
        error: error instanceof Error ? error.name : String(error),
      });
      return undefined;
    }
  }

  /** As {@link of}, or undefined when the heads cannot be read now: the answer goes out without them. */
  async tryOf(connection: Pick<Connection, 'connectionId' | 'userId' | 'channels'>): Promise<Record<string, StreamPosition> | undefined> {
    try {
      return await this.of(connection);
    } catch (error) {
      this.options.log.warn('answer without stream heads: they could not be read', {
        connectionId: connection.connectionId,
        error: error instanceof Error ? error.name : String(error),
      });
      return undefined;
    }
  }
}
