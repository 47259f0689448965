import { resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local/project-root.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { browserTestsSkipReason, launchChromiumBrowser, warmPageBundles } from './chromium.js';

const ARTIFACTS = resolve(PROJECT_ROOT, 'test/artifacts');
const DESKTOP = { width: 1280, height: 860 };
const skipReason = browserTestsSkipReason();

/**
 * The "done when" of issues 11 and 12 as a newcomer meets them: the demo page in two
 * browser windows (separate contexts, as two people or two devices would have).
 */
describe.skipIf(skipReason !== undefined)('demo page in Chromium: two windows', () => {
  let runtime: TestRuntime;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  async function openPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: DESKTOP });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${runtime.httpUrl}/`);
    await page.locator('body[data-ready="true"]').waitFor();
    return page;
  }

  async function connectAs(page: Page, userId: string): Promise<void> {
    await page.fill('#connect-form input[name="userId"]', userId);
    await page.click('#connect');
    await page.locator('#state[data-state="open"]').waitFor();
  }

  async function joinLobby(page: Page): Promise<void> {
    await page.fill('#presence-form input[name="channel"]', 'presence-lobby');
    await page.click('#presence-join');
    await page.locator('#presence-result', { hasText: 'In presence-lobby' }).waitFor();
  }

  beforeAll(async () => {
    runtime = await startTestRuntime({
      kafka: { topics: ['booking-updates'] },
      channels: { presence: ['presence-*'], access: { 'booking-updates': ['*'], 'presence-*': ['*'] } },
    });
    await warmPageBundles(runtime.httpUrl);
    browser = await launchChromiumBrowser();
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await runtime?.stop();
  });

  it('issue 11: two users in presence-lobby see each other, and one sees the other leave within 5 s of closing its window', async () => {
    const alice = await openPage();
    const bob = await openPage();
    await connectAs(alice, 'alice');
    await connectAs(bob, 'bob');
    await joinLobby(alice);
    await joinLobby(bob);
    await alice.locator('#members li[data-user-id="bob"]').waitFor();
    await bob.locator('#members li[data-user-id="alice"]').waitFor();
    const aliceSees = await alice.locator('#members li').evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.userId));
    const bobSees = await bob.locator('#members li').evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.userId));
    const bobsConnections = await alice.locator('#members li[data-user-id="bob"] .connections').getAttribute('data-connections');
    await alice.locator('#presence-card').screenshot({ path: resolve(ARTIFACTS, 'demo-page-presence.png') });

    const closedAt = Date.now();
    await bob.close();
    await alice.locator('#members li[data-user-id="bob"]').waitFor({ state: 'detached', timeout: 5000 });
    const leftAfterMs = Date.now() - closedAt;

    expect(aliceSees.sort()).toEqual(['alice', 'bob']);
    expect(bobSees.sort()).toEqual(['alice', 'bob']);
    expect(bobsConnections).toBe('1');
    expect(leftAfterMs).toBeLessThan(5000);
    expect(await alice.textContent('#member-count')).toBe('1');
    expect(await alice.locator('#activity li', { hasText: 'bob left presence-lobby' }).count()).toBe(1);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('issue 12: three notifications published to nora while offline; two windows show 3, one marks one read, the other drops to 2', async () => {
    // The newcomer's way: the page's own Publish to "this user", before connecting.
    const first = await openPage();
    await first.fill('#connect-form input[name="userId"]', 'nora');
    await first.selectOption('#publish-form select[name="target"]', 'user');
    const results: string[] = [];
    for (const title of ['First while away', 'Second while away', 'Third while away']) {
      await first.fill('#publish-form input[name="title"]', title);
      await first.evaluate(() => (document.getElementById('publish-result')!.textContent = ''));
      await first.click('#publish');
      await first.locator('#publish-result', { hasText: /\S/ }).waitFor();
      results.push((await first.textContent('#publish-result'))!);
    }
    const second = await openPage();
    await connectAs(first, 'nora');
    await connectAs(second, 'nora');
    for (const page of [first, second]) {
      await page.locator('#unread-badge:not([hidden])', { hasText: '3' }).waitFor();
      await page.locator('#inbox-items .inbox-item').nth(2).waitFor();
    }
    const titles = await second.locator('#inbox-items h3').allTextContents();
    const unreadInSecond = await second.locator('#inbox-items .inbox-item[data-read="false"]').count();

    await first.locator('#inbox-items .inbox-item', { hasText: 'Second while away' }).locator('button.mark-read').click();
    await second.locator('#unread-badge', { hasText: '2' }).waitFor({ timeout: 5000 });
    // The other window's list follows too: it reloads its inbox when the count changes.
    await second.locator('#inbox-items .inbox-item[data-read="true"]', { hasText: 'Second while away' }).waitFor({ timeout: 5000 });
    await second.screenshot({ path: resolve(ARTIFACTS, 'demo-page-inbox-second-window.png') });

    expect(results).toEqual(Array(3).fill('Published; delivered to 0 connection(s)'));
    expect(titles).toEqual(['Third while away', 'Second while away', 'First while away']);
    expect(unreadInSecond).toBe(3);
    expect(await first.textContent('#unread-badge')).toBe('2');
    expect(await second.getAttribute('#bell', 'aria-label')).toBe('Inbox: 2 unread');
    expect(await second.locator('#inbox-items .inbox-item[data-read="false"] h3').allTextContents()).toEqual(['Third while away', 'First while away']);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
