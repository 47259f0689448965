import { disconnectFrame, type DisconnectPayload } from '../../protocol/frames.js';
import { ConnectionGoneError } from './errors.js';
import type { Clock, ConnectionStore, Log, MessageSender } from './ports.js';
import { serverFrame } from './server-frames.js';

export interface UserDisconnectServiceOptions {
  readonly connections: ConnectionStore;
  readonly sender: MessageSender;
  readonly clock: Clock;
  readonly log: Log;
}

/** What became of a user's connections. */
export interface UserDisconnectOutcome {
  readonly userId: string;
  /** Connections the store listed for the user, each closed and removed. */
  readonly connections: number;
  /** Of those, the ones whose socket was still open and received the `disconnect` frame. */
  readonly notified: number;
}

const REVOKED: DisconnectPayload = { reason: 'revoked', reconnect: false };

/**
 * Takes a user's access back now (server API `POST /users/{userId}/disconnect`, library
 * `disconnectUser`): every connection gets a `disconnect` frame, then is closed through
 * the Management API and removed from the store. DeleteConnection carries no close
 * code, so the frame is what tells the client SDK not to reconnect with its token.
 */
export class UserDisconnectService {
  constructor(private readonly options: UserDisconnectServiceOptions) {}

  async disconnect(userId: string): Promise<UserDisconnectOutcome> {
    const { connections, sender, clock, log } = this.options;
    const refs = await connections.listByUser(userId);
    const frame = JSON.stringify(disconnectFrame.parse(serverFrame(clock, 'disconnect', REVOKED)));
    let notified = 0;
    await Promise.all(
      refs.map(async ({ connectionId }) => {
        try {
          await sender.post(connectionId, frame);
          notified += 1;
        } catch (error) {
          // 410: the socket is gone already; closing and removing it is all that is left.
          // Any other failure must not keep the socket open: it is closed all the same.
          if (!(error instanceof ConnectionGoneError)) log.warn('disconnect frame not posted', { connectionId, error: String(error) });
        }
        await sender.close(connectionId);
        await connections.remove(connectionId);
      }),
    );
    log.info('user disconnected', { userId, connections: refs.length, notified });
    return { userId, connections: refs.length, notified };
  }
}
