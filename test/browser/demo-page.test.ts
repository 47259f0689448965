import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local/project-root.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { browserTestsSkipReason, launchChromium } from './chromium.js';

const ARTIFACTS = resolve(PROJECT_ROOT, 'test/artifacts');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 860 };
const skipReason = browserTestsSkipReason();
if (skipReason) console.warn(skipReason);

/** The demo page at GET / driven in Chromium as a person would use it. */
describe.skipIf(skipReason !== undefined)('demo page in Chromium', () => {
  let runtime: TestRuntime;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  const pageErrors: string[] = [];

  const notificationTitled = (title: string) => page.locator('#notifications .notification', { has: page.locator('h3', { hasText: title }) });

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    runtime = await startTestRuntime({ kafka: { topics: ['booking-updates'] } });
    browser = await launchChromium(PHONE);
    page = await browser.context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await runtime?.stop();
  });

  it('connects, subscribes, publishes and shows the notification', async () => {
    await page.goto(`${runtime.httpUrl}/`);
    await page.locator('body[data-ready="true"]').waitFor();

    await page.fill('#connect-form input[name="userId"]', 'erin');
    await page.check('#connect-form input[value="staff"]');
    await page.click('#connect');
    await page.locator('#state[data-state="open"]').waitFor();
    await page.click('#subscribe');
    await page.locator('#subscribe-result', { hasText: 'Subscribed to booking-updates' }).waitFor();
    await page.selectOption('#publish-form select[name="target"]', 'channel');
    await page.fill('#publish-form input[name="title"]', 'Booking Confirmed');
    await page.click('#publish');
    await notificationTitled('Booking Confirmed').waitFor();
    await page.locator('#publish-result', { hasText: 'delivered to 1 connection' }).waitFor();
    // To "this user": the connected user, though the connect form's fields are disabled now.
    await page.selectOption('#publish-form select[name="target"]', 'user');
    await page.fill('#publish-form input[name="title"]', 'Just for erin');
    await page.click('#publish');
    await page.locator('#publish-result', { hasText: /delivered|Refused/ }).waitFor();
    expect(await page.textContent('#publish-result')).toBe('Published; delivered to 1 connection(s)');
    await notificationTitled('Just for erin').waitFor();

    expect(await page.textContent('#state')).toBe('open');
    expect(await page.locator('#channels li').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringContaining('booking-updates'), expect.stringContaining('user-erin')]),
    );
    expect(pageErrors).toEqual([]);
  });

  it('reconnects after a server-side close and shows what is published around it, once', async () => {
    const connectionId = (await page.textContent('#connection-id'))!;
    const closed = await fetch(`${runtime.httpUrl}/@connections/${encodeURIComponent(connectionId)}`, { method: 'DELETE' });
    const missed = notificationRecord({ targetUserId: 'erin' }, { title: 'While you were away', priority: 'high' });
    await runtime.publish('booking-updates', missed);
    await notificationTitled('While you were away').waitFor();
    await page.locator('#state[data-state="open"]').waitFor();

    expect(closed.status).toBe(204);
    expect(await notificationTitled('While you were away').count()).toBe(1);
    expect(await page.textContent('#connection-id')).not.toBe(connectionId);
    expect(pageErrors).toEqual([]);
  });

  it('reads well at phone and desktop widths (screenshots in test/artifacts/)', async () => {
    await runtime.publish('booking-updates', [
      notificationRecord({ broadcast: true }, { title: 'Maintenance tonight', message: 'The service restarts at 02:00 UTC', priority: 'low' }),
      notificationRecord({ targetUserId: 'erin' }, { title: 'Seat upgraded', message: 'You are now in row 3', priority: 'urgent', actionUrl: '/bookings/123' }),
    ]);
    await notificationTitled('Seat upgraded').waitFor();
    // The header is sticky: from the top, a full-page shot shows it where a person sees it first.
    await page.evaluate(() => window.scrollTo(0, 0));

    await page.screenshot({ path: resolve(ARTIFACTS, 'demo-page-phone.png'), fullPage: true });
    const phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await page.setViewportSize(DESKTOP);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: resolve(ARTIFACTS, 'demo-page-desktop.png'), fullPage: true });
    const desktopOverflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

    // Nothing wider than the screen: no sideways scrolling on a phone.
    expect(phoneOverflow).toBe(0);
    expect(desktopOverflow).toBe(0);
    expect(await page.locator('#notifications .notification').count()).toBe(5);
  });
});
