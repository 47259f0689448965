import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

/** Debian's Chromium; .ci/run installs the `chromium` package when it is missing. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Whether the browser tests run: always in CI (where a missing Chromium must fail
 * loudly), and elsewhere only when Chromium is installed.
 */
export function browserTestsSkipReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH) || process.env.CI) return undefined;
  return `browser tests skipped: ${CHROMIUM_PATH} is missing (apt-get install -y chromium); in CI they run`;
}

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Chromium with a fresh profile; `close()` removes the profile too. */
export async function launchChromium(viewport: { width: number; height: number }): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} not found: apt-get install -y chromium (.ci/run does this)`);
  const userDataDir = await mkdtemp(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Chromium for tests that need several browser contexts (two users, or two windows of
 * one user, each with its own storage); each context starts from a fresh profile.
 */
export async function launchChromiumBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} not found: apt-get install -y chromium (.ci/run does this)`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/**
 * Builds the page's bundles before any page loads: the runtime runs esbuild on the first
 * request for each, which on a busy machine can take longer than a page's own waits.
 */
export async function warmPageBundles(httpUrl: string): Promise<void> {
  await Promise.all(
    ['/page.js', '/client.js'].map(async (path) => {
      const response = await fetch(`${httpUrl}${path}`);
      if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status} ${await response.text()}`);
    }),
  );
}
