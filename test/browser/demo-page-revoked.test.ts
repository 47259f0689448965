import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { callServerApi } from '../support/server-api-client.js';
import { browserTestsSkipReason, launchChromium, warmPageBundles } from './chromium.js';

const skipReason = browserTestsSkipReason();
const CREDENTIALS = { accessKeyId: 'AKIATESTPAGE', secretAccessKey: 'page-secret' };

/** The "done when": disconnect a user with one call and watch their page stop reconnecting. */
describe.skipIf(skipReason !== undefined)('demo page in Chromium: a revoked user', () => {
  let runtime: TestRuntime;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;

  beforeAll(async () => {
    runtime = await startTestRuntime({}, { serverApiCredentials: CREDENTIALS });
    await warmPageBundles(runtime.httpUrl);
    browser = await launchChromium({ width: 1280, height: 860 });
    page = await browser.context.newPage();
    page.setDefaultTimeout(20_000);
  });

  afterAll(async () => {
    await browser?.close();
    await runtime?.stop();
  });

  it('shows closed (DISCONNECTED) after POST /users/{userId}/disconnect and opens no new connection', async () => {
    await page.goto(`${runtime.httpUrl}/`);
    await page.locator('body[data-ready="true"]').waitFor();
    await page.fill('#connect-form input[name="userId"]', 'revoked-on-page');
    await page.click('#connect');
    await page.locator('#state[data-state="open"]').waitFor();

    const answer = await callServerApi(runtime.serverApiUrl, CREDENTIALS, 'POST', '/users/revoked-on-page/disconnect');
    await page.locator('#state[data-state="closed"][data-error="DISCONNECTED"]').waitFor();
    // Well past the SDK's first reconnect delay.
    await page.waitForTimeout(1500);

    expect(answer.body).toMatchObject({ connections: 1, notified: 1 });
    expect(await page.getAttribute('#state', 'data-state')).toBe('closed');
    expect(runtime.connectionIds()).toEqual([]);
  });
});
