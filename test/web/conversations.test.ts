import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConversationRepository } from '../../src/store/conversations.js';
import { logIn, useWebApp } from '../helpers/web-app.js';

describe('Conversations page in a real browser', () => {
  const app = useWebApp({ HARKEN_VOICE_ENABLED: 'false' });

  it('finds a conversation by what was said, shows its transcript, answers, cut reply and timings, exports it and erases it', async () => {
    const server = app.server;
    // An intake with a name answered, an echo conversation, and a voice call whose reply was cut.
    const intake = (await server.inject({ method: 'POST', url: '/v1/conversations', payload: { agent: 'intake' } })).json() as { id: string };
    await server.inject({ method: 'POST', url: `/v1/conversations/${intake.id}/messages`, payload: { text: 'Ada Lovelace' } });
    const echo = (await server.inject({ method: 'POST', url: '/v1/conversations', payload: { agent: 'echo' } })).json() as { id: string };
    await server.inject({ method: 'POST', url: `/v1/conversations/${echo.id}/messages`, payload: { text: 'nothing to see' } });
    await new ConversationRepository(server.harken.database.kysely).create({ agent: 'echo', tenant: 'acme', status: 'active', state: {}, data: {} }, [
      { role: 'user', text: 'tell me about the clinic hours', source: 'voice', metrics: { sttLatencyMs: 210 } },
      { role: 'assistant', text: 'We open at eight', source: 'voice', interrupted: true, metrics: { agentLatencyMs: 3, ttsFirstAudioMs: 95, voiceToVoiceMs: 820 } },
    ]);

    const { page, problems, screenshot } = await app.open('/#/conversations');
    await logIn(page);
    const table = page.getByRole('table', { name: 'Stored conversations, most recent first' });
    await expect.poll(() => table.getByRole('row').count()).toBe(4);

    // The cut voice reply, with its timings, in acme's conversation.
    await page.getByLabel('Said in it').fill('clinic');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => table.getByRole('row').count()).toBe(2);
    expect(await table.getByRole('row').nth(1).textContent()).toContain('acme');
    await table.getByRole('button', { name: /^Open/ }).click();
    const transcript = page.getByRole('list', { name: 'Transcript' });
    await transcript.getByText('We open at eight').waitFor();
    expect(await transcript.getByText('— cut off here: the caller spoke over the rest').count()).toBe(1);
    await transcript.getByText('agent 3 ms, first audio 95 ms, voice to voice 820 ms').waitFor();
    await transcript.getByText('transcript 210 ms').waitFor();
    await page.getByRole('button', { name: 'Back to the list' }).click();

    // The intake by the caller's name (any case), its answers, and a CSV export of exactly it.
    await page.getByLabel('Said in it').fill('lovelace');
    await page.getByLabel('Agent').selectOption('intake');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => table.getByRole('row').count()).toBe(2);
    await table.getByRole('button', { name: /^Open/ }).click();
    await page.getByRole('table', { name: 'Answers' }).getByRole('cell', { name: 'Ada Lovelace' }).waitFor();
    await screenshot('conversation');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export CSV' }).click()]);
    expect(download.suggestedFilename()).toBe(`conversation-${intake.id}.csv`);
    const csv = readFileSync((await download.path()) as string, 'utf8');
    expect(csv.split('\r\n')[0]).toMatch(/^seq,created_at,role,source,interrupted,text,/);
    expect(csv).toContain(',user,text,false,Ada Lovelace,');

    // Delete asks first, then the conversation is gone for every route.
    await page.getByRole('button', { name: 'Delete this conversation' }).click();
    await page.getByRole('button', { name: 'Keep it' }).click();
    await page.getByRole('button', { name: 'Delete this conversation' }).click();
    await page.getByRole('button', { name: 'Erase it' }).click();
    await page.getByRole('status').getByText('The conversation was erased.').waitFor();
    expect((await server.inject({ method: 'GET', url: `/v1/conversations/${intake.id}` })).statusCode).toBe(404);
    const actions = ((await server.inject({ method: 'GET', url: '/v1/admin/audit?actor=admin:alice' })).json() as { events: Array<{ action: string; target: string }> }).events;
    expect(actions.filter((event) => event.target === `conversation:${intake.id}`).map((event) => event.action)).toEqual(['conversation.deleted', 'conversation.exported']);
    expect(problems).toEqual([]);
  }, 60_000);
});
