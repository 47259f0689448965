import type { AwsCredentialIdentity } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import { cachedCredentials, CREDENTIALS_REFRESH_MARGIN_MS } from '../../lambdas/adapters/apigateway/cached-credentials.js';

const MINUTE = 60_000;

/** A credential source that hands out numbered identities, or fails when told to. */
function numberedSource(expiresInMs: number | undefined, clock: { now: number }) {
  const source = {
    calls: 0,
    failNext: false,
    provider: async (): Promise<AwsCredentialIdentity> => {
      source.calls += 1;
      if (source.failNext) {
        source.failNext = false;
        throw new Error('metadata service unreachable');
      }
      return {
        accessKeyId: `key-${source.calls}`,
        secretAccessKey: 'secret',
        ...(expiresInMs === undefined ? {} : { expiration: new Date(clock.now + expiresInMs) }),
      };
    },
  };
  return source;
}

describe('cachedCredentials', () => {
  it('fetches credentials without an expiry once', async () => {
    const clock = { now: 0 };
    const source = numberedSource(undefined, clock);
    const credentials = cachedCredentials(source.provider, () => clock.now);

    await credentials();
    clock.now += 24 * 60 * MINUTE;
    const identity = await credentials();

    expect(identity.accessKeyId).toBe('key-1');
    expect(source.calls).toBe(1);
  });

  it('shares one fetch among concurrent callers', async () => {
    const clock = { now: 0 };
    const source = numberedSource(60 * MINUTE, clock);
    const credentials = cachedCredentials(source.provider, () => clock.now);

    const identities = await Promise.all(Array.from({ length: 10 }, () => credentials()));

    expect(new Set(identities.map((identity) => identity.accessKeyId))).toEqual(new Set(['key-1']));
    expect(source.calls).toBe(1);
  });

  it('fetches again once the identity comes within the refresh margin of its expiry', async () => {
    const clock = { now: 0 };
    const source = numberedSource(60 * MINUTE, clock);
    const credentials = cachedCredentials(source.provider, () => clock.now);
    await credentials();

    clock.now += 60 * MINUTE - CREDENTIALS_REFRESH_MARGIN_MS - 1;
    expect((await credentials()).accessKeyId).toBe('key-1');
    clock.now += 2;
    expect((await credentials()).accessKeyId).toBe('key-2');
  });

  it('keeps signing with an identity that has not expired when a refresh fails, and tries again next time', async () => {
    const clock = { now: 0 };
    const source = numberedSource(60 * MINUTE, clock);
    const credentials = cachedCredentials(source.provider, () => clock.now);
    await credentials();
    clock.now += 58 * MINUTE;

    source.failNext = true;
    expect((await credentials()).accessKeyId).toBe('key-1');
    expect((await credentials()).accessKeyId).toBe('key-3');
  });

  it('fails when a refresh fails and the identity has expired, and does not cache the failure', async () => {
    const clock = { now: 0 };
    const source = numberedSource(60 * MINUTE, clock);
    const credentials = cachedCredentials(source.provider, () => clock.now);
    await credentials();
    clock.now += 61 * MINUTE;

    source.failNext = true;
    await expect(credentials()).rejects.toThrow('metadata service unreachable');
    expect((await credentials()).accessKeyId).toBe('key-3');
  });
});
