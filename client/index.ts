/**
 * The client SDK (`@aws-realtime-notifications/client`): browsers and Node.js 20+.
 * client/README.md describes it; the wire protocol is docs/protocol.md.
 */
export {
  NotificationClient,
  type ConnectionState,
  type InboxOptions,
  type MemberEvent,
  type NotificationClientEvents,
  type NotificationClientOptions,
  type ContinuityLost,
  type PositionStorage,
  type RecoveryResult,
  type StateChange,
} from './notification-client.js';
export { NotificationClientError, CLIENT_ERROR_CODES, type ClientErrorCode } from './errors.js';
export type { BackoffOptions } from './backoff.js';
export type { WebSocketConstructor, WebSocketLike } from './transport.js';
export {
  CLOSE_CODE,
  CLOSE_CODES,
  DISCONNECT_REASONS,
  UNKNOWN_CLOSE,
  closeCodeEntry,
  type CloseCodeEntry,
  type CloseInitiator,
  type DisconnectReasonEntry,
} from './close-codes.js';
// Plain interfaces (each checked against its schema's z.infer): the published types need no zod.
export type {
  DisconnectPayload,
  InboxReplyPayload,
  InboxStatePayload,
  MembersReplyPayload,
  NotificationFrame,
  NotificationPayload,
  PresenceReplyPayload,
  RecoveredPayload,
  RecoveredStream,
  StatsReplyPayload,
  StreamPosition,
  SubscriptionPayload,
  WelcomePayload,
} from '../protocol/types.js';
export type { ErrorCode, RejectionCode } from '../protocol/error-codes.js';
