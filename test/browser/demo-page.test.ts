import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local/project-root.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { browserTestsSkipReason, launchChromium, warmPageBundles } from './chromium.js';

const ARTIFACTS = resolve(PROJECT_ROOT, 'test/artifacts');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 860 };
const skipReason = browserTestsSkipReason();
if (skipReason) console.warn(skipReason);

/**
 * The demo page at GET / driven in Chromium as a newcomer uses it, every control in
 * turn: connect, subscribe, publish (to a channel, to this user, to everyone), the inbox
 * (bell, mark read, load more, mark all read), the presence panel (join, refresh,
 * leave), unsubscribe, a server-side drop, disconnect and connect again.
 */
describe.skipIf(skipReason !== undefined)("demo page in Chromium: a newcomer's walk", () => {
  let runtime: TestRuntime;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  const pageErrors: string[] = [];

  const notificationTitled = (title: string) => page.locator('#notifications .notification', { has: page.locator('h3', { hasText: title }) });
  const inboxItemTitled = (title: string) => page.locator('#inbox-items .inbox-item', { has: page.locator('h3', { hasText: title }) });
  const badge = () => page.locator('#unread-badge');

  async function publishFromPage(target: 'user' | 'channel' | 'broadcast', title: string, priority = 'medium'): Promise<string> {
    await page.selectOption('#publish-form select[name="target"]', target);
    await page.fill('#publish-form input[name="title"]', title);
    await page.fill('#publish-form textarea[name="message"]', `${title}: sent from the page`);
    await page.selectOption('#publish-form select[name="priority"]', priority);
    await page.evaluate(() => (document.getElementById('publish-result')!.textContent = ''));
    await page.click('#publish');
    await page.locator('#publish-result', { hasText: /\S/ }).waitFor();
    return (await page.textContent('#publish-result'))!;
  }

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    runtime = await startTestRuntime({
      kafka: { topics: ['booking-updates', 'waitlist-notifications'] },
      channels: { presence: ['presence-*'], access: { 'booking-updates': ['*'], 'presence-*': ['*'] } },
    });
    await warmPageBundles(runtime.httpUrl);
    browser = await launchChromium(PHONE);
    page = await browser.context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await runtime?.stop();
  });

  it('before connecting: idle, presence and inbox waiting, "this user" named after the user id field', async () => {
    await page.goto(`${runtime.httpUrl}/`);
    await page.locator('body[data-ready="true"]').waitFor();
    await page.fill('#connect-form input[name="userId"]', 'erin');

    expect(await page.textContent('#state')).toBe('idle');
    expect(await page.locator('#publish-form option[value="user"]').textContent()).toBe('this user (erin)');
    expect(await page.isDisabled('#subscribe')).toBe(true);
    expect(await page.isDisabled('#presence-join')).toBe(true);
    expect(await page.isDisabled('#mark-all-read')).toBe(true);
    expect(await badge().isHidden()).toBe(true);
    expect(await page.getAttribute('#bell', 'aria-label')).toBe('Inbox: not connected');
    expect(await page.textContent('#inbox-unread')).toBe('not connected');
    expect(await page.locator('#presence-channels option').evaluateAll((options) => options.map((option) => (option as HTMLOptionElement).value))).toEqual([
      'presence-lobby',
    ]);
  });

  it('connects with a role: open, its connection and automatic channels shown, an empty inbox', async () => {
    await page.check('#connect-form input[value="staff"]');
    await page.click('#connect');
    await page.locator('#state[data-state="open"]').waitFor();
    await page.locator('#inbox-empty', { hasText: 'Your inbox is empty' }).waitFor();

    expect(await page.textContent('#connection-id')).not.toBe('not connected');
    expect(await page.locator('#channels li').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringContaining('user-erin'), expect.stringContaining('system-announcements')]),
    );
    expect(await page.isDisabled('#connect-form input[name="userId"]')).toBe(true);
    expect(await page.isDisabled('#connect')).toBe(true);
    expect(await page.textContent('#inbox-unread')).toBe('0 unread');
    expect(await badge().isHidden()).toBe(true);
  });

  it('subscribes to a channel and publishes to it: the notification arrives live, not in the inbox', async () => {
    await page.click('#subscribe');
    await page.locator('#subscribe-result', { hasText: 'Subscribed to booking-updates' }).waitFor();
    await page.selectOption('#publish-form select[name="topic"]', 'waitlist-notifications');
    await page.selectOption('#publish-form select[name="target"]', 'channel');
    expect(await page.isVisible('#publish-form input[name="channel"]')).toBe(true);
    const result = await publishFromPage('channel', 'Booking Confirmed', 'high');
    await notificationTitled('Booking Confirmed').waitFor();

    expect(result).toBe('Published; delivered to 1 connection(s)');
    expect(await notificationTitled('Booking Confirmed').getAttribute('data-priority')).toBe('high');
    expect(await page.locator('#channels li').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('booking-updates')]));
    expect(await page.locator('#inbox-items .inbox-item').count()).toBe(0);
  });

  it('publishes to "this user" after Connect: delivered to the connected user, badge 1, unread in the inbox', async () => {
    // The newcomer's first bug: the user id came from the connect form, disabled once connected.
    const result = await publishFromPage('user', 'Just for erin');
    await notificationTitled('Just for erin').waitFor();
    await inboxItemTitled('Just for erin').waitFor();

    expect(await page.isHidden('#publish-form input[name="channel"]')).toBe(true);
    expect(result).toBe('Published; delivered to 1 connection(s)');
    expect(await badge().textContent()).toBe('1');
    expect(await page.getAttribute('#bell', 'aria-label')).toBe('Inbox: 1 unread');
    expect(await inboxItemTitled('Just for erin').getAttribute('data-read')).toBe('false');
    expect(await page.isEnabled('#mark-all-read')).toBe(true);
  });

  it('publishes to everyone: shown live, and the badge stays (a broadcast is no inbox item)', async () => {
    const result = await publishFromPage('broadcast', 'Maintenance tonight', 'low');
    await notificationTitled('Maintenance tonight').waitFor();

    expect(result).toBe('Published; delivered to 1 connection(s)');
    expect(await badge().textContent()).toBe('1');
    expect(await page.textContent('#count')).toBe('3');
  });

  it('lists the inbox newest first in pages: "Load more" brings the rest and then hides', async () => {
    const records = Array.from({ length: 10 }, (_, index) =>
      notificationRecord({ targetUserId: 'erin' }, { title: `Reminder ${index + 1}`, createdAt: new Date(Date.now() + index).toISOString() }),
    );
    for (const record of records) await runtime.publish('booking-updates', record);
    await page.locator('#unread-badge', { hasText: '11' }).waitFor();
    await inboxItemTitled('Reminder 10').waitFor();
    const firstPage = await page.locator('#inbox-items h3').allTextContents();
    await page.click('#inbox-more');
    await inboxItemTitled('Just for erin').waitFor();

    expect(firstPage).toHaveLength(10);
    expect(firstPage[0]).toBe('Reminder 10');
    expect(firstPage.at(-1)).toBe('Reminder 1');
    expect(await page.locator('#inbox-items h3').allTextContents()).toHaveLength(11);
    expect(await page.isHidden('#inbox-more')).toBe(true);
  });

  it('the bell leads to the inbox', async () => {
    await page.click('#bell');

    expect(await page.evaluate(() => document.activeElement?.id)).toBe('inbox-card');
  });

  it('marks one item read: styled read, its button gone, the badge one lower', async () => {
    await inboxItemTitled('Reminder 10').locator('button.mark-read').click();
    await page.locator('#unread-badge', { hasText: '10' }).waitFor();
    await page.locator('#inbox-items .inbox-item[data-read="true"]', { hasText: 'Reminder 10' }).waitFor();

    expect(await inboxItemTitled('Reminder 10').locator('button.mark-read').count()).toBe(0);
    expect(await inboxItemTitled('Reminder 10').locator('.read-state').textContent()).toBe('read');
    expect(await inboxItemTitled('Reminder 9').getAttribute('data-read')).toBe('false');
  });

  it('marks all read: no badge, every item read, "Mark all read" disabled', async () => {
    await page.click('#mark-all-read');
    await page.locator('#inbox-unread', { hasText: '0 unread' }).waitFor();
    await badge().waitFor({ state: 'hidden' });

    expect(await page.locator('#inbox-items .inbox-item[data-read="false"]').count()).toBe(0);
    expect(await page.locator('#inbox-items .inbox-item').count()).toBe(11);
    expect(await page.isDisabled('#mark-all-read')).toBe(true);
  });

  it('joins presence-lobby: the member list shows the user, with connections and join time; refresh and leave', async () => {
    await page.fill('#presence-form input[name="channel"]', 'presence-lobby');
    await page.click('#presence-join');
    const me = page.locator('#members li[data-user-id="erin"]');
    await me.waitFor();
    const joined = await me.locator('time').getAttribute('datetime');
    await page.click('#presence-refresh');
    await page.locator('#presence-result', { hasText: 'In presence-lobby' }).waitFor();
    const afterRefresh = await page.locator('#members li').count();
    await page.click('#presence-leave');
    await page.locator('#presence-result', { hasText: 'Left presence-lobby' }).waitFor();

    expect(await me.count()).toBe(0);
    expect(afterRefresh).toBe(1);
    expect(Math.abs(Date.parse(joined!) - Date.now())).toBeLessThan(60_000);
    expect(await page.isVisible('#members-empty')).toBe(true);
    expect(await page.locator('#channels li').allTextContents()).not.toEqual(expect.arrayContaining([expect.stringContaining('presence-lobby')]));
  });

  it('sees another user join and leave live, and refuses a channel that is not a presence channel', async () => {
    await page.click('#presence-join');
    await page.locator('#members li[data-user-id="erin"] .you').waitFor();
    const other = await browser.context.newPage();
    await other.goto(`${runtime.httpUrl}/`);
    await other.locator('body[data-ready="true"]').waitFor();
    await other.fill('#connect-form input[name="userId"]', 'frank');
    await other.click('#connect');
    await other.locator('#state[data-state="open"]').waitFor();
    await other.click('#presence-join');
    await page.locator('#members li[data-user-id="frank"]').waitFor();
    const countWithFrank = await page.textContent('#member-count');
    await other.fill('#presence-form input[name="channel"]', 'booking-updates');
    await other.click('#presence-join');
    await other.locator('#presence-result', { hasText: 'not a presence channel' }).waitFor();
    await other.close();
    await page.locator('#members li[data-user-id="frank"]').waitFor({ state: 'detached', timeout: 5000 });

    expect(countWithFrank).toBe('2');
    expect(await page.textContent('#member-count')).toBe('1');
  });

  it('unsubscribes through a channel chip', async () => {
    await page.click('#channels button[aria-label="Unsubscribe from booking-updates"]');
    await page.locator('#subscribe-result', { hasText: 'Left booking-updates' }).waitFor();

    expect(await page.locator('#channels li').allTextContents()).not.toEqual(expect.arrayContaining([expect.stringContaining('booking-updates')]));
  });

  it('reconnects after a server-side close: what was published meanwhile shows once, the member list is asked again', async () => {
    const connectionId = (await page.textContent('#connection-id'))!;
    const closed = await fetch(`${runtime.httpUrl}/@connections/${encodeURIComponent(connectionId)}`, { method: 'DELETE' });
    await runtime.publish('booking-updates', notificationRecord({ targetUserId: 'erin' }, { title: 'While you were away', priority: 'high' }));
    await notificationTitled('While you were away').waitFor();
    await page.locator('#state[data-state="open"]').waitFor();
    await inboxItemTitled('While you were away').waitFor();

    expect(closed.status).toBe(204);
    expect(await notificationTitled('While you were away').count()).toBe(1);
    expect(await page.textContent('#connection-id')).not.toBe(connectionId);
    expect(await badge().textContent()).toBe('1');
    expect(await page.locator('#members li[data-user-id="erin"]').count()).toBe(1);
  });

  it('disconnects: closed without an error, presence and inbox cleared, the form usable again', async () => {
    await page.click('#disconnect');
    await page.locator('#state[data-state="closed"]').waitFor();

    expect(await page.getAttribute('#state', 'data-error')).toBeNull();
    expect(await page.isEnabled('#connect')).toBe(true);
    expect(await page.isEnabled('#connect-form input[name="userId"]')).toBe(true);
    expect(await page.isDisabled('#presence-join')).toBe(true);
    expect(await page.locator('#members li').count()).toBe(0);
    expect(await page.locator('#inbox-items li').count()).toBe(0);
    expect(await page.textContent('#inbox-unread')).toBe('not connected');
    expect(await badge().isHidden()).toBe(true);
  });

  it('publishes to "this user" while disconnected (the user id field\'s user), then connects again and finds it unread', async () => {
    const result = await publishFromPage('user', 'Sent while offline', 'urgent');
    await page.click('#connect');
    await page.locator('#state[data-state="open"]').waitFor();
    await inboxItemTitled('Sent while offline').waitFor();

    expect(result).toBe('Published; delivered to 0 connection(s)');
    expect(await badge().textContent()).toBe('2');
    expect(await page.locator('#inbox-items h3').first().textContent()).toBe('Sent while offline');
    expect(pageErrors).toEqual([]);
  });

  it('reads well at phone and desktop widths (screenshots in test/artifacts/)', async () => {
    await page.click('#presence-join');
    await page.locator('#members li[data-user-id="erin"]').waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));

    // The header is sticky: from the top, a full-page shot shows it where a person sees it first.
    await page.screenshot({ path: resolve(ARTIFACTS, 'demo-page-phone.png'), fullPage: true });
    const phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    await page.setViewportSize(DESKTOP);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: resolve(ARTIFACTS, 'demo-page-desktop.png'), fullPage: true });
    const desktopOverflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

    // Nothing wider than the screen: no sideways scrolling on a phone.
    expect(phoneOverflow).toBe(0);
    expect(desktopOverflow).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
