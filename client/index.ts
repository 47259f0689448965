/**
 * The client SDK (`aws-realtime-notifications/client`): browsers and Node.js 20+.
 * docs/client.md describes it; the wire protocol is docs/protocol.md.
 */
export {
  NotificationClient,
  type ConnectionState,
  type InboxOptions,
  type MemberEvent,
  type NotificationClientEvents,
  type NotificationClientOptions,
  type RecoveryResult,
  type StateChange,
} from './notification-client.js';
export { NotificationClientError, CLIENT_ERROR_CODES, type ClientErrorCode } from './errors.js';
export type { BackoffOptions } from './backoff.js';
export type { WebSocketConstructor, WebSocketLike } from './transport.js';
export type {
  InboxReplyPayload,
  InboxStatePayload,
  MembersReplyPayload,
  NotificationFrame,
  NotificationPayload,
  PresenceReplyPayload,
  StatsReplyPayload,
  SubscriptionPayload,
  WelcomePayload,
} from '../lambdas/protocol/frames.js';
export type { ErrorCode } from '../lambdas/protocol/error-codes.js';
