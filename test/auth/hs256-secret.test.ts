import { describe, expect, it } from 'vitest';
import { DEFAULT_LOCAL_JWT_SECRET, resolveHs256Secret, resolveLocalHs256Secret } from '../../lambdas/auth/hs256-secret.js';
import { createTokenVerifier } from '../../lambdas/composition-authorizer.js';
import { readSettings } from '../../lambdas/composition-base.js';
import { parseConfig } from '../../lambdas/config/load.js';
import { mintLocalToken } from '../../local/commands/token.js';
import { resolveJwtSecret } from '../../local/jwt-secret.js';

/**
 * The one HS256 secret resolution (lambdas/auth/hs256-secret.ts), read by the
 * Authorizer's composition and by the local commands: what one mints, the other verifies.
 */

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt-AbCdEf';

describe('resolveHs256Secret', () => {
  it.each([
    ['JWT_SECRET_ARN first', { JWT_SECRET_ARN: ARN, JWT_SECRET: 'from-environment' }, 'from-config-file', { source: 'JWT_SECRET_ARN', secretArn: ARN }],
    ['then JWT_SECRET', { JWT_SECRET: 'from-environment' }, 'from-config-file', { source: 'JWT_SECRET', secret: 'from-environment' }],
    ['then auth.hs256_secret', {}, 'from-config-file', { source: 'auth.hs256_secret', secret: 'from-config-file' }],
    ['then the local default', {}, undefined, { source: 'default', secret: DEFAULT_LOCAL_JWT_SECRET }],
    ['an empty value counting as unset', { JWT_SECRET_ARN: '', JWT_SECRET: '' }, undefined, { source: 'default', secret: DEFAULT_LOCAL_JWT_SECRET }],
  ] as const)('takes %s', (_label, env, hs256Secret, expected) => {
    expect(resolveHs256Secret(env, { hs256_secret: hs256Secret })).toEqual(expected);
  });

  it('reads no Secrets Manager secret for a local run', () => {
    expect(resolveLocalHs256Secret({ JWT_SECRET: 'from-environment' }, {})).toEqual({ source: 'JWT_SECRET', secret: 'from-environment' });
  });
});

describe('npm run token and the Authorizer agree on the secret', () => {
  it.each([
    ['JWT_SECRET', { JWT_SECRET: 'from-environment' }, {}],
    ['auth.hs256_secret', {}, { auth: { hs256_secret: 'from-config-file' } }],
    ['the local default', {}, {}],
  ])('with %s', async (_label, env, section) => {
    // Prepare: the same environment and configuration for both sides.
    const config = parseConfig({ notification_service: section });
    const token = await mintLocalToken({ userId: 'alice', roles: [], ttlSeconds: 60 }, resolveJwtSecret(config, env).secret, config);
    const verifier = createTokenVerifier(readSettings({ ...env, SERVICE_CONFIG: JSON.stringify(section) }));

    // Act
    const check = await verifier.check(token);

    // Assess
    expect(check).toMatchObject({ valid: true });
  });
});
