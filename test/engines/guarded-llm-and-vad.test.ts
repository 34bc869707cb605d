import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAi, type FakeOpenAi } from '../helpers/fake-openai.js';
import { startTestServer, voiceTestEnv, type TestServer } from '../helpers/harness.js';
import { spoken } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const FAILURE_PHRASE = 'Sorry, the assistant cannot answer right now.';

describe('the LLM chain and the voice detector behind the engine guard', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  const fakes: FakeOpenAi[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
    await Promise.all(fakes.splice(0).map((fake) => fake.close()));
  });

  const start = async (env: Record<string, string>) => {
    const llm = await startFakeOpenAi();
    fakes.push(llm);
    const server = await startTestServer(tempDir(), {
      ...voiceTestEnv(),
      HARKEN_LLM_MODEL: 'test-model',
      HARKEN_LLM_BASE_URL: llm.url,
      HARKEN_LLM_RETRIES: '0',
      HARKEN_LLM_GREETING: '',
      HARKEN_LLM_FAILURE_PHRASE: FAILURE_PHRASE,
      ...env,
    });
    servers.push(server);
    const conversation = async () => (await server.inject({ method: 'POST', url: '/v1/conversations', payload: { agent: 'assistant' } })).json().id as string;
    const say = (id: string, text: string) => server.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text } });
    const stage = async (name: string) => (await server.inject({ method: 'GET', url: '/v1/admin/engines' })).json().stages[name];
    return { llm, server, conversation, say, stage };
  };

  it('cancels a reply that outlives llm.replyTimeoutMs (the HTTP request is dropped) and answers with the failure phrase', async () => {
    const { llm, conversation, say, stage } = await start({ HARKEN_LLM_REPLY_TIMEOUT_MS: '1000', HARKEN_LLM_FIRST_TOKEN_TIMEOUT_MS: '30000', HARKEN_LLM_IDLE_TIMEOUT_MS: '30000' });
    llm.queue.push({ kind: 'stall' });
    const id = await conversation();
    const started = Date.now();
    const answer = await say(id, 'Hello?');
    expect(answer.statusCode).toBe(200);
    expect(answer.json().reply.text).toBe(FAILURE_PHRASE);
    expect(Date.now() - started).toBeLessThan(10_000);
    // The provider's connection was closed by us: the work stopped, not just the wait.
    await llm.requests[0]!.clientGone;
    expect(await stage('llm.reply')).toMatchObject({ engine: `test-model@${new URL(llm.url).host}`, timeouts: 1 });
  }, 30_000);

  it('runs at most llm.maxConcurrent replies per provider; with the queue full the next reply fails over at once', async () => {
    const { llm, conversation, say, stage } = await start({ HARKEN_LLM_MAX_CONCURRENT: '1', HARKEN_LLM_MAX_QUEUED: '0' });
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    llm.queue.push({ kind: 'stream', text: ['First ', 'answer.'], holdAfter: 1, hold });
    const [first, second] = [await conversation(), await conversation()];
    const slow = say(first, 'Question one?');
    await expect.poll(() => llm.requests.length).toBe(1);

    const refused = await say(second, 'Question two?');
    expect(refused.json().reply.text).toBe(FAILURE_PHRASE);
    // The second never reached the provider.
    expect(llm.requests).toHaveLength(1);
    expect(await stage('llm.reply')).toMatchObject({ busy: 1 });

    release();
    expect((await slow).json().reply.text).toBe('First answer.');
    expect(await stage('llm.reply')).toMatchObject({ calls: 1, failures: 0, busy: 1 });
  }, 30_000);

  it('measures every voice detector frame in the engine metrics, with a latency histogram', async () => {
    const { server, stage } = await start({});
    const vad = server.harken.voice!.engines.vad;
    const stream = vad.createStream();
    const speech = spoken('one two three').samples;
    let frames = 0;
    for (let offset = 0; offset < speech.length; offset += 320, frames += 1) stream.push(speech.subarray(offset, offset + 320));
    stream.close();
    const view = await stage('vad.push');
    expect(view).toMatchObject({ engine: 'silero', calls: frames, failures: 0, timeouts: 0 });
    expect((view.buckets as number[]).reduce((sum, count) => sum + count, 0)).toBe(frames);
    expect(view.p95Ms).toBeLessThan(25);
    expect(() => vad.check()).not.toThrow();
  }, 30_000);
});
