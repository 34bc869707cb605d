import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage } from '../helpers/browser.js';
import { ADMIN_TEST_PASSWORD, startListeningServer } from '../helpers/harness.js';
import { SHARED_AUDIO } from '../helpers/shared.js';
import { useTempDirs } from '../helpers/temp-dir.js';

type Server = Awaited<ReturnType<typeof startListeningServer>>;

/**
 * The microphone plays, once: 1 s of silence, "go forward ten meters" (to 3.8 s), 1.5 s of
 * silence, "he was not an ill disposed young man" (5.3–8.3 s), … The echo agent's reply to the
 * first sentence is still playing when the second begins: a barge-in.
 */
const MICROPHONE = `${SHARED_AUDIO}/vad-test-concat.wav%noloop`;

const playedMs = async (page: Page): Promise<number> => Number(/Reply audio played: (\d+) ms/.exec((await page.getByText(/^Reply audio played:/).textContent()) ?? '')?.[1] ?? NaN);

describe('Talk: the browser voice client, with a fake microphone playing a real recording', () => {
  const tempDir = useTempDirs();
  let browser: Browser;
  let server: Server;
  beforeAll(async () => {
    browser = await launchBrowser({ microphone: MICROPHONE });
    server = await startListeningServer(tempDir());
    await server.harken.access.admins.create('alice', ADMIN_TEST_PASSWORD);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.harken.close();
  });

  it('transcribes the caller, plays the reply, stops it when the caller speaks over it, and takes typed turns', async () => {
    const { page, problems, screenshot } = await openPage(browser, `${server.url}/#/talk`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ADMIN_TEST_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Talk' }).waitFor();
    await page.getByLabel('Agent').selectOption('echo');
    await page.getByRole('button', { name: 'Start talking' }).click();
    await page.getByRole('status').getByText('Listening.').waitFor({ timeout: 10_000 });

    // The first sentence: its final transcript, the echoed reply, and its audio actually played.
    const conversation = page.getByRole('list', { name: 'Conversation' });
    // The echo agent greets first; then the turn of the first sentence.
    const firstTurn = conversation.getByRole('listitem').filter({ hasText: /You said: .*forward/ });
    await firstTurn.waitFor({ timeout: 20_000 });
    const heard = (await firstTurn.locator('p', { hasText: 'You:' }).locator('span').textContent()) ?? '';
    expect(heard).toMatch(/forward/);
    expect(await firstTurn.locator('p', { hasText: 'Agent:' }).locator('span').textContent()).toBe(`You said: ${heard}`);
    await firstTurn.getByText(/^After the end of your turn: transcript \d+ ms, reply text \d+ ms, first reply audio \d+ ms$/).waitFor({ timeout: 10_000 });
    await expect.poll(() => playedMs(page), { timeout: 10_000 }).toBeGreaterThan(300);

    // The second sentence starts while that reply plays: the server says so and playback stops at once.
    // (The greeting was cut the same way by the first sentence.)
    await firstTurn.getByText(/^Interrupted: you were heard over the reply/).waitFor({ timeout: 15_000 });
    // The page samples the player every 200 ms: read it once it has sampled after the stop, then again later.
    await page.waitForTimeout(300);
    const afterStop = await playedMs(page);
    await page.waitForTimeout(800);
    expect((await playedMs(page)) - afterStop).toBeLessThan(250);
    await screenshot('talk');

    // A typed turn is answered with text (and speech) too.
    await page.getByLabel('Type a message').fill('hello from the keyboard');
    await page.getByRole('button', { name: 'Send' }).click();
    await conversation.getByText('You said: hello from the keyboard').waitFor({ timeout: 15_000 });

    await page.getByRole('button', { name: 'Hang up' }).click();
    await page.getByRole('status').getByText('The conversation ended.').waitFor({ timeout: 10_000 });

    // The Conversations page has the call: the spoken turn and the typed one.
    await page.getByRole('link', { name: 'Conversations' }).click();
    await page.getByRole('table', { name: 'Stored conversations, most recent first' }).getByRole('button', { name: /^Open/ }).first().click();
    const transcript = page.getByRole('list', { name: 'Transcript' });
    await transcript.getByText(heard, { exact: true }).waitFor();
    await transcript.getByText('hello from the keyboard', { exact: true }).waitFor();
    expect(await transcript.getByText(/^\(voice, /).count()).toBeGreaterThan(0);

    // The socket was opened with a short-lived token minted for realtime alone, from the login session.
    const audit = (await server.inject({ method: 'GET', url: '/v1/admin/audit?action=token.issued&actor=admin:alice' })).json() as { events: Array<{ details: { scopes: string[] } }> };
    expect(audit.events.map((event) => event.details.scopes)).toEqual([['realtime']]);
    // What was said is stored: the spoken and the typed turn.
    const list = (await server.inject({ method: 'GET', url: '/v1/conversations' })).json() as { conversations: Array<{ id: string }> };
    expect(list.conversations).toHaveLength(1);
    const stored = (await server.inject({ method: 'GET', url: `/v1/conversations/${list.conversations[0]!.id}` })).json() as { messages: Array<{ role: string; text: string }> };
    expect(stored.messages.filter((message) => message.role === 'user').map((message) => message.text)).toContain(heard);
    expect(stored.messages.some((message) => message.role === 'user' && message.text === 'hello from the keyboard')).toBe(true);
    expect(problems).toEqual([]);
  }, 90_000);

  it('in push-to-talk mode hears nothing until the button is held, then the turn spoken while holding it', async () => {
    const { page, problems } = await openPage(browser, `${server.url}/#/talk`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ADMIN_TEST_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByLabel('Agent').selectOption('echo');
    await page.getByLabel('Push to talk').check();
    await page.getByRole('button', { name: 'Start talking' }).click();
    await page.getByRole('status').getByText('Listening.').waitFor({ timeout: 10_000 });
    const conversation = page.getByRole('list', { name: 'Conversation' });
    // The first sentence plays into a released button: silence reaches the server, no turn.
    await page.waitForTimeout(4_800);
    expect(await conversation.getByText('You:').count()).toBe(0);
    // Held through the second sentence (5.3–8.3 s of the recording).
    const hold = page.getByRole('button', { name: /Hold to talk/ });
    await hold.hover();
    await page.mouse.down();
    await page.getByRole('button', { name: /Talking… release to stop/ }).waitFor();
    await page.waitForTimeout(3_800);
    await page.mouse.up();
    const turn = conversation.getByRole('listitem').filter({ hasText: 'You:' });
    await turn.getByText(/^You said: /).waitFor({ timeout: 15_000 });
    expect(await turn.count()).toBe(1);
    expect(await turn.textContent()).not.toMatch(/forward/);
    await page.getByRole('button', { name: 'Hang up' }).click();
    await page.getByRole('status').getByText('The conversation ended.').waitFor({ timeout: 10_000 });
    expect(problems).toEqual([]);
  }, 60_000);
});
