import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { ConfigError } from '../../lambdas/config/errors.js';
import type { Config } from '../../lambdas/config/schema.js';
import { USER_ID } from '../../protocol/channels.js';
import { loadProjectConfig, resolveJwtSecret } from '../jwt-secret.js';
import { PROJECT_ROOT } from '../project-root.js';
import { EXIT, runIfMain, type CommandOutput } from './command-line.js';

export const TOKEN_USAGE = `Usage: npm run token -- --user <id> [--roles <role,role>] [--ttl <seconds>]

Prints an HS256 JWT for the local runtime, signed with the secret npm start uses
(JWT_SECRET, else auth.hs256_secret in Config.toml, else local-dev-secret).

  --user   the user id (the token's sub), required
  --roles  comma-separated roles, e.g. admin,staff (default: none)
  --ttl    seconds until it expires (default: 3600)`;

export interface TokenRequest {
  readonly userId: string;
  readonly roles: readonly string[];
  readonly ttlSeconds: number;
}

/** Signs a token the way the authorizer expects it: sub, roles, iat, exp (and iss/aud when configured). */
export async function mintLocalToken(request: TokenRequest, secret: string, config?: Config): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ roles: [...request.roles] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(request.userId)
    .setIssuedAt(now)
    .setExpirationTime(now + request.ttlSeconds);
  const auth = config?.notification_service.auth;
  if (auth?.issuer) jwt.setIssuer(auth.issuer);
  if (auth?.audience) jwt.setAudience(auth.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

function parseTokenArguments(argv: string[]): TokenRequest | string {
  let values: { user?: string; roles?: string; ttl?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { user: { type: 'string' }, roles: { type: 'string' }, ttl: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (!values.user) return '--user is required';
  if (!USER_ID.test(values.user)) return `--user ${values.user}: not a user id (${USER_ID.source})`;
  const roles = (values.roles ?? '')
    .split(',')
    .map((role) => role.trim())
    .filter(Boolean);
  const ttlSeconds = values.ttl === undefined ? 3600 : Number(values.ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) return `--ttl ${values.ttl}: not a positive number of seconds`;
  return { userId: values.user, roles, ttlSeconds };
}

export async function main(argv: string[], output: CommandOutput): Promise<number> {
  const request = parseTokenArguments(argv);
  if (typeof request === 'string') {
    output.err(`${request}\n\n${TOKEN_USAGE}`);
    return EXIT.usage;
  }
  let config: Config;
  try {
    config = loadProjectConfig(PROJECT_ROOT);
  } catch (error) {
    if (error instanceof ConfigError) {
      output.err(error.message);
      return EXIT.failed;
    }
    throw error;
  }
  output.out(await mintLocalToken(request, resolveJwtSecret(config).secret, config));
  return EXIT.ok;
}

runIfMain(import.meta.url, main);
