import {
  MemoryConnectionStore,
  MemoryInboxStore,
  MemoryNotificationLog,
  MemoryPresenceStore,
  MemoryRateLimiter,
  MemoryState,
  MemorySubscriptionStore,
} from '../../lambdas/adapters/memory/index.js';
import { TokenVerifier } from '../../lambdas/auth/token-verifier.js';
import { parseConfig } from '../../lambdas/config/load.js';
import { AccessPolicy } from '../../lambdas/domain/access-policy.js';
import { ClientRequests } from '../../lambdas/domain/client-requests.js';
import { ConnectionService } from '../../lambdas/domain/connection-service.js';
import { InboxService } from '../../lambdas/domain/inbox-service.js';
import type { Log } from '../../lambdas/domain/ports.js';
import { MemoryPresenceChannelStore } from '../../lambdas/adapters/memory/presence-channel-store.js';
import { PresenceChannelService } from '../../lambdas/domain/presence-channel-service.js';
import { PresenceService } from '../../lambdas/domain/presence-service.js';
import { RecoveryService } from '../../lambdas/domain/recovery-service.js';
import { StatsService } from '../../lambdas/domain/stats-service.js';
import { SubscriptionService } from '../../lambdas/domain/subscription-service.js';
import { TokenRefreshService } from '../../lambdas/domain/token-refresh.js';
import { RecordingSender } from './recording-sender.js';

const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** The HS256 secret the in-memory service's `refresh` verifies tokens with. */
export const IN_MEMORY_JWT_SECRET = 'in-memory-service-secret';

/**
 * The route-side services wired as lambdas/application.ts wires them, over the in-memory
 * twins of the DynamoDB adapters: the same checks, thousands of frames a second.
 */
export function buildInMemoryService(serviceConfig: Record<string, unknown> = {}) {
  const config = parseConfig({ notification_service: serviceConfig }).notification_service;
  let now = new Date('2026-01-01T00:00:00.000Z');
  const clock = { now: () => now };
  const state = new MemoryState();
  const connections = new MemoryConnectionStore(state);
  const sender = new RecordingSender();
  const access = new AccessPolicy(config.channels);
  const scheduled: string[] = [];
  const connectionService = new ConnectionService({
    connections,
    sender,
    welcome: { schedule: async (connectionId) => void scheduled.push(connectionId) },
    clock,
    log: silent,
    config: config.websocket,
    sleep: async () => {},
  });
  const notifications = new MemoryNotificationLog(state);
  const presenceChannels = new PresenceChannelService({
    store: new MemoryPresenceChannelStore(),
    connections,
    subscriptions: new MemorySubscriptionStore(state),
    sender,
    access,
    clock,
    log: silent,
    maxMembers: config.channels.presence_max_members,
  });
  const requests = new ClientRequests({
    clock,
    log: silent,
    rateLimiter: new MemoryRateLimiter(state, {
      ratePerSecond: config.websocket.rate_limit_per_second,
      burst: config.websocket.rate_limit_burst,
    }),
    maxFrameSize: config.websocket.max_frame_size,
    websocket: config.websocket,
    connections: connectionService,
    subscriptions: new SubscriptionService({
      connections,
      subscriptions: new MemorySubscriptionStore(state),
      access,
      config: config.channels,
      presenceChannels,
    }),
    presenceChannels,
    presence: new PresenceService({ presence: new MemoryPresenceStore(state), connections, access }),
    stats: new StatsService(connections, clock),
    recovery: new RecoveryService({ connections, notifications, sender, clock, log: silent, historyTtlSeconds: config.websocket.history_ttl }),
    refresh: new TokenRefreshService({
      connections,
      // The authorizer's verifier, judging exp at the service's clock.
      tokens: new TokenVerifier({ mode: 'hs256', secret: async () => IN_MEMORY_JWT_SECRET, now: () => now }),
    }),
    inbox: new InboxService({ inbox: new MemoryInboxStore(state), connections, sender, clock, log: silent }),
  });
  return {
    config,
    clock,
    state,
    sender,
    scheduled,
    notifications,
    requests,
    connectionService,
    advance: (ms: number) => (now = new Date(now.getTime() + ms)),
  };
}

/**
 * Everything a client request could change, as plain data to compare: connections,
 * subscriptions, users, kept notifications and posts. Rate buckets are left out on
 * purpose: every frame, refused or not, spends a token.
 */
export function snapshotOf(service: ReturnType<typeof buildInMemoryService>): string {
  const { state, sender } = service;
  const sorted = <T>(entries: Iterable<[string, T]>) => [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify({
    connections: sorted(state.connections),
    subscriptions: sorted(state.subscriptions).map(([channel, holders]) => [channel, sorted(holders)]),
    users: sorted(state.users).map(([userId, user]) => [userId, [...user.connectionIds].sort(), user.lastSeenAt]),
    notifications: sorted(state.notifications).map(([stream, kept]) => [stream, sorted(kept)]),
    acceptedAt: sorted(state.acceptedAt),
    inboxes: sorted(state.inboxes).map(([userId, read]) => [userId, read.readUpTo, [...read.readAbove].sort()]),
    posts: sender.posts.length,
  });
}
