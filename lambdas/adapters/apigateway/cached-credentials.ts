import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

/** Credentials this close to their expiry are fetched again before the next request is signed. */
export const CREDENTIALS_REFRESH_MARGIN_MS = 5 * 60 * 1000;

/**
 * A provider that resolves `source` once and reuses the identity until it comes within
 * {@link CREDENTIALS_REFRESH_MARGIN_MS} of its expiry (never, for credentials without
 * one). Signing every post calls the provider, so the common case returns a settled
 * promise without walking the SDK's chain; concurrent callers during a refresh share one
 * fetch; a failed fetch is not cached (the next post tries again), and while the
 * previous identity has not expired it is used meanwhile.
 *
 * @param source - @default - the SDK's default chain (environment, SSO, ini files,
 *   web identity, container and instance metadata), as every SDK client uses it.
 */
export function cachedCredentials(
  source: AwsCredentialIdentityProvider = defaultProvider(),
  now: () => number = Date.now,
): AwsCredentialIdentityProvider {
  let current: { identity: AwsCredentialIdentity; settled: Promise<AwsCredentialIdentity> } | undefined;
  let refreshing: Promise<AwsCredentialIdentity> | undefined;
  const fresh = (identity: AwsCredentialIdentity) =>
    identity.expiration === undefined || identity.expiration.getTime() - now() > CREDENTIALS_REFRESH_MARGIN_MS;
  return () => {
    if (current && fresh(current.identity)) return current.settled;
    refreshing ??= source()
      .then((identity) => {
        current = { identity, settled: Promise.resolve(identity) };
        return identity;
      })
      // A failed refresh keeps signing with credentials that have not expired yet.
      .catch((error: unknown) => {
        const expiration = current?.identity.expiration;
        if (current && expiration !== undefined && expiration.getTime() > now()) return current.identity;
        throw error;
      })
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };
}
