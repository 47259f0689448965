/** The HS256 secret when nothing else is configured: local runs and tests only (protocol section 1). */
export const DEFAULT_LOCAL_JWT_SECRET = 'local-dev-secret';

/** The HS256 secret itself, and where it was found. */
export interface Hs256SecretValue {
  readonly source: 'JWT_SECRET' | 'auth.hs256_secret' | 'default';
  readonly secret: string;
}

/** Where the HS256 secret comes from: a Secrets Manager secret to read, or the secret itself. */
export type Hs256Secret = { readonly source: 'JWT_SECRET_ARN'; readonly secretArn: string } | Hs256SecretValue;

/** The variables the resolution reads (a Lambda's environment, or the local process's). */
export interface Hs256SecretEnvironment {
  /** A Secrets Manager secret holding the key (set by the CDK stack in AWS). */
  readonly JWT_SECRET_ARN?: string | undefined;
  /** The key itself (local development, tests). */
  readonly JWT_SECRET?: string | undefined;
}

/** The configuration's say (`notification_service.auth`). */
export interface Hs256SecretSettings {
  /** Config.toml's local secret; never used in AWS, where JWT_SECRET_ARN is set. */
  readonly hs256_secret?: string | undefined;
}

/**
 * The one resolution of the HS256 secret, shared by the Authorizer, `npm start` and
 * `npm run token`, so that the tokens one mints the other verifies. First found wins:
 * `JWT_SECRET_ARN` (Secrets Manager), `JWT_SECRET`, `auth.hs256_secret` (Config.toml),
 * {@link DEFAULT_LOCAL_JWT_SECRET}. An empty value counts as unset.
 */
export function resolveHs256Secret(env: Hs256SecretEnvironment, auth: Hs256SecretSettings): Hs256Secret {
  if (env.JWT_SECRET_ARN) return { source: 'JWT_SECRET_ARN', secretArn: env.JWT_SECRET_ARN };
  return resolveLocalHs256Secret(env, auth);
}

/**
 * {@link resolveHs256Secret} without Secrets Manager, which a local run (`npm start`,
 * `npm run token`) never reads: `JWT_SECRET`, `auth.hs256_secret`, the local default.
 */
export function resolveLocalHs256Secret(env: Pick<Hs256SecretEnvironment, 'JWT_SECRET'>, auth: Hs256SecretSettings): Hs256SecretValue {
  if (env.JWT_SECRET) return { source: 'JWT_SECRET', secret: env.JWT_SECRET };
  if (auth.hs256_secret) return { source: 'auth.hs256_secret', secret: auth.hs256_secret };
  return { source: 'default', secret: DEFAULT_LOCAL_JWT_SECRET };
}
