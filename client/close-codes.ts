import type { DisconnectPayload } from '../protocol/types.js';
import type { ClientErrorCode } from './errors.js';

/**
 * How a connection ends, and what the SDK does about it: one table of close codes and
 * one of `disconnect` reasons (centrifuge's disconnect.go keeps such a table).
 *
 * API Gateway closes with codes of its own (it cannot send one the service chooses), so
 * a close code never means "do not come back": every close after `welcome` that the
 * application did not ask for (`close()`) is followed by a reconnect, and the `state`
 * event of it carries `CONNECTION_LOST` with `details.code` and `details.reason`. A
 * socket that closes before `welcome` is a refused attempt instead (`AUTH_REJECTED` or
 * `HANDSHAKE_FAILED`, retried with backoff; docs/client.md). Where the service does not
 * want a reconnect it says so first, with a `disconnect` frame: {@link DISCONNECT_REASONS}.
 */

/** Who closes a connection with a code. */
export type CloseInitiator = 'server' | 'client' | 'network';

export interface CloseCodeEntry {
  readonly code: number;
  /** Who closes with it. */
  readonly by: readonly CloseInitiator[];
  readonly meaning: string;
  /** Whether the SDK connects again afterwards (never after the application's `close()`). */
  readonly reconnect: boolean;
  /** The code of the error on the `state` event that reports the close. */
  readonly error: ClientErrorCode;
}

/** The codes by name, for the places the SDK closes a socket itself. */
export const CLOSE_CODE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  HEARTBEAT_TIMEOUT: 4000,
  OFFLINE: 4001,
  UNREGISTERED: 4002,
} as const;

const entry = (code: number, by: readonly CloseInitiator[], meaning: string): CloseCodeEntry => ({
  code,
  by,
  meaning,
  reconnect: true,
  error: 'CONNECTION_LOST',
});

/**
 * Every close code the SDK knows. A code not listed is read as {@link UNKNOWN_CLOSE}:
 * reconnect.
 */
export const CLOSE_CODES: Readonly<Record<number, CloseCodeEntry>> = {
  [CLOSE_CODE.NORMAL]: entry(
    CLOSE_CODE.NORMAL,
    ['server', 'client'],
    'server: DELETE @connections/{id} (a disconnect, or cleanup of a connection whose token expired); ' +
      'client: close(), a connection replaced by its renewal, or one given up while being set up',
  ),
  [CLOSE_CODE.GOING_AWAY]: entry(
    CLOSE_CODE.GOING_AWAY,
    ['server'],
    "API Gateway's caps: idle for 10 minutes, or connected for 2 hours (renewal comes first); a deployment",
  ),
  [CLOSE_CODE.UNSUPPORTED_DATA]: entry(CLOSE_CODE.UNSUPPORTED_DATA, ['server'], 'a binary frame was sent (the SDK sends text only)'),
  [CLOSE_CODE.NO_STATUS]: entry(CLOSE_CODE.NO_STATUS, ['server', 'network'], 'closed without a status'),
  [CLOSE_CODE.ABNORMAL]: entry(CLOSE_CODE.ABNORMAL, ['network'], 'the TCP connection dropped without a close frame'),
  [CLOSE_CODE.MESSAGE_TOO_BIG]: entry(CLOSE_CODE.MESSAGE_TOO_BIG, ['server'], 'a frame over the message size limit was sent'),
  [CLOSE_CODE.INTERNAL_ERROR]: entry(CLOSE_CODE.INTERNAL_ERROR, ['server'], 'the endpoint failed'),
  [CLOSE_CODE.HEARTBEAT_TIMEOUT]: entry(
    CLOSE_CODE.HEARTBEAT_TIMEOUT,
    ['client'],
    'no answer to a heartbeat within heartbeatTimeoutMs (an error event HEARTBEAT_TIMEOUT comes first)',
  ),
  [CLOSE_CODE.OFFLINE]: entry(CLOSE_CODE.OFFLINE, ['client'], 'the browser went offline: the socket is given up at once and the reconnect waits for `online`'),
  [CLOSE_CODE.UNREGISTERED]: entry(
    CLOSE_CODE.UNREGISTERED,
    ['client'],
    'the service no longer holds the connection (an `error` NOT_REGISTERED, or `disconnect` reason `unregistered`): nothing would reach it, so it is given up at once',
  ),
};

/** What a code not in {@link CLOSE_CODES} means to the SDK. */
export const UNKNOWN_CLOSE: Omit<CloseCodeEntry, 'code'> = {
  by: ['server', 'network'],
  meaning: 'a close code the SDK does not know',
  reconnect: true,
  error: 'CONNECTION_LOST',
};

/** The table's entry for `code`, or what an unknown code means. */
export function closeCodeEntry(code: number): CloseCodeEntry {
  return CLOSE_CODES[code] ?? { code, ...UNKNOWN_CLOSE };
}

export interface DisconnectReasonEntry {
  readonly meaning: string;
  /** What the server sends as `reconnect`; the SDK follows the frame's own value. */
  readonly reconnect: boolean;
  /** The error the SDK reports: on the `state` event of the close (or of the end, when not reconnecting). */
  readonly error: ClientErrorCode;
}

/** The `disconnect` frame's reasons (protocol section 4), sent just before the server closes. */
export const DISCONNECT_REASONS: Readonly<Record<DisconnectPayload['reason'], DisconnectReasonEntry>> = {
  'token-expired': {
    meaning: "the connection's token expired without a `refresh`; cleanup closes it",
    reconnect: true,
    error: 'CONNECTION_LOST',
  },
  unregistered: {
    meaning: 'the connection was removed from the store before its welcome was sent (a 410, cleanup, or `$disconnect` racing it); the client closes it at once',
    reconnect: true,
    error: 'CONNECTION_LOST',
  },
  revoked: {
    meaning: 'a backend disconnected the user (server API POST /users/{userId}/disconnect): the client ends, state `closed`',
    reconnect: false,
    error: 'DISCONNECTED',
  },
};
