import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Where test runs leave screenshots of each page for a reviewer (not committed). */
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-results/screenshots/', import.meta.url));

const CHROMIUM = process.env.HARKEN_TEST_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/** Debian's Chromium through playwright-core; with `microphone`, getUserMedia delivers that WAV file. */
export const launchBrowser = (options: { microphone?: string } = {}): Promise<Browser> =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [...FLAGS, ...(options.microphone ? ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${options.microphone}`] : [])],
  });

export interface WatchedPage {
  readonly page: Page;
  /** Console errors and uncaught exceptions (a CSP violation is reported as a console error). */
  readonly problems: string[];
  screenshot(name: string): Promise<void>;
}

export const openPage = async (browser: Browser, url: string, viewport = { width: 1280, height: 800 }): Promise<WatchedPage> => {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    // An API answer of 401/403/429 is logged by Chrome as a failed load: expected, not a fault of the page.
    if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`exception: ${error.message}`));
  await page.goto(url);
  return {
    page,
    problems,
    async screenshot(name) {
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
    },
  };
};
