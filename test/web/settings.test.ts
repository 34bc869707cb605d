import { describe, expect, it } from 'vitest';
import { logIn, useWebApp } from '../helpers/web-app.js';

describe('Settings page in a real browser', () => {
  const app = useWebApp({ HARKEN_VOICE_ENABLED: 'false' });

  it('validates a change with the schema’s message, saves and audits a good one, and never shows a secret back', async () => {
    const server = app.server;
    const { page, problems, screenshot } = await app.open('/#/settings');
    await logIn(page);
    await page.getByRole('heading', { name: 'Settings' }).waitFor();

    // Set by the environment: shown with its source, not editable here.
    const level = page.getByRole('row').filter({ has: page.getByText('log.level', { exact: true }) });
    expect(await level.textContent()).toContain('environment');
    expect(await level.getByText('set by HARKEN_LOG_LEVEL').count()).toBe(1);

    await page.getByLabel('Find a setting').fill('voice.endOfTurnSilence');
    const silence = page.getByRole('row').filter({ has: page.getByText('voice.endOfTurnSilenceMs', { exact: true }) });
    expect(await page.locator('table.settings tbody tr').count()).toBe(1);
    const field = silence.getByLabel('New value for voice.endOfTurnSilenceMs');
    expect(await field.inputValue()).toBe('600');
    await field.fill('-5');
    await silence.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => silence.getByRole('alert').textContent()).toMatch(/voice\.endOfTurnSilenceMs/);
    await field.fill('450');
    await silence.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('voice.endOfTurnSilenceMs changed; in effect after a restart.').waitFor();
    await silence.getByText('after a restart: 450').waitFor();
    expect(await silence.textContent()).toContain('settings file');
    const view = (await server.inject({ method: 'GET', url: '/v1/config' })).json() as { settings: Array<{ path: string; pending?: unknown; value: unknown }> };
    expect(view.settings.find((setting) => setting.path === 'voice.endOfTurnSilenceMs')).toMatchObject({ value: 600, pending: 450 });
    await screenshot('settings');

    // A secret: written, shown only as "a new value", never sent back to the browser.
    const secret = 'sk-browser-test-5f1c2a';
    await page.getByLabel('Find a setting').fill('tts.openaiApiKey');
    const key = page.getByRole('row').filter({ has: page.getByText('tts.openaiApiKey', { exact: true }) });
    await key.getByLabel('New value for tts.openaiApiKey').fill(secret);
    const answers: string[] = [];
    page.on('response', (response) => void response.text().then((body) => answers.push(body), () => undefined));
    await key.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('tts.openaiApiKey changed; in effect after a restart.').waitFor();
    await key.getByText('after a restart: a new value').waitFor();
    await page.reload();
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    expect(await page.content()).not.toContain(secret);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.join('\n')).not.toContain(secret);

    const audit = (await server.inject({ method: 'GET', url: '/v1/admin/audit?action=config.changed' })).json() as { events: Array<{ actor: string; details: { changes: Array<{ path: string; from: unknown; to: unknown }> } }> };
    expect(audit.events.map((event) => event.details.changes[0])).toEqual([
      { path: 'tts.openaiApiKey', from: '[unset]', to: '[set]' },
      { path: 'voice.endOfTurnSilenceMs', from: 600, to: 450 },
    ]);
    expect(audit.events.every((event) => event.actor === 'admin:alice')).toBe(true);
    expect(problems).toEqual([]);
  }, 60_000);
});
