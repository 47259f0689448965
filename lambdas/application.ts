import { derivedOnce } from './composition-base.js';
import { getServices, type Services } from './composition.js';
import { AccessPolicy } from './domain/access-policy.js';
import { ClientRequests } from './domain/client-requests.js';
import { ConnectionService } from './domain/connection-service.js';
import { InboxService } from './domain/inbox-service.js';
import { PresenceChannelService } from './domain/presence-channel-service.js';
import { PresenceService } from './domain/presence-service.js';
import { RecoveryService } from './domain/recovery-service.js';
import { StatsService } from './domain/stats-service.js';
import { SubscriptionService } from './domain/subscription-service.js';
import { StreamHeads } from './domain/stream-heads.js';
import { TokenRefreshService } from './domain/token-refresh.js';
import type { WelcomeScheduler } from './domain/ports.js';

/**
 * What the WebSocket route functions need, except registering a connection: the domain
 * services over the container's {@link Services}. Registering is `$connect`'s alone,
 * composed with its welcome scheduler in `composition-welcome.ts`, so no other route
 * function loads the Lambda client, and none can call `connect` (it is not in the type).
 */
export interface Application {
  readonly services: Services;
  /** Closing connections (`$disconnect`) and posting their welcome (Welcome). */
  readonly connections: Pick<ConnectionService, 'disconnect' | 'deliverWelcome'>;
  /** Every client frame (subscribe, heartbeat, presence, recover, stats, refresh, inbox, ...). */
  readonly requests: ClientRequests;
  /** Members, join and leave of presence channels (protocol section 9). */
  readonly presenceChannels: PresenceChannelService;
}

/** The connection lifecycle over `services`; `welcome` schedules the welcome of each connection registered. */
export function createConnectionService(services: Services, welcome: WelcomeScheduler): ConnectionService {
  const { config, clock, logger } = services;
  return new ConnectionService({
    connections: services.connections,
    sender: services.sender,
    welcome,
    // Read by the Welcome function only, for welcome's unreadCount.
    inbox: { unreadCount: (userId) => services.inbox.unreadCount(userId) },
    heads: streamHeadsOf(services),
    clock,
    log: logger,
    config: config.websocket,
  });
}

/** The heads of a connection's streams, for welcome and heartbeat answers (docs/protocol.md section 11). */
export function streamHeadsOf(services: Services): StreamHeads {
  return new StreamHeads({ notifications: services.notifications, clock: services.clock, log: services.logger });
}

// The Application's ConnectionService is typed without `connect`, so nothing reaches this.
const registersNoConnection: WelcomeScheduler = {
  schedule: async () => {
    throw new Error('only $connect registers connections: compose it with composition-welcome.ts');
  },
};

export function createApplication(services: Services): Application {
  const { config, clock, logger } = services;
  let connections: ConnectionService | undefined;
  let requests: ClientRequests | undefined;
  let presenceChannels: PresenceChannelService | undefined;
  // One policy for subscribing and for presence privacy, so the two never disagree.
  const access = new AccessPolicy(config.channels);
  const connectionService = () => (connections ??= createConnectionService(services, registersNoConnection));
  const presenceChannelService = () =>
    (presenceChannels ??= new PresenceChannelService({
      store: services.presenceChannels,
      connections: services.connections,
      subscriptions: services.subscriptions,
      sender: services.sender,
      access,
      clock,
      log: logger,
      maxMembers: config.channels.presence_max_members,
    }));
  return {
    services,
    get connections() {
      return connectionService();
    },
    get presenceChannels() {
      return presenceChannelService();
    },
    get requests() {
      return (requests ??= new ClientRequests({
        clock,
        log: logger,
        rateLimiter: services.rateLimiter,
        maxFrameSize: config.websocket.max_frame_size,
        websocket: config.websocket,
        connections: connectionService(),
        subscriptions: new SubscriptionService({
          connections: services.connections,
          subscriptions: services.subscriptions,
          access,
          config: config.channels,
          presenceChannels: presenceChannelService(),
          heads: streamHeadsOf(services),
        }),
        presence: new PresenceService({ presence: services.presence, connections: services.connections, access }),
        presenceChannels: presenceChannelService(),
        stats: new StatsService(services.connections, clock),
        recovery: new RecoveryService({
          connections: services.connections,
          notifications: services.notifications,
          sender: services.sender,
          clock,
          log: logger,
          historyTtlSeconds: config.websocket.history_ttl,
          settleMs: config.delivery.lease_seconds * 1000,
        }),
        streamHeads: streamHeadsOf(services),
        // The authorizer's verifier, loaded on the first `refresh` only: the other routes
        // never evaluate the Secrets Manager client it may build.
        refresh: new TokenRefreshService({
          connections: services.connections,
          tokens: { check: async (token) => (await import('./composition-authorizer.js')).getTokenVerifier().check(token) },
        }),
        inbox: new InboxService({ inbox: services.inbox, connections: services.connections, sender: services.sender, clock, log: logger }),
      }));
    },
  };
}

const applicationOf = derivedOnce(createApplication);

/** The application of this container, over {@link getServices} (once per cold start). */
export function getApplication(): Application {
  return applicationOf(getServices());
}
