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
      ['with a tampered payload', async () => {
        const [header, , signature] = (await sign({ sub: 'alice', exp: now() + 60 })).split('.');
        const forged = Buffer.from(JSON.stringify({ sub: 'admin', roles: ['admin'], exp: now() + 60 })).toString('base64url');
        return `${header}.${forged}.${signature}`;
      }],
      ['RS256-signed against an HS256 verifier', async () => {
        const { privateKey } = await generateKeyPair('RS256');
        return new SignJWT({ sub: 'alice', exp: now() + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
      }],
      ['with the wrong issuer', () => sign({ sub: 'alice', exp: now() + 60, iss: 'https://evil.example', aud: 'notifications' }), strict],
      ['with the wrong audience', () => sign({ sub: 'alice', exp: now() + 60, iss: 'https://issuer.example', aud: 'other' }), strict],
    ];

    it.each(badTokens)('refuses a token %s', async (_label, make, which = verifier) => {
      await expect(which.verify(await make())).rejects.toBeInstanceOf(InvalidTokenError);
    });
  });
});
