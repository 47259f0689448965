import { resolve } from 'node:path';
import { resolveLocalHs256Secret, type Hs256SecretValue } from '../lambdas/auth/hs256-secret.js';
import { loadConfigFile } from '../lambdas/config/load.js';
import type { Config } from '../lambdas/config/schema.js';

export { DEFAULT_LOCAL_JWT_SECRET } from '../lambdas/auth/hs256-secret.js';

/**
 * The HS256 secret of local runs (`npm start`, `npm run token`), by the Authorizer's own
 * resolution (lambdas/auth/hs256-secret.ts): `JWT_SECRET`, else `auth.hs256_secret`
 * from Config.toml, else the local default.
 */
export function resolveJwtSecret(config: Config, env: NodeJS.ProcessEnv = process.env): Hs256SecretValue {
  return resolveLocalHs256Secret(env, config.notification_service.auth);
}

/** Config.toml at the project root (all defaults when there is none). */
export function loadProjectConfig(projectRoot: string): Config {
  return loadConfigFile(resolve(projectRoot, 'Config.toml'));
}
