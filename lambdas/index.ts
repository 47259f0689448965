/**
 * The library API of the original WebSocket module, for services that run beside a
 * deployment (with its table names, MANAGEMENT_ENDPOINT and SERVICE_CONFIG in their
 * environment, as the CDK construct gives its functions) and want to talk to its
 * connections without going through Kafka. Same rules as the Lambdas: the same access
 * checks, history for `recover`, and duplicate check by messageId.
 */
import { createServices, getServices, type Services } from './composition.js';
// The library connects (welcome) and publishes (fan-out): it composes both.
import { composeFanout, getFanoutParts, type FanoutParts } from './composition-fanout.js';
import { composeConnect, getConnectParts, type ConnectParts } from './composition-welcome.js';
import type { ConnectOutcome } from './domain/connection-service.js';
import type { NotificationOutcome } from './domain/fanout/fanout-service.js';
import { InboxService } from './domain/inbox-service.js';
import {
  inboxPayload,
  markReadPayload,
  notificationPayload,
  type InboxReplyPayload,
  type InboxStatePayload,
  type NotificationPayload,
  type StatsReplyPayload,
} from '../protocol/frames.js';
import { producerRecord, type ProducerRecord } from '../protocol/records.js';
import { StatsService } from './domain/stats-service.js';
import { UserDisconnectService, type UserDisconnectOutcome } from './domain/user-disconnect-service.js';

export type { ConnectOutcome } from './domain/connection-service.js';
export type { NotificationOutcome } from './domain/fanout/fanout-service.js';
export type { UserDisconnectOutcome } from './domain/user-disconnect-service.js';
export type {
  InboxReplyPayload as InboxPage,
  InboxStatePayload as InboxState,
  NotificationPayload,
  ServerFrame,
  StatsReplyPayload as ConnectionStats,
} from '../protocol/frames.js';
export * as protocol from '../protocol/index.js';

/** What listInbox asks for, as the `inbox` frame's payload. */
export interface ListInboxOptions {
  /** 1..100. @default 20 */
  readonly limit?: number;
  /** A `nextCursor` of an earlier answer. @default - the newest items */
  readonly before?: string;
  /** @default false */
  readonly unreadOnly?: boolean;
}

export interface SendOptions {
  /** Idempotency key: a second send with the same id delivers nothing. @default - a UUID of the target and the payload's notificationId (docs/protocol.md section 6) */
  readonly messageId?: string;
}

/** The module's functions, bound to one deployment's environment. */
export interface NotificationService {
  /** Registers a connection that was authenticated elsewhere and schedules its welcome. */
  handleConnection(connectionId: string, userId: string, roles?: readonly string[]): Promise<ConnectOutcome>;
  sendNotificationToUser(userId: string, notification: NotificationPayload, options?: SendOptions): Promise<NotificationOutcome>;
  broadcastMessage(notification: NotificationPayload, options?: SendOptions): Promise<NotificationOutcome>;
  broadcastToChannel(channel: string, notification: NotificationPayload, options?: SendOptions): Promise<NotificationOutcome>;
  getConnectionStats(): Promise<StatsReplyPayload>;
  /** Closes and removes connections silent for more than `minutes`; returns how many were removed. */
  cleanupInactiveConnections(minutes: number): Promise<number>;
  /**
   * Closes every connection of the user now: each gets a `disconnect` frame (reason
   * `revoked`, reconnect false: the client SDK stops reconnecting), then is closed and removed.
   */
  disconnectUser(userId: string): Promise<UserDisconnectOutcome>;
  /**
   * A page of the user's inbox, newest first, with read state and the unread count, as
   * the `inbox` frame answers it.
   * @throws ZodError / ProtocolError (INVALID_MESSAGE) for options the frame would refuse.
   */
  listInbox(userId: string, options?: ListInboxOptions): Promise<InboxReplyPayload>;
  /**
   * Marks the user's items (1..100 messageIds, or 'all') read and pushes the resulting
   * `inboxState` to every open connection of the user.
   * @throws ZodError for ids the frame would refuse.
   */
  markRead(userId: string, target: readonly string[] | 'all'): Promise<InboxStatePayload>;
}

/** The functions for an explicit environment (default: this process's). */
export function createNotificationService(env?: NodeJS.ProcessEnv): NotificationService {
  let composed: { services: Services; connect: ConnectParts; fanout: FanoutParts } | undefined;
  // This process's parts (once per container), or parts of its own for an explicit environment.
  const parts = () => {
    if (env) {
      if (!composed) {
        const services = createServices(env);
        composed = { services, connect: composeConnect(services), fanout: composeFanout(services) };
      }
      return composed;
    }
    return { services: getServices(), connect: getConnectParts(), fanout: getFanoutParts() };
  };
  const services = () => parts().services;
  const publish = (target: Pick<ProducerRecord, 'targetUserId' | 'channel' | 'broadcast'>, notification: NotificationPayload, options: SendOptions = {}) =>
    parts().fanout.fanout.publish(
      producerRecord.parse({
        // Without one, the key is the target and the payload's notificationId (messageIdOf): a retry is a duplicate.
        ...(options.messageId !== undefined ? { messageId: options.messageId } : {}),
        type: 'notification',
        payload: notificationPayload.parse(notification),
        ...target,
      }),
    );
  const inbox = () => {
    const { inbox: store, connections, sender, clock, logger } = services();
    return new InboxService({ inbox: store, connections, sender, clock, log: logger });
  };
  return {
    handleConnection: (connectionId, userId, roles = []) => parts().connect.connections.connect(connectionId, { userId, roles }),
    sendNotificationToUser: (userId, notification, options) => publish({ targetUserId: userId }, notification, options),
    broadcastMessage: (notification, options) => publish({ broadcast: true }, notification, options),
    broadcastToChannel: (channel, notification, options) => publish({ channel }, notification, options),
    getConnectionStats: () => new StatsService(services().connections, services().clock).collect(),
    cleanupInactiveConnections: async (minutes) => {
      const summary = await services().cleanup.cleanupInactive(minutes * 60);
      return summary.removed;
    },
    disconnectUser: (userId) => {
      const { connections, sender, clock, logger } = services();
      return new UserDisconnectService({ connections, sender, clock, log: logger }).disconnect(userId);
    },
    // async: a refused option rejects the promise, as every other failure does.
    listInbox: async (userId, options = {}) => inbox().list(userId, inboxPayload.parse(options)),
    markRead: async (userId, target) => {
      const request = markReadPayload.parse(target === 'all' ? { all: true } : { messageIds: target });
      // No connection is the requester's: every one of the user's connections is told.
      return inbox().markRead(userId, '', 'all' in request ? 'all' : request.messageIds);
    },
  };
}

const defaultService = createNotificationService();

export const handleConnection = defaultService.handleConnection;
export const sendNotificationToUser = defaultService.sendNotificationToUser;
export const broadcastMessage = defaultService.broadcastMessage;
export const broadcastToChannel = defaultService.broadcastToChannel;
export const getConnectionStats = defaultService.getConnectionStats;
export const cleanupInactiveConnections = defaultService.cleanupInactiveConnections;
export const disconnectUser = defaultService.disconnectUser;
export const listInbox = defaultService.listInbox;
export const markRead = defaultService.markRead;
