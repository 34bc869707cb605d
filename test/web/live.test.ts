import { request } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { launchBrowser, openPage } from '../helpers/browser.js';
import { ADMIN_TEST_PASSWORD, startListeningServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

type Server = Awaited<ReturnType<typeof startListeningServer>>;

/** The feed's status and first bytes over real HTTP (an event stream never ends: read a little, then hang up). */
const openFeed = (url: string, credential: string): Promise<{ status: number; type: string; firstBytes: string }> =>
  new Promise((resolve, reject) => {
    const feed = request(url, { headers: { authorization: `Bearer ${credential}` } }, (response) => {
      response.setEncoding('utf8');
      response.once('data', (chunk: string) => {
        resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), firstBytes: chunk });
        feed.destroy();
      });
      response.once('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), firstBytes: '' }));
    });
    feed.once('error', reject);
    feed.end();
  });

describe('Live page and the admin event feed', () => {
  const tempDir = useTempDirs();
  let browser: Browser;
  let server: Server;
  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startListeningServer(tempDir());
    await server.harken.access.admins.create('alice', ADMIN_TEST_PASSWORD);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.harken.close();
  });

  it('streams events to admins only, over Server-Sent Events', async () => {
    const allowed = await openFeed(`${server.url}/v1/admin/events`, server.apiKey);
    expect(allowed).toMatchObject({ status: 200, type: 'text/event-stream; charset=utf-8' });
    expect(allowed.firstBytes).toBe('retry: 3000\n\n');
    const notAdmin = await openFeed(`${server.url}/v1/admin/events`, await server.createKey(['conversations', 'realtime']));
    expect(notAdmin.status).toBe(403);
  });

  it('closes an open feed when its credential is revoked, as an open session would be', async () => {
    const { key, view } = await server.harken.access.keys.create({ name: 'dashboard', scopes: ['admin'] });
    const ended = new Promise<number>((resolve, reject) => {
      const feed = request(`${server.url}/v1/admin/events`, { headers: { authorization: `Bearer ${key}` } }, (response) => {
        expect(response.statusCode).toBe(200);
        response.resume();
        response.once('close', () => resolve(performance.now()));
      });
      feed.once('error', reject);
      feed.end();
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const revokedAt = performance.now();
    await server.harken.access.keys.revoke(view.id);
    // Re-checked every realtime.credentialRecheckMs (5 s by default).
    expect((await ended) - revokedAt).toBeLessThan(6_500);
  }, 15_000);

  it('ends open feeds when the server shuts down, instead of waiting for them', async () => {
    const other = await startListeningServer(tempDir(), { HARKEN_VOICE_ENABLED: 'false' });
    const ended = new Promise<number>((resolve, reject) => {
      const feed = request(`${other.url}/v1/admin/events`, { headers: { authorization: `Bearer ${other.apiKey}` } }, (response) => {
        response.resume();
        response.once('end', () => resolve(performance.now()));
      });
      feed.once('error', reject);
      feed.end();
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const closing = performance.now();
    await other.harken.close();
    expect(performance.now() - closing).toBeLessThan(3_000);
    expect((await ended) - closing).toBeLessThan(3_000);
  });

  it('shows a session started from another client within a second, follows its turns, and sees it end', async () => {
    const { page, problems, screenshot } = await openPage(browser, `${server.url}/#/live`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ADMIN_TEST_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('status').getByText('Following events as they happen.').waitFor();
    await page.getByText('No sessions in progress.').waitFor();

    const caller = await server.createKey(['realtime']);
    const client = await RealtimeClient.connect({ url: server.wsUrl, credentials: caller, sampleRate: 16_000, agent: 'echo' });
    const ready = performance.now();
    const sessions = page.getByRole('table', { name: 'Sessions and calls in progress' });
    const row = sessions.getByRole('row').filter({ hasText: 'echo' });
    await row.waitFor({ timeout: 1_000 });
    expect(performance.now() - ready).toBeLessThan(1_000);
    expect(await row.textContent()).toContain('realtime');
    expect(await row.textContent()).toContain('default');

    // Follow it: its turns appear, other events (the audit trail of this page's own requests) do not.
    await row.getByRole('button', { name: /^Follow/ }).click();
    client.sendJson({ type: 'text', text: 'hello live page' });
    const events = page.getByRole('list', { name: 'Events, newest first' });
    await events.getByText('Agent: You said: hello live page').waitFor({ timeout: 10_000 });
    expect(await events.getByText(/\(success\)/).count()).toBe(0);
    await screenshot('live');

    await client.close();
    await page.getByText('No sessions in progress.').waitFor({ timeout: 5_000 });
    await page.getByRole('button', { name: 'Show every session' }).click();
    await page.getByLabel('Show').selectOption('sessions starting and ending');
    await events.getByText(/^.* Session ended after \d+ s$/).waitFor();
    await events.getByText(new RegExp(`key:[a-z0-9]{12} started a realtime session with echo \\(tenant default\\)`)).waitFor();
    await page.getByLabel('Show').selectOption('security (audit log)');
    await events.getByText(/session\.started \(success\) by key:/).waitFor();
    expect(problems).toEqual([]);
  }, 60_000);
});
