import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { logger } from '../../lambdas/composition.js';
import { startJwksServer, type JwksServer } from '../auth/jwks-server.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { HandshakeRefused, mintToken, TestClient } from '../support/ws-client.js';

const now = () => Math.floor(Date.now() / 1000);

/** Everything the process writes to stdout and stderr (where Powertools writes) while `work` runs. */
async function capturingOutput<T>(work: () => Promise<T>): Promise<{ result: T; output: string }> {
  const chunks: string[] = [];
  const original = { stdout: process.stdout.write, stderr: process.stderr.write };
  // Kept, not passed on: the test run's own output stays quiet.
  const capture = ((chunk: unknown, ...rest: unknown[]) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    const callback = rest.find((argument) => typeof argument === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = capture;
  process.stderr.write = capture;
  try {
    const result = await work();
    return { result, output: chunks.join('') };
  } finally {
    process.stdout.write = original.stdout;
    process.stderr.write = original.stderr;
  }
}

describe('authentication through the local runtime', () => {
  describe('the token never reaches a log', () => {
    let runtime: TestRuntime;
    const lines: string[] = [];
    const clients: TestClient[] = [];

    beforeAll(async () => {
      // Every line the runtime writes (invocations, notices) is kept, as `npm start` prints them.
      runtime = await startTestRuntime(
        {},
        {
          logInvocation: (entry) => lines.push(JSON.stringify(entry)),
          notice: (message, fields) => lines.push(JSON.stringify({ message, ...fields })),
        },
      );
      logger.setLogLevel('DEBUG');
    });

    afterAll(async () => {
      logger.setLogLevel('SILENT');
      await Promise.all(clients.map((client) => client.close().catch(() => {})));
      await runtime?.stop();
    });

    it('logs neither a refused token nor an accepted one, nor any part of them', async () => {
      // Prepare
      const refused = await mintToken('mallory', ['admin'], { secret: 'not-the-server-secret' });
      const expired = await mintToken('alice', [], { expiresInSeconds: -60 });
      const accepted = await mintToken('alice');

      // Act
      const { output } = await capturingOutput(async () => {
        await expect(TestClient.open(runtime.wsUrl, { token: refused })).rejects.toMatchObject({ status: 401 });
        await expect(TestClient.open(runtime.wsUrl, { token: expired })).rejects.toMatchObject({ status: 401 });
        const client = await TestClient.open(runtime.wsUrl, { token: accepted });
        clients.push(client);
        await client.next((frame) => frame.type === 'welcome');
        await client.request('heartbeat');
        await client.close();
      });

      // Assess: the capture worked (the handlers' own lines are there) ...
      const everything = `${output}\n${lines.join('\n')}`;
      expect(everything).toContain('token refused');
      expect(everything).toContain('"connected"');
      expect(lines.some((line) => line.includes('"$connect"'))).toBe(true);
      // ... and no token, nor its payload or signature, is in it.
      for (const token of [refused, expired, accepted]) {
        const [, payload, signature] = token.split('.');
        expect(everything).not.toContain(token);
        expect(everything).not.toContain(payload);
        expect(everything).not.toContain(signature);
      }
    });
  });

  describe('JWKS mode (RS256 / ES256)', () => {
    let jwks: JwksServer;
    let runtime: TestRuntime;
    const clients: TestClient[] = [];

    beforeAll(async () => {
      jwks = await startJwksServer();
      runtime = await startTestRuntime({ auth: { mode: 'jwks', jwks_url: jwks.url, issuer: 'https://idp.example' } });
    });

    afterEach(async () => {
      await Promise.all(clients.splice(0).map((client) => client.close().catch(() => {})));
    });

    afterAll(async () => {
      await runtime?.stop();
      await jwks?.stop();
    });

    it('connects with RS256 and ES256 tokens and fetches the key set once for all connects', async () => {
      // Prepare
      const claims = (sub: string) => ({ sub, exp: now() + 60, iss: 'https://idp.example' });

      // Act
      for (const [index, key] of [jwks.rsa, jwks.ec, jwks.rsa, jwks.ec].entries()) {
        const client = await TestClient.open(runtime.wsUrl, { token: await jwks.sign(claims(`jwks-user-${index}`), key) });
        clients.push(client);
        expect((await client.next((frame) => frame.type === 'welcome')).payload).toMatchObject({ userId: `jwks-user-${index}` });
      }

      // Assess: the authorizer's key set outlives each invocation, as in a warm Lambda.
      expect(jwks.fetches()).toBe(1);
    });

    it('refuses an HS256 token, even one signed with the public key or the local secret', async () => {
      // Prepare
      const claims = { sub: 'mallory', roles: ['admin'], exp: now() + 60, iss: 'https://idp.example' };
      const { SignJWT } = await import('jose');
      const confused = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).sign(new TextEncoder().encode(jwks.rsa.publicPem));
      const local = await mintToken('mallory', ['admin']);

      // Act / Assess
      await expect(TestClient.open(runtime.wsUrl, { token: confused })).rejects.toMatchObject({ status: 401 });
      await expect(TestClient.open(runtime.wsUrl, { token: local })).rejects.toMatchObject({ status: 401 });
    });

    it('refuses an unknown kid and the wrong issuer', async () => {
      const unknownKid = await jwks.sign({ sub: 'mallory', exp: now() + 60, iss: 'https://idp.example' }, { ...jwks.rsa, kid: 'rsa-404' });
      const wrongIssuer = await jwks.sign({ sub: 'mallory', exp: now() + 60, iss: 'https://evil.example' }, jwks.ec);

      await expect(TestClient.open(runtime.wsUrl, { token: unknownKid })).rejects.toBeInstanceOf(HandshakeRefused);
      await expect(TestClient.open(runtime.wsUrl, { token: wrongIssuer })).rejects.toMatchObject({ status: 401 });
    });
  });
});
