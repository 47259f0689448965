import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { TokenVerifier } from './auth/token-verifier.js';
import { getServices, type Services } from './composition.js';
import { ConfigError } from './config/errors.js';
import { AccessPolicy } from './domain/access-policy.js';
import { ClientRequests } from './domain/client-requests.js';
import { ConnectionService } from './domain/connection-service.js';
import { PresenceService } from './domain/presence-service.js';
import { RecoveryService } from './domain/recovery-service.js';
import { StatsService } from './domain/stats-service.js';
import { SubscriptionService } from './domain/subscription-service.js';

/** The domain services of the WebSocket routes, wired to the process's adapters. */
export interface Application {
  readonly services: Services;
  readonly connections: ConnectionService;
  readonly requests: ClientRequests;
  readonly tokens: TokenVerifier;
}

/** The default HS256 secret of the local runtime (protocol section 1). */
export const LOCAL_DEV_SECRET = 'local-dev-secret';

export function createApplication(services: Services): Application {
  const { config, clock, logger } = services;
  let connections: ConnectionService | undefined;
  let requests: ClientRequests | undefined;
  let tokens: TokenVerifier | undefined;
  // One policy for subscribing and for presence privacy, so the two never disagree.
  const access = new AccessPolicy(config.channels);
  const connectionService = () =>
    (connections ??= new ConnectionService({
      connections: services.connections,
      sender: services.sender,
      welcome: services.welcome,
      clock,
      log: logger,
      config: config.websocket,
    }));
  return {
    services,
    get connections() {
      return connectionService();
    },
    get requests() {
      return (requests ??= new ClientRequests({
        clock,
        log: logger,
        rateLimiter: services.rateLimiter,
        maxFrameSize: config.websocket.max_frame_size,
        connections: connectionService(),
        subscriptions: new SubscriptionService({
          connections: services.connections,
          subscriptions: services.subscriptions,
          access,
          config: config.channels,
        }),
        presence: new PresenceService({ presence: services.presence, connections: services.connections, access }),
        stats: new StatsService(services.connections, clock),
        recovery: new RecoveryService({
          connections: services.connections,
          notifications: services.notifications,
          sender: services.sender,
          clock,
          log: logger,
          historyTtlSeconds: config.websocket.history_ttl,
        }),
      }));
    },
    get tokens() {
      return (tokens ??= createTokenVerifier(services));
    },
  };
}

/**
 * HS256 secret, in order: JWT_SECRET_ARN (Secrets Manager, AWS), JWT_SECRET (env),
 * `auth.hs256_secret` (Config.toml), the local default. JWKS mode needs `auth.jwks_url`.
 */
function createTokenVerifier(services: Services): TokenVerifier {
  const { auth } = services.config;
  const checks = { ...(auth.issuer ? { issuer: auth.issuer } : {}), ...(auth.audience ? { audience: auth.audience } : {}) };
  if (auth.mode === 'jwks') {
    if (!auth.jwks_url) throw new ConfigError('notification_service.auth.jwks_url: required when auth.mode = "jwks"');
    return new TokenVerifier({ mode: 'jwks', jwksUrl: auth.jwks_url, ...checks });
  }
  const { JWT_SECRET_ARN: secretArn, JWT_SECRET: secret } = services.env;
  if (secretArn) {
    const client = new SecretsManagerClient({});
    return new TokenVerifier({
      mode: 'hs256',
      ...checks,
      secret: async () => {
        const value = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
        if (!value.SecretString) throw new ConfigError(`JWT_SECRET_ARN: secret ${secretArn} holds no string`);
        return value.SecretString;
      },
    });
  }
  const resolved = secret ?? auth.hs256_secret ?? LOCAL_DEV_SECRET;
  return new TokenVerifier({ mode: 'hs256', ...checks, secret: async () => resolved });
}

const applications = new WeakMap<Services, Application>();

/** The application of this process (per cold start; see getServices). */
export function getApplication(): Application {
  const services = getServices();
  let application = applications.get(services);
  if (!application) {
    application = createApplication(services);
    applications.set(services, application);
  }
  return application;
}
