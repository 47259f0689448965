/**
 * WebSocket close codes the emulation uses, with the reason API Gateway reports in
 * `$disconnect`'s `disconnectReason` (or, for codes API Gateway does not document, a
 * plain description).
 *
 * | code | when |
 * |------|------|
 * | 1000 | the connection was deleted through the Management API |
 * | 1001 | idle for longer than the idle timeout, past the maximum duration, or the runtime stopped |
 * | 1003 | the client sent a binary frame |
 * | 1005 | the client closed without a status |
 * | 1006 | the TCP connection dropped without a close frame |
 * | 1009 | the client sent a message over the message size limit |
 */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  noStatus: 1005,
  abnormal: 1006,
  invalidPayload: 1007,
  messageTooBig: 1009,
} as const;

export const GOING_AWAY_REASON = 'Going away';

const DEFAULT_REASONS: Readonly<Record<number, string>> = {
  [CLOSE_CODES.normal]: 'Normal closure',
  [CLOSE_CODES.goingAway]: GOING_AWAY_REASON,
  [CLOSE_CODES.protocolError]: 'Protocol error',
  [CLOSE_CODES.unsupportedData]: 'Binary frames are not supported',
  [CLOSE_CODES.noStatus]: 'Client-side close frame status not set',
  [CLOSE_CODES.abnormal]: 'Connection closed abnormally',
  [CLOSE_CODES.invalidPayload]: 'Invalid frame payload data',
  [CLOSE_CODES.messageTooBig]: 'Message too big',
};

/** The reason `$disconnect` reports when the close frame carried none. */
export function defaultCloseReason(code: number): string {
  return DEFAULT_REASONS[code] ?? '';
}

/** The close code `ws` sends for a receiver error, by its error code. */
export function closeCodeForReceiverError(errorCode: string | undefined): number {
  switch (errorCode) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH':
      return CLOSE_CODES.messageTooBig;
    case 'WS_ERR_INVALID_UTF8':
      return CLOSE_CODES.invalidPayload;
    default:
      return CLOSE_CODES.protocolError;
  }
}
