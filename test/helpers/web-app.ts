import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { launchBrowser, openPage, type WatchedPage } from './browser.js';
import { ADMIN_TEST_PASSWORD, startListeningServer } from './harness.js';
import { useTempDirs } from './temp-dir.js';

export type ListeningServer = Awaited<ReturnType<typeof startListeningServer>>;

/** Logs in through the page's own form. */
export const logIn = async (page: Page, username = 'alice'): Promise<void> => {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(ADMIN_TEST_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
};

/**
 * For a describe block of browser tests: Debian's Chromium and one listening server with the
 * admin `alice`, started once and closed after the block.
 */
export const useWebApp = (env: Record<string, string> = {}, options: { microphone?: string } = {}) => {
  const tempDir = useTempDirs();
  let browser: Browser | undefined;
  let server: ListeningServer | undefined;
  beforeAll(async () => {
    browser = await launchBrowser(options);
    server = await startListeningServer(tempDir(), env);
    await server.harken.access.admins.create('alice', ADMIN_TEST_PASSWORD);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.harken.close();
  });
  return {
    tempDir,
    get server(): ListeningServer {
      if (!server) throw new Error('the server is not started yet');
      return server;
    },
    /** Opens `path` of the app (e.g. `/#/keys`) in a fresh browser context. */
    open(path: string, viewport?: { width: number; height: number }): Promise<WatchedPage> {
      if (!browser || !server) throw new Error('the browser is not started yet');
      return openPage(browser, `${server.url}${path}`, viewport);
    },
  };
};
