import type { Connection } from './connection.js';

/** What one `recover { since }` (a series of rounds, servers without positions) on a session has seen so far. */
export interface RecoveryProgress {
  /** The last notification received during the current round: the next round starts after it. */
  tail: string | undefined;
  /**
   * Notifications to the user delivered while recovery ran: replayed ones (already in
   * welcome's unread count) cannot be told from live ones, so they are not counted one by one.
   */
  targetedToUser: number;
}

/**
 * One connection as the client uses it: the token it was opened with, the channels the
 * server holds for it, its timers and its recovery. Everything here lives and ends with
 * the connection; what outlives connections (wanted channels, the newest notification
 * seen, the unread count) stays on the client.
 */
export class Session {
  /** What the server holds for this connection, from its welcome and subscription answers. */
  serverChannels: readonly string[] = [];
  /** Its welcome told the streams' heads: the server keeps positions (docs/protocol.md section 11). */
  positioned = false;
  /** Set while a `recover { since }` (a server without positions) runs on this connection. */
  recovery: RecoveryProgress | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #renewal: ReturnType<typeof setTimeout> | undefined;
  #refresh: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param connection the connection; its events name this session
   * @param token the token it was opened with: its `exp` tells the expiry when welcome does not
   */
  constructor(
    readonly connection: Connection,
    readonly token: string,
  ) {}

  /** Calls `beat` every `intervalMs` until the session ends. */
  startHeartbeat(intervalMs: number, beat: () => void): void {
    this.#heartbeat = setInterval(beat, intervalMs);
  }

  /** Calls `renew` once after `delayMs`: the connection's age limit. */
  scheduleRenewal(delayMs: number, renew: () => void): void {
    this.#renewal = setTimeout(renew, delayMs);
  }

  /** Calls `refresh` after `delayMs`, replacing a refresh already scheduled. */
  scheduleRefresh(delayMs: number, refresh: () => void): void {
    clearTimeout(this.#refresh);
    this.#refresh = setTimeout(refresh, delayMs);
  }

  /** The connection closed: its timers stop and its recovery is over. */
  end(): void {
    clearInterval(this.#heartbeat);
    clearTimeout(this.#renewal);
    clearTimeout(this.#refresh);
    this.serverChannels = [];
    this.recovery = undefined;
  }
}
