import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TEST_PASSWORD, startListeningServer } from '../helpers/harness.js';
import { launchBrowser, openPage } from '../helpers/browser.js';
import { useTempDirs } from '../helpers/temp-dir.js';

type Server = Awaited<ReturnType<typeof startListeningServer>>;

describe('web app in a real browser: login, session, health', () => {
  const tempDir = useTempDirs();
  let browser: Browser;
  const servers: Server[] = [];
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.all(servers.map((server) => server.harken.close()));
  });

  const start = async (env: Record<string, string> = {}) => {
    const server = await startListeningServer(tempDir(), env);
    servers.push(server);
    await server.harken.access.admins.create('alice', ADMIN_TEST_PASSWORD);
    return server;
  };

  it('logs in by keyboard, keeps the session across a reload, returns to the same page after the session ends, logs out', async () => {
    const server = await start();
    const { page, problems, screenshot } = await openPage(browser, `${server.url}/#/health`);
    // The page is served with a strict policy: no inline script, nothing from elsewhere.
    const document = await page.request.get(`${server.url}/`);
    expect(document.headers()['content-security-policy']).toContain("script-src 'self'");

    await page.getByLabel('Username').waitFor();
    await screenshot('login');
    // Keyboard only: focus moves with Tab, Enter submits.
    await page.getByLabel('Username').focus();
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    await page.keyboard.type('not the password');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Wrong username or password.');
    await page.getByLabel('Password').fill(ADMIN_TEST_PASSWORD);
    await page.keyboard.press('Enter');
    await page.getByRole('table', { name: 'Readiness checks' }).waitFor();
    expect(await page.getByRole('cell', { name: 'database' }).count()).toBe(1);
    await page.getByText(/Engines: /).waitFor();
    await page.getByText(/Recognisers: 0 of 4 busy, \d idle, 0 utterances waiting for one/).waitFor();
    await page.getByText(/^Memory: \d+(\.\d)? MB resident \(and [1-9]\d*(\.\d)? MB in speech engine processes\), JavaScript heap \d+(\.\d)? of \d+(\.\d)? MB/).waitFor();
    await page.getByText(/; 1 start in the last 7 days\.$/).waitFor();
    await screenshot('health');

    await page.reload();
    await page.getByRole('table', { name: 'Readiness checks' }).waitFor();
    expect(await page.getByLabel('Username').count()).toBe(0);

    // Site data cleared but the cookie kept: no CSRF token to make changes with, so log in again.
    await page.evaluate('localStorage.clear()');
    await page.reload();
    await page.getByText('Log in again to make changes in this browser.').waitFor();
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ADMIN_TEST_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('table', { name: 'Readiness checks' }).waitFor();
    expect(await page.evaluate("localStorage.getItem('harken.csrf')")).toMatch(/.{20,}/);

    // The session ends under the page (revoked, as an expiry would): back to login, then back here.
    const alice = (await server.harken.access.admins.byUsername('alice'))!;
    await server.harken.access.admins.revokeSessions(alice.id);
    await page.getByText('Your session has ended').waitFor({ timeout: 10_000 });
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ADMIN_TEST_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('table', { name: 'Readiness checks' }).waitFor();
    expect(new URL(page.url()).hash).toBe('#/health');

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('You are logged out.').waitFor();
    await page.reload();
    await page.getByLabel('Username').waitFor();
    expect(problems).toEqual([]);
  }, 60_000);

  it('pages through the audit log, filtered by action family and outcome', async () => {
    const server = await start();
    // Real rows in the real audit log: 70 refused API calls, then one key created.
    for (let index = 0; index < 70; index += 1) {
      await server.harken.access.audit.record({ action: 'auth.denied', outcome: 'failure', actor: `key:probe${String(index).padStart(2, '0')}`, ip: '203.0.113.9', details: { reason: 'unknown_credentials' } });
    }
    await server.harken.access.audit.record({ action: 'key.created', outcome: 'success', actor: 'admin:alice', target: 'key:reporting' });
    const { page, problems } = await openPage(browser, `${server.url}/#/audit`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ADMIN_TEST_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    const table = page.getByRole('table', { name: /Audit events/ });
    await table.waitFor();
    const rows = table.locator('tbody tr');
    // Newest first, one page of 50; the login itself is the newest event.
    await expect.poll(() => rows.count()).toBe(50);
    expect(await rows.first().locator('td').nth(1).textContent()).toBe('auth.login');
    await page.getByRole('button', { name: 'Older events' }).click();
    // The server's start + 70 + the security alert the 11th refusal from one address raised + 1 + the login
    // = 74 events in all: the second page brings the last 24, and no more pages.
    await expect.poll(() => rows.count()).toBe(74);
    expect(await page.getByRole('button', { name: 'Older events' }).count()).toBe(0);
    expect(await rows.last().locator('td').nth(1).textContent()).toBe('server.started');
    expect(await rows.nth(72).locator('td').nth(3).textContent()).toBe('key:probe00');
    expect((await rows.locator('td:nth-child(2)').allTextContents()).filter((action) => action === 'security.auth_failures')).toHaveLength(1);

    await page.getByLabel('Action').fill('auth.*');
    await page.getByLabel('Outcome').selectOption('failure');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => rows.count()).toBe(50);
    const actions = await rows.locator('td:nth-child(2)').allTextContents();
    expect(new Set(actions)).toEqual(new Set(['auth.denied']));
    await page.getByLabel('Action').fill('key.created');
    await page.getByLabel('Outcome').selectOption('');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().locator('td').nth(4).textContent()).toBe('key:reporting');
    expect(problems).toEqual([]);
  }, 60_000);

  it('shows the lockout with the time left, and is usable at 360 px', async () => {
    const server = await start({ HARKEN_AUTH_LOGIN_MAX_FAILURES: '2', HARKEN_AUTH_LOGIN_LOCKOUT_SECONDS: '120' });
    const { page, problems, screenshot } = await openPage(browser, `${server.url}/`, { width: 360, height: 740 });
    await page.getByLabel('Username').fill('alice');
    for (let attempt = 0; attempt < 3; attempt += 1) {
      await page.getByLabel('Password').fill(`wrong ${attempt}`);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('alert').waitFor();
    }
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^Too many attempts\. Try again in \d+ s\.$/);
    const seconds = Number(await page.locator('.countdown').textContent());
    expect(seconds).toBeGreaterThan(100);
    expect(seconds).toBeLessThanOrEqual(120);
    expect(await page.getByRole('button', { name: 'Log in' }).isDisabled()).toBe(true);
    // Nothing wider than the phone's screen.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
    await screenshot('login-locked-360px');
    expect(problems).toEqual([]);
  }, 60_000);

  it('creates the first admin with the setup code', async () => {
    const server = await startListeningServer(tempDir());
    servers.push(server);
    const code = server.harken.setupCode;
    expect(code).toBeTruthy();
    const { page, problems } = await openPage(browser, `${server.url}/`);
    await page.getByRole('button', { name: 'First run? Create the first admin' }).click();
    await page.getByLabel(/Setup code/).fill('wrong-code');
    await page.getByLabel('Username').fill('first');
    await page.getByLabel('Password').fill('a long enough passphrase 42');
    await page.getByRole('button', { name: 'Create admin and log in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('The setup code is wrong or was already used.');
    await page.getByLabel(/Setup code/).fill(code as string);
    await page.getByRole('button', { name: 'Create admin and log in' }).click();
    await page.getByRole('table', { name: 'Readiness checks' }).waitFor();
    expect(problems).toEqual([]);
  }, 60_000);
});
