import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import * as z from '../../protocol/zod-mini.js';
import { formatZodIssues } from '../../protocol/zod-issues.js';
import { USER_ID } from '../../protocol/channels.js';
import type { Identity } from '../domain/model.js';
import type { TokenCheck, TokenChecker } from '../domain/token-refresh.js';
import { NotificationServiceError } from '../domain/errors.js';

/** The token is missing, malformed, expired, not yet valid, or badly signed. */
export class InvalidTokenError extends NotificationServiceError {}

/** Clock leeway for `exp` and `nbf` (protocol section 1: at most 5 s). */
export const CLOCK_TOLERANCE_SECONDS = 5;

/** 10000-01-01T00:00:00Z: the first `exp` whose ISO form no longer sorts as a string. */
const MAX_EXP_SECONDS = 253_402_300_800;

export type TokenVerifierOptions = {
  readonly issuer?: string;
  readonly audience?: string;
  /** The time `exp` and `nbf` are judged at. @default - the system clock */
  readonly now?: () => Date;
} & ({ readonly mode: 'hs256'; readonly secret: () => Promise<string> } | { readonly mode: 'jwks'; readonly jwksUrl: string });

const claims = z.object({
  sub: z.string().check(z.regex(USER_ID, 'sub must be a user id')),
  roles: z._default(z.array(z.string().check(z.minLength(1), z.maxLength(64))).check(z.maxLength(50)), []),
});

/**
 * Verifies `?token=` JWTs with `jose`. The algorithm is pinned per mode (HS256 with a
 * shared secret; RS256/ES256 from a JWKS), so `alg: none` and algorithm confusion are
 * refused; `exp` and `sub` are required; keys are cached across invocations.
 */
export class TokenVerifier implements TokenChecker {
  private readonly algorithms: string[];
  private readonly jwks?: JWTVerifyGetKey;
  private secretKey?: Promise<Uint8Array>;

  constructor(private readonly options: TokenVerifierOptions) {
    if (options.mode === 'hs256') {
      this.algorithms = ['HS256'];
    } else {
      this.algorithms = ['RS256', 'ES256'];
      this.jwks = createRemoteJWKSet(new URL(options.jwksUrl), { cacheMaxAge: 10 * 60 * 1000 });
    }
  }

  /** The token's user and roles. @throws InvalidTokenError */
  async verify(token: string | undefined): Promise<Identity> {
    const { userId, roles } = await this.verifyIdentity(token);
    return { userId, roles };
  }

  /** The refresh frame's check: the same verification, answered as data. */
  async check(token: string): Promise<TokenCheck> {
    try {
      const identity = await this.verifyIdentity(token);
      return { valid: true, userId: identity.userId, expiresAt: identity.tokenExpiresAt };
    } catch (error) {
      if (error instanceof InvalidTokenError) return { valid: false, reason: error.message };
      throw error;
    }
  }

  /** As verify, with `tokenExpiresAt` (the token's `exp`, ISO). @throws InvalidTokenError */
  async verifyIdentity(token: string | undefined): Promise<Identity & { readonly tokenExpiresAt: string }> {
    if (!token) throw new InvalidTokenError('no token');
    const verifyOptions = {
      algorithms: this.algorithms,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'sub'],
      ...(this.options.now ? { currentDate: this.options.now() } : {}),
      ...(this.options.issuer ? { issuer: this.options.issuer } : {}),
      ...(this.options.audience ? { audience: this.options.audience } : {}),
    };
    let payload: JWTPayload;
    try {
      const result = this.jwks ? await jwtVerify(token, this.jwks, verifyOptions) : await jwtVerify(token, await this.sharedSecret(), verifyOptions);
      payload = result.payload;
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) throw new InvalidTokenError(`token refused: ${error.code}`, { cause: error });
      throw error;
    }
    const parsed = claims.safeParse(payload);
    if (!parsed.success) throw new InvalidTokenError(`token refused: ${formatZodIssues(parsed.error, { limit: 1 })[0] ?? 'bad claims'}`);
    // jose checked that exp is a number in the future. Past year 9999 the ISO form gains a
    // sign and no longer sorts as a string, which the stored expiry relies on.
    const exp = payload.exp as number;
    if (!(exp < MAX_EXP_SECONDS)) throw new InvalidTokenError('token refused: exp out of range');
    const expiresAt = new Date(Math.floor(exp) * 1000);
    return { userId: parsed.data.sub, roles: parsed.data.roles, tokenExpiresAt: expiresAt.toISOString() };
  }

  /** Fetched once per cold start; a failed fetch is retried on the next call. */
  private sharedSecret(): Promise<Uint8Array> {
    if (this.options.mode !== 'hs256') throw new Error('no shared secret in jwks mode');
    this.secretKey ??= this.options.secret().then(
      (secret) => new TextEncoder().encode(secret),
      (error: unknown) => {
        this.secretKey = undefined;
        throw error;
      },
    );
    return this.secretKey;
  }
}
