import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { InvalidTokenError, TokenVerifier } from '../../lambdas/auth/token-verifier.js';

const SECRET = 'test-secret-of-some-length';
const key = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);
const verifier = new TokenVerifier({ mode: 'hs256', secret: async () => SECRET });
const strict = new TokenVerifier({ mode: 'hs256', secret: async () => SECRET, issuer: 'https://issuer.example', audience: 'notifications' });

function sign(claims: Record<string, unknown>, options: { alg?: string; secret?: Uint8Array } = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'HS256' }).sign(options.secret ?? key);
}

describe('TokenVerifier', () => {
  describe('verify', () => {
    it('accepts a good token and reads sub and roles', async () => {
      const token = await sign({ sub: 'alice', roles: ['admin'], exp: now() + 60 });
      await expect(verifier.verify(token)).resolves.toEqual({ userId: 'alice', roles: ['admin'] });
    });

    it('defaults roles to []', async () => {
      const token = await sign({ sub: 'alice', exp: now() + 60 });
      await expect(verifier.verify(token)).resolves.toEqual({ userId: 'alice', roles: [] });
    });

    it('accepts exp and nbf within the 5 s leeway', async () => {
      const token = await sign({ sub: 'alice', exp: now() - 2, nbf: now() + 2 });
      await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'alice' });
    });

    it('checks issuer and audience when configured', async () => {
      const token = await sign({ sub: 'alice', exp: now() + 60, iss: 'https://issuer.example', aud: 'notifications' });
      await expect(strict.verify(token)).resolves.toMatchObject({ userId: 'alice' });
    });

    const badTokens: [string, () => Promise<string | undefined>, TokenVerifier?][] = [
      ['missing', async () => undefined],
      ['empty', async () => ''],
      ['not a JWT', async () => 'hello'],
      ['three garbage parts', async () => 'a.b.c'],
      ['signed with another secret', () => sign({ sub: 'alice', exp: now() + 60 }, { secret: new TextEncoder().encode('another-secret-value') })],
      ['expired beyond leeway', () => sign({ sub: 'alice', exp: now() - 30 })],
      ['not yet valid beyond leeway', () => sign({ sub: 'alice', exp: now() + 600, nbf: now() + 60 })],
      ['without exp', () => sign({ sub: 'alice' })],
      ['without sub', () => sign({ exp: now() + 60 })],
      ['with empty sub', () => sign({ sub: '', exp: now() + 60 })],
      ['with a sub holding spaces', () => sign({ sub: 'alice smith', exp: now() + 60 })],
      ['with roles that are not an array', () => sign({ sub: 'alice', roles: 'admin', exp: now() + 60 })],
      ['with roles that are not strings', () => sign({ sub: 'alice', roles: [1, 2], exp: now() + 60 })],
      ['with alg none', async () => new UnsecuredJWT({ sub: 'alice', exp: now() + 60 }).encode()],
      ['with HS512 (algorithm not pinned)', () => sign({ sub: 'alice', exp: now() + 60 }, { alg: 'HS512' })],
      [
        'with a tampered payload',
        async () => {
          const [header, , signature] = (await sign({ sub: 'alice', exp: now() + 60 })).split('.');
          const forged = Buffer.from(JSON.stringify({ sub: 'admin', roles: ['admin'], exp: now() + 60 })).toString('base64url');
          return `${header}.${forged}.${signature}`;
        },
      ],
      [
        'RS256-signed against an HS256 verifier',
        async () => {
          const { privateKey } = await generateKeyPair('RS256');
          return new SignJWT({ sub: 'alice', exp: now() + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
        },
      ],
      ['with the wrong issuer', () => sign({ sub: 'alice', exp: now() + 60, iss: 'https://evil.example', aud: 'notifications' }), strict],
      ['with the wrong audience', () => sign({ sub: 'alice', exp: now() + 60, iss: 'https://issuer.example', aud: 'other' }), strict],
    ];

    it.each(badTokens)('refuses a token %s', async (_label, make, which = verifier) => {
      await expect(which.verify(await make())).rejects.toBeInstanceOf(InvalidTokenError);
    });
  });

  describe("verifyIdentity and check (the token's expiry, for $connect and refresh)", () => {
    it("gives the token's exp as tokenExpiresAt, ISO", async () => {
      const exp = now() + 600;
      const token = await sign({ sub: 'alice', roles: ['staff'], exp });
      await expect(verifier.verifyIdentity(token)).resolves.toEqual({ userId: 'alice', roles: ['staff'], tokenExpiresAt: new Date(exp * 1000).toISOString() });
      await expect(verifier.check(token)).resolves.toEqual({ valid: true, userId: 'alice', expiresAt: new Date(exp * 1000).toISOString() });
    });

    it('answers a refused token as data, with the refusal code only', async () => {
      const expired = await sign({ sub: 'alice', exp: now() - 3600 });
      await expect(verifier.check(expired)).resolves.toEqual({ valid: false, reason: 'token refused: ERR_JWT_EXPIRED' });
      await expect(verifier.check('hello')).resolves.toMatchObject({ valid: false });
    });

    it('refuses an exp past the year 9999, whose ISO form would not sort as the stored expiry must', async () => {
      const token = await sign({ sub: 'alice', exp: 253_402_300_800 });
      await expect(verifier.verifyIdentity(token)).rejects.toBeInstanceOf(InvalidTokenError);
      await expect(verifier.check(token)).resolves.toEqual({ valid: false, reason: 'token refused: exp out of range' });
    });

    it('judges exp at the injected clock', async () => {
      const at = new Date('2030-01-01T00:00:00.000Z');
      const clocked = new TokenVerifier({ mode: 'hs256', secret: async () => SECRET, now: () => at });
      const token = await sign({ sub: 'alice', exp: at.getTime() / 1000 + 60 });
      await expect(clocked.check(token)).resolves.toMatchObject({ valid: true });
      await expect(verifier.check(token)).resolves.toMatchObject({ valid: true });
      await expect(
        new TokenVerifier({ mode: 'hs256', secret: async () => SECRET, now: () => new Date('2030-01-01T00:10:00.000Z') }).check(token),
      ).resolves.toMatchObject({ valid: false });
    });
  });
});
