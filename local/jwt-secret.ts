import { resolve } from 'node:path';
import { loadConfigFile } from '../lambdas/config/load.js';
import type { Config } from '../lambdas/config/schema.js';

/** The secret local tokens are signed with when nothing else is configured. */
export const DEFAULT_LOCAL_JWT_SECRET = 'local-dev-secret';

export interface JwtSecret {
  readonly secret: string;
  /** Where it came from, for the start-up banner. */
  readonly source: 'JWT_SECRET' | 'Config.toml auth.hs256_secret' | 'default';
}

/**
 * The HS256 secret of local runs, resolved the same way by `npm start` and
 * `npm run token` so their tokens always verify: `JWT_SECRET` from the environment,
 * else `auth.hs256_secret` from Config.toml, else {@link DEFAULT_LOCAL_JWT_SECRET}.
 */
export function resolveJwtSecret(config: Config, env: NodeJS.ProcessEnv = process.env): JwtSecret {
  if (env.JWT_SECRET) return { secret: env.JWT_SECRET, source: 'JWT_SECRET' };
  const configured = config.notification_service.auth.hs256_secret;
  if (configured) return { secret: configured, source: 'Config.toml auth.hs256_secret' };
  return { secret: DEFAULT_LOCAL_JWT_SECRET, source: 'default' };
}

/** Config.toml at the project root (all defaults when there is none). */
export function loadProjectConfig(projectRoot: string): Config {
  return loadConfigFile(resolve(projectRoot, 'Config.toml'));
}
