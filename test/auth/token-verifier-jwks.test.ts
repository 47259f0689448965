import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidTokenError, TokenVerifier } from '../../lambdas/auth/token-verifier.js';
import { startJwksServer, type JwksServer, type SigningKey } from './jwks-server.js';

const now = () => Math.floor(Date.now() / 1000);
const valid = () => ({ sub: 'alice', roles: ['staff'], exp: now() + 60 });

describe('TokenVerifier in JWKS mode', () => {
  let jwks: JwksServer;
  let verifier: TokenVerifier;
  let outsider: SigningKey;

  beforeAll(async () => {
    jwks = await startJwksServer();
    verifier = new TokenVerifier({ mode: 'jwks', jwksUrl: jwks.url });
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    outsider = { kid: 'rsa-1', alg: 'RS256', privateKey, publicKey, publicPem: '' };
  });

  afterAll(async () => {
    await jwks?.stop();
  });

  describe('verify', () => {
    it('accepts RS256 and ES256 tokens signed by keys of the set', async () => {
      await expect(verifier.verify(await jwks.sign(valid(), jwks.rsa))).resolves.toEqual({ userId: 'alice', roles: ['staff'] });
      await expect(verifier.verify(await jwks.sign(valid(), jwks.ec))).resolves.toEqual({ userId: 'alice', roles: ['staff'] });
    });

    it('checks issuer and audience when configured', async () => {
      const strict = new TokenVerifier({ mode: 'jwks', jwksUrl: jwks.url, issuer: 'https://idp.example', audience: 'notifications' });
      const token = await jwks.sign({ ...valid(), iss: 'https://idp.example', aud: 'notifications' }, jwks.rsa);
      await expect(strict.verify(token)).resolves.toMatchObject({ userId: 'alice' });
      await expect(strict.verify(await jwks.sign({ ...valid(), iss: 'https://evil.example', aud: 'notifications' }, jwks.rsa))).rejects.toBeInstanceOf(
        InvalidTokenError,
      );
      await expect(strict.verify(await jwks.sign({ ...valid(), iss: 'https://idp.example' }, jwks.rsa))).rejects.toBeInstanceOf(InvalidTokenError);
    });

    const forgeries: [string, () => Promise<string>][] = [
      // The classic algorithm confusion: the public key, which anyone may fetch, used as an HMAC secret.
      [
        'HS256 signed with the RSA public key (PEM) as secret',
        () => new SignJWT(valid()).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).sign(new TextEncoder().encode(jwks.rsa.publicPem)),
      ],
      [
        'HS256 signed with the EC public key (PEM) as secret',
        () => new SignJWT(valid()).setProtectedHeader({ alg: 'HS256', kid: 'ec-1' }).sign(new TextEncoder().encode(jwks.ec.publicPem)),
      ],
      ['alg none', async () => new UnsecuredJWT(valid()).encode()],
      ['an unknown kid', () => jwks.sign(valid(), { ...jwks.rsa, kid: 'rsa-404' })],
      ['a known kid but another private key', () => jwks.sign(valid(), outsider)],
      ['RS256 naming the EC key', () => new SignJWT(valid()).setProtectedHeader({ alg: 'RS256', kid: 'ec-1' }).sign(jwks.rsa.privateKey)],
      [
        'RS384 (not a pinned algorithm) naming the RSA key',
        async () => {
          const { privateKey } = await generateKeyPair('RS384');
          return new SignJWT(valid()).setProtectedHeader({ alg: 'RS384', kid: 'rsa-1' }).sign(privateKey);
        },
      ],
      [
        'ES384 (not a pinned algorithm) naming the EC key',
        async () => {
          const { privateKey } = await generateKeyPair('ES384');
          return new SignJWT(valid()).setProtectedHeader({ alg: 'ES384', kid: 'ec-1' }).sign(privateKey);
        },
      ],
      [
        'its own key in an embedded jwk header',
        async () => {
          const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
          return new SignJWT(valid()).setProtectedHeader({ alg: 'ES256', jwk: await exportJWK(publicKey) }).sign(privateKey);
        },
      ],
      [
        'a jku header pointing at the attacker',
        async () => {
          const { privateKey } = await generateKeyPair('RS256');
          return new SignJWT(valid()).setProtectedHeader({ alg: 'RS256', kid: 'evil', jku: 'https://evil.example/jwks.json' }).sign(privateKey);
        },
      ],
      ['expired beyond the leeway', () => jwks.sign({ ...valid(), exp: now() - 30 }, jwks.ec)],
      ['not yet valid beyond the leeway', () => jwks.sign({ ...valid(), nbf: now() + 60 }, jwks.rsa)],
      ['without exp', () => jwks.sign({ sub: 'alice' }, jwks.rsa)],
      ['without sub', () => jwks.sign({ exp: now() + 60 }, jwks.rsa)],
      [
        'with a tampered payload',
        async () => {
          const [header, , signature] = (await jwks.sign(valid(), jwks.rsa)).split('.');
          const forged = Buffer.from(JSON.stringify({ sub: 'root', roles: ['admin'], exp: now() + 60 })).toString('base64url');
          return `${header}.${forged}.${signature}`;
        },
      ],
    ];

    it.each(forgeries)('refuses a token with %s', async (_label, make) => {
      await expect(verifier.verify(await make())).rejects.toBeInstanceOf(InvalidTokenError);
    });
  });

  describe('key set cache', () => {
    it('fetches the key set once for many verifications, even when the first ones run at the same time', async () => {
      // Prepare
      const server = await startJwksServer();
      const fresh = new TokenVerifier({ mode: 'jwks', jwksUrl: server.url });
      const tokens = await Promise.all(
        Array.from({ length: 10 }, (_, index) => server.sign({ ...valid(), sub: `user-${index}` }, index % 2 ? server.rsa : server.ec)),
      );

      // Act
      const first = await Promise.all(tokens.map((token) => fresh.verify(token)));
      const again = await Promise.all(tokens.map((token) => fresh.verify(token)));

      // Assess
      expect([...first, ...again].map((identity) => identity.userId)).toHaveLength(20);
      expect(server.fetches()).toBe(1);
      await server.stop();
    });

    it('refuses every token while the key set cannot be fetched: it fails closed', async () => {
      // Prepare
      const server = await startJwksServer();
      server.failFromNow();
      const fresh = new TokenVerifier({ mode: 'jwks', jwksUrl: server.url });

      // Act
      const outcome = fresh.verify(await server.sign(valid(), server.rsa));

      // Assess
      await expect(outcome).rejects.toBeInstanceOf(Error);
      expect(server.fetches()).toBe(1);
      await server.stop();
    });
  });
});
