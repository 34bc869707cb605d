import { afterEach, describe, expect, it } from 'vitest';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { startFakeOpenAi, type FakeOpenAi } from '../helpers/fake-openai.js';
import { startListeningServer } from '../helpers/harness.js';
import { spoken } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

type Server = Awaited<ReturnType<typeof startListeningServer>>;

describe('an LLM agent in a realtime voice session', () => {
  const tempDir = useTempDirs();
  const servers: Server[] = [];
  const clients: RealtimeClient[] = [];
  const fakes: FakeOpenAi[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
    await Promise.all(fakes.splice(0).map((fake) => fake.close()));
  });

  const setup = async () => {
    const llm = await startFakeOpenAi();
    fakes.push(llm);
    const server = await startListeningServer(tempDir(), { HARKEN_LLM_MODEL: 'voice-model', HARKEN_LLM_BASE_URL: llm.url, HARKEN_LLM_RETRIES: '0', HARKEN_LLM_GREETING: '' });
    servers.push(server);
    const client = await RealtimeClient.connect({ url: server.wsUrl, sampleRate: 16_000, agent: 'assistant', credentials: server.apiKey });
    clients.push(client);
    return { llm, server, client };
  };

  it('starts speaking the first sentence while the model is still generating', async () => {
    const { llm, client } = await setup();
    let release!: () => void;
    let released = false;
    const hold = new Promise<void>((resolve) => {
      release = () => {
        released = true;
        resolve();
      };
    });
    llm.queue.push({ kind: 'stream', text: ['The clinic opens ', 'at nine in the morning. ', 'On Saturdays ', 'it opens at ten.'], holdAfter: 2, hold });
    const mark = client.events.length;
    client.sendJson({ type: 'text', text: 'When do you open?' });

    const audioStart = await client.waitFor('audio_start', { after: mark, timeoutMs: 10_000 });
    // Audio is flowing and the model has not finished: it is held after the first sentence.
    expect(released).toBe(false);
    await expect.poll(() => client.audioFrameTimes.filter((at) => at >= audioStart.atMs).length, { timeout: 3_000 }).toBeGreaterThan(0);
    expect(released).toBe(false);
    release();

    const reply = await client.waitFor('reply', { after: mark, where: (event) => event.final, timeoutMs: 10_000 });
    expect(reply.text).toBe('The clinic opens at nine in the morning. On Saturdays it opens at ten.');
    const deltas = client.events.slice(mark).filter((event) => event.type === 'reply' && !event.final);
    expect(deltas.length).toBeGreaterThanOrEqual(4);
    expect(audioStart.atMs).toBeLessThan(reply.atMs);
    await client.waitFor('audio_end', { after: mark, timeoutMs: 15_000 });
  }, 30_000);

  it('stops generating on barge-in, stores the reply cut to what was heard, and tells the model next turn', async () => {
    const { llm, server, client } = await setup();
    const long = ['I can help with that. ', 'First, let me explain how our appointments work. ', 'We see patients from nine to five on weekdays. ', 'There is more to say.'];
    llm.queue.push({ kind: 'stream', text: long, holdAfter: 3, hold: new Promise(() => undefined) });
    llm.fallback = { kind: 'stream', text: ['Sure, go ahead.'] };
    const mark = client.events.length;
    client.sendJson({ type: 'text', text: 'How do appointments work?' });
    await client.waitFor('audio_start', { after: mark, timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const speech = spoken('my name is jane doe');
    const bargeIn = client.events.length;
    await client.streamAudio(speech.samples);
    const interrupted = await client.waitFor('interrupted', { after: bargeIn, timeoutMs: 10_000 });
    // The model's stream was abandoned at once (the fake saw the client go).
    await llm.requests[0]?.clientGone;
    await client.streamSilence(1_200);
    await client.waitFor('reply', { after: bargeIn, where: (event) => event.final && event.text === 'Sure, go ahead.', timeoutMs: 15_000 });

    const messages = (await server.inject({ method: 'GET', url: `/v1/conversations/${client.sessionReady!.conversationId}` })).json().messages as Array<{ role: string; text: string; interrupted: boolean }>;
    const cut = messages.find((message) => message.role === 'assistant' && message.interrupted);
    expect(cut?.text).toBe(interrupted.playedText);
    expect(cut!.text.length).toBeGreaterThan(5);
    expect(long.join('').startsWith(cut!.text)).toBe(true);
    expect(cut!.text.length).toBeLessThan(long.slice(0, 3).join('').trim().length);

    const next = llm.requests[1]?.body.messages ?? [];
    expect(next.find((message) => message.role === 'assistant')?.content).toBe(`${interrupted.playedText} [the caller interrupted here]`);
  }, 40_000);
});
