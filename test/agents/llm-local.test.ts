import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineUnavailableError } from '../../src/engines/engine-errors.js';
import { startFakeOpenAi, type FakeOpenAi } from '../helpers/fake-openai.js';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';
import { writeTinyLlamaGguf } from '../helpers/tiny-gguf.js';
import { longestEventLoopGapDuring } from '../helpers/event-loop.js';

/** A real llama.cpp model (untrained: it answers gibberish), written by the test itself. */
describe('local GGUF models through node-llama-cpp', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  const fakes: FakeOpenAi[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
    await Promise.all(fakes.splice(0).map((fake) => fake.close()));
  });
  const model = () => {
    const path = join(tempDir(), 'tiny.gguf');
    writeTinyLlamaGguf(path);
    return path;
  };
  const reply = async (server: TestServer, text: string) => {
    const created = await server.inject({ method: 'POST', url: '/v1/conversations', payload: { agent: 'assistant' } });
    const id = created.json().id as string;
    const turn = await server.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text } });
    const stored = (await server.inject({ method: 'GET', url: `/v1/conversations/${id}` })).json().messages.at(-1);
    return { status: turn.statusCode, text: turn.json().reply?.text as string, metrics: stored.metrics };
  };

  it('answers with a local model alone, streaming on llama.cpp threads, with token usage', async () => {
    const server = await startTestServer(tempDir(), { HARKEN_VOICE_ENABLED: 'false', HARKEN_LLM_LOCAL_MODEL_PATH: model(), HARKEN_LLM_MAX_TOKENS: '16', HARKEN_LLM_LOCAL_CONTEXT_SIZE: '512' });
    servers.push(server);
    const agents = (await server.inject({ method: 'GET', url: '/v1/agents' })).json().agents as Array<{ name: string; description: string }>;
    expect(agents.find((agent) => agent.name === 'assistant')?.description).toBe('General voice assistant (tiny.gguf@local).');
    // The first request of a route compiles its response schemas (~140 ms, once); measure generation, not that.
    await reply(server, 'Warm up');
    let answer!: Awaited<ReturnType<typeof reply>>;
    const gap = await longestEventLoopGapDuring(async () => {
      answer = await reply(server, 'Hello there');
    });
    expect(gap).toBeLessThan(100);
    expect(answer.status).toBe(200);
    expect(answer.text.length).toBeGreaterThan(0);
    expect(answer.text).not.toContain("Sorry, I'm having trouble");
    expect(answer.metrics).toMatchObject({ llmModel: 'tiny.gguf@local' });
    expect(answer.metrics.completionTokens).toBeGreaterThan(0);
    expect(answer.metrics.completionTokens).toBeLessThanOrEqual(16);
    expect(answer.metrics.promptTokens).toBeGreaterThan(0);
  }, 60_000);

  it('takes over when the remote providers fail', async () => {
    const remote = await startFakeOpenAi();
    fakes.push(remote);
    remote.fallback = { kind: 'error', status: 503, message: 'overloaded' };
    const server = await startTestServer(tempDir(), {
      HARKEN_VOICE_ENABLED: 'false',
      HARKEN_LLM_MODEL: 'remote-model',
      HARKEN_LLM_BASE_URL: remote.url,
      HARKEN_LLM_RETRIES: '0',
      HARKEN_LLM_LOCAL_MODEL_PATH: model(),
      HARKEN_LLM_MAX_TOKENS: '16',
    });
    servers.push(server);
    const answer = await reply(server, 'Are you there?');
    expect(remote.requests.length).toBeGreaterThanOrEqual(1);
    expect(answer.metrics.llmModel).toBe('tiny.gguf@local');
    expect(answer.text).not.toContain("Sorry, I'm having trouble");
  }, 60_000);

  it('names a missing model file and how to fix it', async () => {
    await expect(startTestServer(tempDir(), { HARKEN_VOICE_ENABLED: 'false', HARKEN_LLM_LOCAL_MODEL_PATH: '/nowhere/model.gguf' })).rejects.toThrow(EngineUnavailableError);
    await expect(startTestServer(tempDir(), { HARKEN_VOICE_ENABLED: 'false', HARKEN_LLM_LOCAL_MODEL_PATH: '/nowhere/model.gguf' })).rejects.toThrow('GGUF model file /nowhere/model.gguf does not exist');
  });
});
