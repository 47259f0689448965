import { z } from 'zod';
import { ERROR_CODES, REJECTION_CODES } from './error-codes.js';
import { USER_ID } from './channels.js';

/**
 * Every frame of the wire protocol (docs/protocol.md), shared by the handlers, the
 * local runtime, the client SDK and the tests. Inbound schemas strip unknown keys.
 */

export const isoTimestamp = z.iso.datetime({ offset: true });
export const messageId = z.uuid();
const channelName = z.string().min(1).max(256);
const userId = z.string().regex(USER_ID, 'a user id');

// ---- client -> server -------------------------------------------------------

export const subscribePayload = z.object({
  channels: z.array(channelName).min(1).max(100),
  action: z.enum(['subscribe', 'unsubscribe']).optional(),
  connectionId: z.string().min(1).max(128).optional(),
});
export const unsubscribePayload = z.object({
  channels: z.array(channelName).min(1).max(100),
  connectionId: z.string().min(1).max(128).optional(),
});
export const heartbeatPayload = z.object({
  connectionId: z.string().min(1).max(128).optional(),
  timestamp: isoTimestamp.optional(),
  status: z.literal('alive').optional(),
});
export const presencePayload = z.object({
  userIds: z.array(userId).min(1).max(100),
});
export const recoverPayload = z.object({
  since: z.union([messageId, isoTimestamp]),
});
export const statsPayload = z.object({});

/** Payload schema per client request type (the routes besides $connect/$disconnect/$default). */
export const clientPayloads = {
  subscribe: subscribePayload,
  unsubscribe: unsubscribePayload,
  heartbeat: heartbeatPayload,
  presence: presencePayload,
  recover: recoverPayload,
  stats: statsPayload,
} as const;
export type ClientRequestType = keyof typeof clientPayloads;
export const CLIENT_REQUEST_TYPES = Object.keys(clientPayloads) as ClientRequestType[];

/** The envelope of any client frame, before its payload is checked against its type. */
export const clientEnvelope = z.object({
  messageId: messageId.optional(),
  type: z.string().min(1).max(64),
  payload: z.record(z.string(), z.unknown()).default({}),
  timestamp: z.string().max(64).optional(),
});
export type ClientEnvelope = z.infer<typeof clientEnvelope>;

export type ClientPayload<T extends ClientRequestType> = z.infer<(typeof clientPayloads)[T]>;

// ---- server -> client -------------------------------------------------------

export const welcomePayload = z.object({
  connectionId: z.string(),
  userId: z.string(),
  channels: z.array(z.string()),
  heartbeatIntervalSeconds: z.number().int().positive(),
  serverTime: isoTimestamp,
});
export const subscriptionPayload = z.object({
  connectionId: z.string(),
  channels: z.array(z.string()),
  accepted: z.array(z.string()),
  rejected: z.array(z.object({ channel: z.string(), code: z.enum(REJECTION_CODES), reason: z.string() })),
});
export const heartbeatReplyPayload = z.object({
  connectionId: z.string(),
  timestamp: isoTimestamp,
  status: z.literal('alive'),
});
export const notificationPayload = z.object({
  notificationId: z.string().min(1).max(128),
  title: z.string().min(1).max(256),
  message: z.string().min(1).max(8192),
  priority: z.enum(['low', 'medium', 'high', 'urgent']),
  actionUrl: z.string().min(1).max(2048).optional(),
  createdAt: isoTimestamp,
});
export const presenceReplyPayload = z.object({
  users: z.record(
    z.string(),
    z.object({ online: z.boolean(), connections: z.number().int().min(0), lastSeenAt: isoTimestamp.optional() }),
  ),
});
export const recoveredPayload = z.object({ count: z.number().int().min(0), complete: z.boolean() });
export const statsReplyPayload = z.object({
  totalConnections: z.number().int().min(0),
  uniqueUsers: z.number().int().min(0),
  channels: z.record(z.string(), z.number().int().min(0)),
  generatedAt: isoTimestamp,
});
export const errorPayload = z.object({ code: z.enum(ERROR_CODES), message: z.string() });

const serverBase = {
  messageId: messageId,
  timestamp: isoTimestamp,
  replyTo: messageId.optional(),
};

export const welcomeFrame = z.object({ ...serverBase, type: z.literal('welcome'), payload: welcomePayload });
export const subscriptionFrame = z.object({ ...serverBase, type: z.literal('subscription'), payload: subscriptionPayload });
export const heartbeatFrame = z.object({ ...serverBase, type: z.literal('heartbeat'), payload: heartbeatReplyPayload });
export const notificationFrame = z.object({
  ...serverBase,
  type: z.literal('notification'),
  payload: notificationPayload,
  targetUserId: z.string().optional(),
  channel: z.string().optional(),
  broadcast: z.literal(true).optional(),
});
export const presenceFrame = z.object({ ...serverBase, type: z.literal('presence'), payload: presenceReplyPayload });
export const recoveredFrame = z.object({ ...serverBase, type: z.literal('recovered'), payload: recoveredPayload });
export const statsFrame = z.object({ ...serverBase, type: z.literal('stats'), payload: statsReplyPayload });
export const errorFrame = z.object({ ...serverBase, type: z.literal('error'), payload: errorPayload });

export const serverFrame = z.discriminatedUnion('type', [
  welcomeFrame,
  subscriptionFrame,
  heartbeatFrame,
  notificationFrame,
  presenceFrame,
  recoveredFrame,
  statsFrame,
  errorFrame,
]);

export type WelcomePayload = z.infer<typeof welcomePayload>;
export type SubscriptionPayload = z.infer<typeof subscriptionPayload>;
export type NotificationPayload = z.infer<typeof notificationPayload>;
export type PresenceReplyPayload = z.infer<typeof presenceReplyPayload>;
export type StatsReplyPayload = z.infer<typeof statsReplyPayload>;
export type ErrorPayload = z.infer<typeof errorPayload>;
export type NotificationFrame = z.infer<typeof notificationFrame>;
export type ServerFrame = z.infer<typeof serverFrame>;
export type ServerFrameType = ServerFrame['type'];
