import { describe, expect, it } from 'vitest';
import { logIn, useWebApp } from '../helpers/web-app.js';

describe('Keys and accounts page in a real browser', () => {
  const app = useWebApp({ HARKEN_VOICE_ENABLED: 'false' });

  const status = (credential: string) => fetch(`${app.server.url}/v1/agents`, { headers: { authorization: `Bearer ${credential}` } }).then((response) => response.status);

  it('shows a new key once (with a copy button), never again, and revokes it; rotates and disables service accounts; manages admins', async () => {
    const server = app.server;
    const { page, problems, screenshot } = await app.open('/#/keys');
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    await logIn(page);

    // A key: created with scopes and a limit, its secret shown once and copied.
    const keyForm = page.getByRole('form', { name: 'New API key' });
    await keyForm.getByLabel('Name').fill('kiosk');
    await keyForm.getByLabel('realtime').check();
    await keyForm.getByLabel('Requests per minute (optional)').fill('30');
    await keyForm.getByRole('button', { name: 'Create key' }).click();
    const shown = page.getByLabel('API key', { exact: true });
    await shown.waitFor();
    const key = await shown.inputValue();
    expect(key).toMatch(/^hk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(key);
    expect(await status(key)).toBe(200);
    const keys = page.getByRole('table', { name: 'API keys' });
    const row = keys.getByRole('row').filter({ hasText: 'kiosk' });
    expect(await row.textContent()).toContain('conversations, realtime');
    expect(await row.textContent()).toContain('30/min');
    // The form is ready for the next key.
    expect(await keyForm.getByLabel('Requests per minute (optional)').inputValue()).toBe('');
    await screenshot('keys');
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await page.content()).not.toContain(key.split('_')[2]);
    await page.reload();
    await row.waitFor();
    expect(await page.content()).not.toContain(key.split('_')[2]);

    // Revoking asks once more, then takes effect at once.
    await row.getByRole('button', { name: 'Revoke kiosk' }).click();
    await row.getByRole('button', { name: 'Revoke kiosk now' }).click();
    await row.getByRole('cell', { name: 'revoked' }).waitFor();
    expect(await status(key)).toBe(401);

    // A service account: its secret once, a rotation gives a new one and kills the old, disabling ends it.
    const accountForm = page.getByRole('form', { name: 'New service account' });
    await accountForm.getByLabel('Account name').fill('porch');
    await accountForm.getByLabel('conversations').check();
    await accountForm.getByRole('button', { name: 'Create service account' }).click();
    const secretField = page.getByLabel('service account secret', { exact: true });
    const first = await secretField.inputValue();
    expect(first).toMatch(/^hksa_/);
    expect(await status(first)).toBe(200);
    const account = page.getByRole('table', { name: 'Service accounts' }).getByRole('row').filter({ hasText: 'porch' });
    await account.getByRole('button', { name: 'Rotate porch' }).click();
    await account.getByRole('button', { name: 'Rotate porch now' }).click();
    await expect.poll(() => secretField.inputValue()).not.toBe(first);
    const second = await secretField.inputValue();
    expect(await status(first)).toBe(401);
    expect(await status(second)).toBe(200);
    await account.getByRole('button', { name: 'Disable porch' }).click();
    await account.getByRole('button', { name: 'Disable porch now' }).click();
    await account.getByRole('cell', { name: 'disabled' }).waitFor();
    expect(await status(second)).toBe(401);

    // Admins: a weak password is refused with the server's reason; a strong one creates bob, who can be disabled.
    const adminForm = page.getByRole('form', { name: 'New admin' });
    await adminForm.getByLabel('New admin’s username').fill('bob');
    await adminForm.getByLabel('New admin’s password').fill('password123');
    await adminForm.getByRole('button', { name: 'Create admin' }).click();
    await page.locator('section', { has: page.getByRole('heading', { name: 'Admins' }) }).getByRole('alert').waitFor();
    await adminForm.getByLabel('New admin’s password').fill('violet kettle under marble sky 42');
    await adminForm.getByRole('button', { name: 'Create admin' }).click();
    const bob = page.getByRole('table', { name: 'Admins' }).getByRole('row').filter({ hasText: 'bob' });
    await bob.waitFor();
    // Another admin's password reset (the strength check applies) and sessions ended.
    await bob.getByRole('button', { name: 'Reset bob’s password' }).click();
    await bob.getByLabel('New password for bob').fill('short');
    await bob.getByRole('button', { name: 'Set password' }).click();
    await page.locator('section', { has: page.getByRole('heading', { name: 'Admins' }) }).getByRole('alert').waitFor();
    await bob.getByLabel('New password for bob').fill('quiet orchard lantern seventy nine');
    await bob.getByRole('button', { name: 'Set password' }).click();
    await bob.getByLabel('New password for bob').waitFor({ state: 'detached' });
    const bobAccount = (await server.harken.access.admins.byUsername('bob'))!;
    expect(await server.harken.access.admins.passwordMatches(bobAccount.id, 'quiet orchard lantern seventy nine')).toBe(true);
    await bob.getByRole('button', { name: 'Log bob out everywhere' }).click();
    await bob.getByRole('button', { name: 'End every session of bob' }).click();
    await page.getByRole('button', { name: 'Log bob out everywhere' }).waitFor();
    await bob.getByRole('button', { name: 'Disable bob' }).click();
    await bob.getByRole('button', { name: 'Disable bob now' }).click();
    await bob.getByRole('cell', { name: 'disabled' }).waitFor();
    expect((await server.harken.access.admins.byUsername('bob'))?.disabledAt).toBeTruthy();
    // Nobody disables themselves from here.
    expect(await page.getByRole('button', { name: 'Disable alice' }).count()).toBe(0);

    // Every change is in the audit log under alice's name.
    const actions = ((await server.inject({ method: 'GET', url: '/v1/admin/audit?actor=admin:alice&limit=50' })).json() as { events: Array<{ action: string }> }).events.map((event) => event.action);
    expect(actions).toEqual(expect.arrayContaining(['key.created', 'key.revoked', 'service_account.created', 'service_account.rotated', 'service_account.disabled', 'admin.created', 'admin.password_changed', 'admin.sessions_revoked', 'admin.updated']));
    expect(problems).toEqual([]);
  }, 60_000);
});
