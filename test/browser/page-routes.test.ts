import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { TestClient } from '../support/ws-client.js';

/** What the local runtime serves for the demo page, checked over HTTP without a browser. */
describe('demo page routes', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    runtime = await startTestRuntime({ kafka: { topics: ['booking-updates', 'waitlist-notifications'] } });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await runtime?.stop();
  });

  const post = (path: string, body: unknown) =>
    fetch(`${runtime.httpUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  describe('GET /', () => {
    it("serves the page with the runtime's topics embedded", async () => {
      const response = await fetch(`${runtime.httpUrl}/`);
      const html = await response.text();

      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(html).toContain('<script type="module" src="/page.js"></script>');
      const settings = JSON.parse(/<script type="application\/json" id="runtime-settings">(.*?)<\/script>/s.exec(html)![1]!);
      expect(settings).toEqual({
        topics: ['booking-updates', 'waitlist-notifications'],
        channels: ['booking-updates', 'waitlist-notifications'],
        presenceChannels: [],
      });
    });

    it('serves the page script importing the SDK from /client.js', async () => {
      const response = await fetch(`${runtime.httpUrl}/page.js`);
      const script = await response.text();

      expect(response.status).toBe(200);
      expect(script).toMatch(/from\s*"\/client\.js"/);
      expect(script).not.toContain('class NotificationClient');
    });
  });

  describe('GET /client.js', () => {
    it('serves the SDK as one browser module, without the ws package', async () => {
      const response = await fetch(`${runtime.httpUrl}/client.js`);
      const bundle = await response.text();
      // Loaded as a module from a folder with no node_modules: nothing outside the file is needed.
      const folder = await mkdtemp(join(tmpdir(), 'client-bundle-'));
      const file = join(folder, 'client.mjs');
      await writeFile(file, bundle);
      const sdk = (await import(pathToFileURL(file).href)) as typeof import('../../client/index.js');
      await rm(folder, { recursive: true, force: true });

      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(typeof sdk.NotificationClient).toBe('function');
      expect(() => new sdk.NotificationClient({ url: 'ws://127.0.0.1:1', token: 't' })).not.toThrow();
      // Left as a dynamic import that browsers never reach; ws's own code is not inside.
      expect(bundle).toContain('import("ws")');
      expect(bundle).not.toContain('permessage-deflate');
      expect(bundle).not.toMatch(/from\s*"node:/);
    });
  });

  describe('POST /_local/token', () => {
    it('mints a token the runtime accepts, with the roles asked for', async () => {
      const response = await post('/_local/token', { userId: 'frank', roles: ['staff'] });
      const body = (await response.json()) as { token: string; userId: string; roles: string[]; expiresAt: string };
      const client = await TestClient.open(runtime.wsUrl, { token: body.token });
      clients.push(client);
      const welcome = await client.next((frame) => frame.type === 'welcome');

      expect(response.status).toBe(200);
      expect(decodeJwt(body.token)).toMatchObject({ sub: 'frank', roles: ['staff'] });
      expect(body).toMatchObject({ userId: 'frank', roles: ['staff'] });
      expect(welcome.payload).toMatchObject({ userId: 'frank' });
    });

    it('refuses a malformed request with 400 and says which field', async () => {
      const badUser = await post('/_local/token', { userId: 'has space' });
      const notJson = await post('/_local/token', 'userId=frank');
      const unknownKey = await post('/_local/token', { userId: 'frank', admin: true });

      expect(badUser.status).toBe(400);
      expect(((await badUser.json()) as { message: string }).message).toMatch(/^userId: /);
      expect(notJson.status).toBe(400);
      expect(unknownKey.status).toBe(400);
    });

    it('answers 405 to anything but POST', async () => {
      expect((await fetch(`${runtime.httpUrl}/_local/token`)).status).toBe(405);
    });
  });

  it("still lists every route, the page's included, for an unknown path", async () => {
    const response = await fetch(`${runtime.httpUrl}/nothing-here`);
    const body = (await response.json()) as { routes: string[] };

    expect(response.status).toBe(404);
    expect(body.routes).toEqual(expect.arrayContaining(['GET /', 'GET /client.js', 'POST /_local/token']));
  });
});
