import { ConnectionNotFoundError, ProtocolError } from './errors.js';
import type { Identity } from './model.js';
import type { ConnectionStore } from './ports.js';

/** What verifying a token came to; an invalid token is an answer, not an error. */
export type TokenCheck =
  | { readonly valid: true; readonly userId: string /** ISO, the token's `exp`. */; readonly expiresAt: string }
  | { readonly valid: false; readonly reason: string };

/** Verifies a token exactly as the `$connect` authorizer does (TokenVerifier). */
export interface TokenChecker {
  check(token: string): Promise<TokenCheck>;
}

export interface TokenRefreshOptions {
  readonly connections: Pick<ConnectionStore, 'extendToken'>;
  readonly tokens: TokenChecker;
}

/**
 * The `refresh` frame: a newer token for the same user moves the connection's expiry
 * later, in one conditional write. Every refusal is a ProtocolError with its own code
 * (docs/protocol.md) and changes nothing.
 */
export class TokenRefreshService {
  constructor(private readonly options: TokenRefreshOptions) {}

  async refresh(connectionId: string, identity: Identity, token: string): Promise<{ readonly expiresAt: string }> {
    const check = await this.options.tokens.check(token);
    if (!check.valid) throw new ProtocolError('TOKEN_INVALID', check.reason);
    if (check.userId !== identity.userId) {
      throw new ProtocolError('TOKEN_USER_MISMATCH', 'the token is for another user than the connection');
    }
    const outcome = await this.options.connections.extendToken(connectionId, identity.userId, check.expiresAt);
    switch (outcome.status) {
      case 'extended':
        return { expiresAt: check.expiresAt };
      case 'not-later':
        // An older (or the same) token would shorten the connection's life or change nothing.
        throw new ProtocolError('TOKEN_NOT_NEWER', `the token expires at ${check.expiresAt}, not after the connection's current expiry ${outcome.current}`);
      case 'unknown':
        throw new ConnectionNotFoundError(connectionId);
    }
  }
}
