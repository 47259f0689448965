import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** One signing key of the key set: its private half signs, its public half is served. */
export interface SigningKey {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The public key as PEM (SPKI): what an algorithm-confusion attacker uses as an HMAC secret. */
  readonly publicPem: string;
}

/**
 * A JWKS endpoint on loopback, as an identity provider (Cognito, Auth0, ...) serves it,
 * that counts how often it is fetched and can be switched off.
 */
export interface JwksServer {
  readonly url: string;
  readonly rsa: SigningKey;
  readonly ec: SigningKey;
  /** GETs of the key set so far. */
  fetches(): number;
  /** Answers 503 from now on (the provider is down). */
  failFromNow(): void;
  /** Signs claims with one of the served keys (or any key, for forgeries). */
  sign(claims: Record<string, unknown>, key: SigningKey, header?: Record<string, unknown>): Promise<string>;
  stop(): Promise<void>;
}

async function signingKey(kid: string, alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicKey, publicPem: await exportSPKI(publicKey) };
}

export async function startJwksServer(): Promise<JwksServer> {
  const rsa = await signingKey('rsa-1', 'RS256');
  const ec = await signingKey('ec-1', 'ES256');
  const keys: JWK[] = [];
  for (const key of [rsa, ec]) keys.push({ ...(await exportJWK(key.publicKey)), kid: key.kid, alg: key.alg, use: 'sig' });
  let fetches = 0;
  let failing = false;
  const server: Server = createServer((request, response) => {
    if (request.url !== '/.well-known/jwks.json') {
      response.writeHead(404).end();
      return;
    }
    fetches += 1;
    if (failing) {
      response.writeHead(503).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    rsa,
    ec,
    fetches: () => fetches,
    failFromNow: () => {
      failing = true;
    },
    sign: (claims, key, header = {}) => new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
