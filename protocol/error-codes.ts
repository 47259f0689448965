/** Codes of `error` frames (protocol section 4); the documented table is docs/protocol.md. */
export const ERROR_CODES = [
  'INVALID_MESSAGE',
  'UNKNOWN_TYPE',
  'MESSAGE_TOO_LARGE',
  'FORBIDDEN',
  'RATE_LIMITED',
  'INTERNAL',
  // refresh (docs/protocol.md): refused, nothing changed, the connection stays open.
  'TOKEN_INVALID',
  'TOKEN_USER_MISMATCH',
  'TOKEN_NOT_NEWER',
  // The connection is no longer in the store (removed by a 410, cleanup or a disconnect): reconnect.
  'NOT_REGISTERED',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Codes of `subscription.rejected[]` entries (protocol section 5). */
export const REJECTION_CODES = ['FORBIDDEN', 'INVALID_CHANNEL', 'LIMIT_EXCEEDED'] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];
