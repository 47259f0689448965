import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { resolveHs256Secret } from './auth/hs256-secret.js';
import { TokenVerifier } from './auth/token-verifier.js';
import { environmentKey, readSettings, type Settings } from './composition-base.js';
import { ConfigError } from './config/errors.js';

/**
 * The Authorizer's composition: the token verifier, built from the environment and the
 * configuration alone, so that the Authorizer loads no store and no client but Secrets
 * Manager's.
 */

/**
 * HS256 secret by resolveHs256Secret (auth/hs256-secret.ts): JWT_SECRET_ARN (Secrets
 * Manager, AWS), JWT_SECRET (env), `auth.hs256_secret` (Config.toml), the local default.
 * JWKS mode needs `auth.jwks_url`.
 */
export function createTokenVerifier({ env, config }: Settings): TokenVerifier {
  const { auth } = config;
  const checks = { ...(auth.issuer ? { issuer: auth.issuer } : {}), ...(auth.audience ? { audience: auth.audience } : {}) };
  if (auth.mode === 'jwks') {
    if (!auth.jwks_url) throw new ConfigError('notification_service.auth.jwks_url: required when auth.mode = "jwks"');
    return new TokenVerifier({ mode: 'jwks', jwksUrl: auth.jwks_url, ...checks });
  }
  const resolved = resolveHs256Secret(env, auth);
  if (resolved.source === 'JWT_SECRET_ARN') {
    const { secretArn } = resolved;
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
  const { secret } = resolved;
  return new TokenVerifier({ mode: 'hs256', ...checks, secret: async () => secret });
}

let cached: { key: string; verifier: TokenVerifier } | undefined;

/** The token verifier of this process (per cold start; see getServices). */
export function getTokenVerifier(): TokenVerifier {
  const key = environmentKey(process.env);
  if (cached?.key !== key) cached = { key, verifier: createTokenVerifier(readSettings(process.env)) };
  return cached.verifier;
}
