import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signLookup } from '../../src/llm/tools/http-lookup.js';
import type { Tool } from '../../src/llm/tools.js';
import type { HarkenExtensions } from '../../src/runtime.js';
import { startFakeOpenAi, type FakeOpenAi } from '../helpers/fake-openai.js';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const SECRET = 'lookup-signing-secret-for-tests-0123456789';

describe('LLM agents over the OpenAI streaming wire format', () => {
  const tempDir = useTempDirs();
  const fakes: FakeOpenAi[] = [];
  const servers: TestServer[] = [];
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
    await Promise.all(fakes.splice(0).map((fake) => fake.close()));
    await Promise.all(closers.splice(0).map((close) => close()));
  });

  const fake = async () => {
    const started = await startFakeOpenAi();
    fakes.push(started);
    return started;
  };
  const start = async (llm: FakeOpenAi, env: Record<string, string> = {}, dataDir = tempDir(), extensions: HarkenExtensions = {}) => {
    const server = await startTestServer(
      dataDir,
      {
      HARKEN_VOICE_ENABLED: 'false',
      HARKEN_LLM_MODEL: 'test-model',
      HARKEN_LLM_BASE_URL: llm.url,
      HARKEN_LLM_API_KEY: 'sk-test-primary-key',
      HARKEN_LLM_RETRIES: '0',
      HARKEN_LLM_GREETING: 'Hi, this is the assistant.',
      ...env,
      },
      undefined,
      extensions,
    );
    servers.push(server);
    return server;
  };
  const converse = async (server: TestServer, texts: string[], agent = 'assistant') => {
    const created = await server.inject({ method: 'POST', url: '/v1/conversations', payload: { agent } });
    const id = created.json().id as string;
    const replies: Array<Record<string, any>> = [];
    for (const text of texts) replies.push((await server.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text } })).json());
    return { id, greeting: created.json().reply?.text as string | undefined, replies };
  };

  it('streams a reply from the model and stores it with the model, time to first token and token usage', async () => {
    const llm = await fake();
    llm.queue.push({ kind: 'stream', text: ['The clinic ', 'opens at nine.'], usage: { prompt: 42, completion: 7 } });
    const server = await start(llm);
    const { id, greeting, replies } = await converse(server, ['When do you open?']);
    expect(greeting).toBe('Hi, this is the assistant.');
    expect(replies[0]?.reply.text).toBe('The clinic opens at nine.');
    const request = llm.requests[0];
    expect(request?.authorization).toBe('Bearer sk-test-primary-key');
    expect(request?.body).toMatchObject({ model: 'test-model', stream: true, stream_options: { include_usage: true }, temperature: 0.7, max_tokens: 300 });
    expect(request?.body.messages.map((message) => message.role)).toEqual(['system', 'assistant', 'user']);
    expect(request?.body.messages[1]?.content).toBe('Hi, this is the assistant.');
    expect(request?.body.tools?.map((tool) => tool.function.name)).toEqual(['end_call']);
    const stored = (await server.inject({ method: 'GET', url: `/v1/conversations/${id}` })).json().messages.at(-1);
    expect(stored.metrics).toMatchObject({ llmModel: `test-model@${new URL(llm.url).host}`, promptTokens: 42, completionTokens: 7 });
    expect(stored.metrics.llmFirstTokenMs).toBeGreaterThanOrEqual(0);
    expect(server.logs.text).not.toContain('sk-test-primary-key');
  });

  it('round-trips a tool call: signed lookup, result fed back, filler while it is slow', async () => {
    const lookups: Array<{ body: string; signature: string }> = [];
    const lookupServer = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        lookups.push({ body, signature: String(request.headers['x-harken-signature']) });
        setTimeout(() => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ appointment: 'Tuesday 3 pm with Dr. Lee' })), 300);
      });
    });
    await new Promise<void>((resolve) => lookupServer.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => lookupServer.close(() => resolve())));
    const llm = await fake();
    llm.queue.push({ kind: 'stream', text: ['Let me check.'], toolCalls: [{ name: 'lookup', arguments: JSON.stringify({ query: 'appointment for Jane Doe' }) }] });
    llm.queue.push({ kind: 'stream', text: ['Your appointment is on Tuesday at 3 pm with Dr. Lee.'] });
    const server = await start(llm, {
      HARKEN_LLM_TOOLS: 'end_call,lookup',
      HARKEN_LLM_LOOKUP_URL: `http://127.0.0.1:${(lookupServer.address() as AddressInfo).port}/lookup`,
      HARKEN_LLM_LOOKUP_SECRET: SECRET,
      HARKEN_LLM_FILLER_AFTER_MS: '100',
    });
    const { id, replies } = await converse(server, ['When is my appointment? I am Jane Doe.']);
    expect(replies[0]?.reply.text).toBe('Let me check. One moment, please. Your appointment is on Tuesday at 3 pm with Dr. Lee.');

    // The lookup was signed over its body with the shared secret.
    expect(lookups).toHaveLength(1);
    const sent = JSON.parse(lookups[0]?.body ?? '{}') as { query: string; conversationId: string };
    expect(sent).toEqual({ query: 'appointment for Jane Doe', conversationId: id });
    const timestamp = Number(/t=(\d+)/.exec(lookups[0]?.signature ?? '')?.[1]);
    expect(lookups[0]?.signature).toBe(signLookup(SECRET, lookups[0]?.body ?? '', timestamp));

    // The second request carries the tool call and its result.
    const followUp = llm.requests[1]?.body.messages ?? [];
    const call = followUp.at(-2);
    expect(call).toMatchObject({ role: 'assistant', content: 'Let me check.', tool_calls: [{ function: { name: 'lookup', arguments: '{"query":"appointment for Jane Doe"}' } }] });
    expect(followUp.at(-1)).toEqual({ role: 'tool', tool_call_id: call?.tool_calls?.[0]?.id, content: '{"appointment":"Tuesday 3 pm with Dr. Lee"}' });
  });

  it('calls a tool registered from code', async () => {
    const calls: Array<{ args: Record<string, unknown>; conversationId: string }> = [];
    const weather: Tool = {
      name: 'weather',
      description: 'Current weather for a city.',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      async run(args, context) {
        calls.push({ args, conversationId: context.conversationId });
        return { content: 'Sunny, 21 degrees.', data: { lastWeatherCity: args.city } };
      },
    };
    const llm = await fake();
    llm.queue.push({ kind: 'stream', toolCalls: [{ name: 'weather', arguments: '{"city":"Lisbon"}' }] }, { kind: 'stream', text: ['It is sunny in Lisbon.'] });
    const server = await start(llm, { HARKEN_LLM_TOOLS: 'weather' }, tempDir(), { tools: [weather] });
    const { id, replies } = await converse(server, ['Weather in Lisbon?']);
    expect(llm.requests[0]?.body.tools).toEqual([{ type: 'function', function: { name: 'weather', description: 'Current weather for a city.', parameters: weather.parameters } }]);
    expect(calls).toEqual([{ args: { city: 'Lisbon' }, conversationId: id }]);
    expect(replies[0]?.reply.text).toBe('It is sunny in Lisbon.');
    expect(replies[0]?.conversation.data).toEqual({ lastWeatherCity: 'Lisbon' });
  });

  it('ends or transfers the call when the model asks to, and tells the model about bad tool calls', async () => {
    const llm = await fake();
    llm.queue.push({ kind: 'stream', toolCalls: [{ name: 'transfer', arguments: '{"destination":"nowhere"}' }] });
    llm.queue.push({ kind: 'stream', toolCalls: [{ name: 'transfer', arguments: '{"destination":"billing"}' }] });
    llm.queue.push({ kind: 'stream', text: ['I am transferring you to billing now.'] });
    const server = await start(llm, { HARKEN_LLM_TOOLS: 'end_call,transfer', HARKEN_LLM_TRANSFER_TARGETS: 'billing=+15550100,front-desk=sip:desk@pbx.example' });
    const transferred = await converse(server, ['I have a question about my bill.']);
    expect(transferred.replies[0]?.conversation).toMatchObject({ status: 'transferred', data: { transferTo: 'billing', transferTarget: '+15550100' } });
    expect(llm.requests[1]?.body.messages.at(-1)?.content).toBe('Unknown destination "nowhere". Choose one of: billing, front-desk.');

    llm.queue.push({ kind: 'stream', text: ['Goodbye!'], toolCalls: [{ name: 'end_call', arguments: '{"reason":"caller said goodbye"}' }] });
    llm.queue.push({ kind: 'stream', text: [' Take care.'] });
    const ended = await converse(server, ['That is all, bye.']);
    expect(ended.replies[0]?.conversation).toMatchObject({ status: 'completed', data: { endReason: 'caller said goodbye' } });
    expect(ended.replies[0]?.reply.text).toBe('Goodbye! Take care.');
    const after = await server.inject({ method: 'POST', url: `/v1/conversations/${ended.id}/messages`, payload: { text: 'hello?' } });
    expect(after.statusCode).toBe(409);

    llm.queue.push({ kind: 'stream', toolCalls: [{ name: 'end_call', arguments: 'not json' }] });
    llm.queue.push({ kind: 'stream', text: ['Sorry about that.'] });
    await converse(server, ['hmm']);
    expect(llm.requests.at(-1)?.body.messages.at(-1)?.content).toBe('The arguments were not a JSON object: not json');
  });

  it('falls back to the second provider, retries a 429, and apologises when every provider fails', async () => {
    const primary = await fake();
    const secondary = await fake();
    const server = await start(primary, { HARKEN_LLM_FALLBACK_MODEL: 'backup-model', HARKEN_LLM_FALLBACK_BASE_URL: secondary.url, HARKEN_LLM_FALLBACK_API_KEY: 'sk-test-fallback', HARKEN_LLM_RETRIES: '1' });

    primary.queue.push({ kind: 'error', status: 500, message: 'upstream exploded' }, { kind: 'error', status: 503, message: 'still down' });
    secondary.queue.push({ kind: 'stream', text: ['Backup here.'] });
    const { id, replies } = await converse(server, ['Hello?']);
    expect(replies[0]?.reply.text).toBe('Backup here.');
    expect(primary.requests).toHaveLength(2);
    expect(secondary.requests[0]?.authorization).toBe('Bearer sk-test-fallback');
    const stored = (await server.inject({ method: 'GET', url: `/v1/conversations/${id}` })).json().messages.at(-1);
    expect(stored.metrics.llmModel).toBe(`backup-model@${new URL(secondary.url).host}`);

    // A 429 with Retry-After is retried on the same provider.
    primary.queue.push({ kind: 'error', status: 429, message: 'Rate limit reached', retryAfter: 0 }, { kind: 'stream', text: ['Primary again.'] });
    expect((await converse(server, ['Again?'])).replies[0]?.reply.text).toBe('Primary again.');

    primary.queue.push({ kind: 'error', status: 500, message: 'down' }, { kind: 'error', status: 500, message: 'down' });
    secondary.queue.push({ kind: 'error', status: 401, message: 'Incorrect API key provided' });
    const failed = await converse(server, ['Anyone there?']);
    expect(failed.replies[0]?.reply.text).toBe("Sorry, I'm having trouble answering right now. Please try again in a moment.");
    expect(failed.replies[0]?.conversation.status).toBe('active');
    expect(server.logs.text).toMatch(/refused our credentials \(401\)/);
    expect(server.logs.text).not.toContain('sk-test-fallback');
  });

  it('treats a stalled provider as failed and a dropped stream as an interrupted answer', async () => {
    const primary = await fake();
    const secondary = await fake();
    const server = await start(primary, { HARKEN_LLM_FALLBACK_MODEL: 'backup-model', HARKEN_LLM_FALLBACK_BASE_URL: secondary.url, HARKEN_LLM_FIRST_TOKEN_TIMEOUT_MS: '500', HARKEN_LLM_IDLE_TIMEOUT_MS: '300' });
    primary.queue.push({ kind: 'stall' });
    secondary.queue.push({ kind: 'stream', text: ['Sorry for the wait.'] });
    expect((await converse(server, ['Hello?'])).replies[0]?.reply.text).toBe('Sorry for the wait.');

    // Text already streamed cannot be taken back: the answer ends with the apology, no provider switch.
    primary.queue.push({ kind: 'stream', text: ['The first part', ' and then', ' more'], dropAfter: 1 });
    const dropped = await converse(server, ['Tell me everything.']);
    expect(dropped.replies[0]?.reply.text).toBe("The first part Sorry, I'm having trouble answering right now. Please try again in a moment.");
    expect(secondary.requests).toHaveLength(1);

    primary.queue.push({ kind: 'stream', text: ['Slow', ' and', ' stuck'], holdAfter: 1, hold: new Promise(() => undefined) });
    const stalledMidway = await converse(server, ['Go on.']);
    expect(stalledMidway.replies[0]?.reply.text).toBe("Slow Sorry, I'm having trouble answering right now. Please try again in a moment.");
  });

  it('remembers across a restart and folds old turns into a summary kept with the conversation', async () => {
    const llm = await fake();
    const dataDir = tempDir();
    const env = { HARKEN_LLM_HISTORY_TOKEN_BUDGET: '200', HARKEN_LLM_GREETING: '' };
    const first = await start(llm, env, dataDir);
    llm.queue.push({ kind: 'stream', text: ['Nice to meet you, Jane.'] });
    const { id } = await converse(first, ['My name is Jane and my dog is called Biscuit.']);
    await first.harken.close();
    servers.pop();

    const second = await start(llm, env, dataDir);
    const send = (text: string) => second.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text } });
    llm.queue.push({ kind: 'stream', text: ['Your name is Jane.'] });
    expect((await send('What is my name?')).json().reply.text).toBe('Your name is Jane.');
    // The history came from the database after the restart.
    expect(llm.requests[1]?.body.messages.slice(1).map((message) => message.content)).toEqual([
      'My name is Jane and my dog is called Biscuit.',
      'Nice to meet you, Jane.',
      'What is my name?',
    ]);

    // A long turn pushes the oldest ones out of the 200-token budget: they are summarised first.
    const long = `Here is a long story about my week. ${'I walked Biscuit in the park and we met many other dogs. '.repeat(10)}`;
    llm.queue.push({ kind: 'stream', text: ['Jane has a dog named Biscuit.'] }, { kind: 'stream', text: ['What a lovely week.'] });
    expect((await send(long)).json().reply.text).toBe('What a lovely week.');
    const summaryRequest = llm.requests[2]?.body;
    expect(summaryRequest?.messages[0]?.content).toMatch(/maintain the memory of a phone conversation/);
    expect(summaryRequest?.messages[1]?.content).toContain('Caller: My name is Jane and my dog is called Biscuit.');
    const answered = llm.requests[3]?.body.messages ?? [];
    expect(answered[0]?.content).toContain('Summary of the conversation so far:\nJane has a dog named Biscuit.');
    expect(answered.map((message) => message.content)).not.toContain('My name is Jane and my dog is called Biscuit.');
    const stored = (await second.inject({ method: 'GET', url: `/v1/conversations/${id}` })).json();
    expect(stored.messages).toHaveLength(6);
    const { default: Database } = await import('better-sqlite3');
    const row = new Database(second.config.store.sqlitePath, { readonly: true }).prepare('select state from conversations where id = ?').get(id) as { state: string };
    expect(JSON.parse(row.state)).toMatchObject({ summary: 'Jane has a dog named Biscuit.', summarizedThrough: expect.any(Number) });
  });

  it('loads LLM agents from agent files, and names what is wrong with a bad one', async () => {
    const llm = await fake();
    const flowsDir = tempDir();
    writeFileSync(
      join(flowsDir, 'receptionist.yaml'),
      'id: receptionist\ntype: llm\ndescription: Front desk\nsystemPrompt: You are the front desk of Oak Clinic.\ngreeting: Oak Clinic, how can I help?\ntemperature: 0.2\ntools: [end_call]\n',
    );
    const server = await start(llm, { HARKEN_AGENTS_FLOWS_DIR: flowsDir });
    llm.queue.push({ kind: 'stream', text: ['We are open until six.'] });
    const { greeting, replies } = await converse(server, ['How late are you open?'], 'receptionist');
    expect(greeting).toBe('Oak Clinic, how can I help?');
    expect(replies[0]?.reply.text).toBe('We are open until six.');
    expect(llm.requests[0]?.body).toMatchObject({ temperature: 0.2, messages: [{ role: 'system', content: 'You are the front desk of Oak Clinic.' }, expect.anything(), expect.anything()] });

    const bad = tempDir();
    writeFileSync(join(bad, 'broken.yaml'), 'id: broken\ntype: llm\nsystemPrompt: x\ntools: [launch_rockets]\ncolour: blue\n');
    await expect(start(llm, { HARKEN_AGENTS_FLOWS_DIR: bad })).rejects.toThrow(/invalid dialogue flow .*broken\.yaml:\n {2}- (\(top level\)|colour).*/);
    writeFileSync(join(bad, 'broken.yaml'), 'id: broken\ntype: llm\nsystemPrompt: x\ntools: [launch_rockets]\n');
    await expect(start(llm, { HARKEN_AGENTS_FLOWS_DIR: bad })).rejects.toThrow(/unknown tool launch_rockets; known: end_call/);
    await expect(startTestServer(tempDir(), { HARKEN_VOICE_ENABLED: 'false', HARKEN_AGENTS_FLOWS_DIR: flowsDir })).rejects.toThrow(/an LLM agent needs a chat model: set llm\.model/);
  });
});
