import type { InjectOptions } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

describe('conversation API', () => {
  const tempDir = useTempDirs();
  let server: TestServer;
  const inject = (options: InjectOptions) => server.inject(options);

  beforeEach(async () => {
    server = await startTestServer(tempDir(), { HARKEN_CONVERSATIONS_MAX_MESSAGE_CHARS: '200', HARKEN_CONVERSATIONS_MAX_MESSAGES: '6' });
  });
  afterEach(async () => {
    await server.harken.close();
  });

  const start = async (agent?: string) => {
    const response = await inject({ method: 'POST', url: '/v1/conversations', ...(agent ? { payload: { agent } } : {}) });
    expect(response.statusCode).toBe(201);
    return response.json() as { id: string; agent: string; reply: { text: string } | null };
  };

  it('starts a conversation with the default agent, which speaks first', async () => {
    const conversation = await start();
    expect(conversation.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(conversation.agent).toBe('intake');
    expect(conversation.reply?.text).toMatch(/What is your full name\?$/);
  });

  it('answers a message and keeps the whole history in order', async () => {
    const { id } = await start('echo');
    const response = await inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text: 'hello there' } });
    expect(response.statusCode).toBe(200);
    expect(response.json().reply).toMatchObject({ role: 'assistant', text: 'You said: hello there', seq: 3, source: 'text' });
    expect(response.json().reply.metrics.agentLatencyMs).toBeGreaterThanOrEqual(0);

    const history = await inject({ method: 'GET', url: `/v1/conversations/${id}` });
    expect(history.statusCode).toBe(200);
    expect(history.json().messages.map((message: { role: string; text: string }) => [message.role, message.text])).toEqual([
      ['assistant', 'Echo agent ready. Say something and I will repeat it.'],
      ['user', 'hello there'],
      ['assistant', 'You said: hello there'],
    ]);
  });

  it('lists conversations newest first, page by page', async () => {
    const ids = [];
    for (let index = 0; index < 3; index += 1) ids.push((await start('echo')).id);
    const first = await inject({ method: 'GET', url: '/v1/conversations?limit=2' });
    expect(first.statusCode).toBe(200);
    const page1 = first.json();
    expect(page1.conversations).toHaveLength(2);
    const second = await inject({ method: 'GET', url: `/v1/conversations?limit=2&cursor=${page1.nextCursor}` });
    const page2 = second.json();
    expect(page2.nextCursor).toBeNull();
    const seen = [...page1.conversations, ...page2.conversations].map((conversation: { id: string }) => conversation.id);
    expect(new Set(seen)).toEqual(new Set(ids));
  });

  it.each([
    ['missing text', { hello: 'x' }, 'invalid_request', /body.text is required|text/],
    ['text of the wrong type', { text: 42 }, 'invalid_request', /text/],
    ['empty text', { text: '' }, 'invalid_request', /text/],
    ['whitespace only', { text: '   \n ' }, 'empty_message', /whitespace/],
    ['text over the limit', { text: 'x'.repeat(201) }, 'message_too_long', /200 characters/],
    ['an extra field', { text: 'hi', role: 'system' }, 'invalid_request', /role is not allowed/],
  ])('rejects %s with 400', async (_name, payload, code, message) => {
    const { id } = await start('echo');
    const response = await inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: { code, message: expect.stringMatching(message) } });
  });

  it('rejects malformed JSON, a non-JSON body and a body over the size limit', async () => {
    const { id } = await start('echo');
    const url = `/v1/conversations/${id}/messages`;
    const broken = await inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '{"text": "unterminated' });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.code).toBe('invalid_json');
    const form = await inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'text=hi' });
    expect(form.statusCode).toBe(415);
    expect(form.json().error.code).toBe('unsupported_media_type');
    const huge = await inject({ method: 'POST', url, payload: { text: 'x'.repeat(2 * 1024 * 1024) } });
    expect(huge.statusCode).toBe(413);
    expect(huge.json().error.code).toBe('payload_too_large');
  });

  it('returns 404 for an unknown conversation and 400 for a malformed id', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const request of [
      { method: 'GET' as const, url: `/v1/conversations/${unknown}` },
      { method: 'POST' as const, url: `/v1/conversations/${unknown}/messages`, payload: { text: 'hi' } },
    ]) {
      const response = await inject(request);
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({ error: { code: 'not_found', message: 'conversation not found' } });
    }
    const malformed = await inject({ method: 'GET', url: '/v1/conversations/not-a-uuid' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.code).toBe('invalid_request');
  });

  it('rejects an unknown agent and a bad paging cursor', async () => {
    const agent = await inject({ method: 'POST', url: '/v1/conversations', payload: { agent: 'nobody' } });
    expect(agent.statusCode).toBe(400);
    expect(agent.json().error).toEqual({ code: 'unknown_agent', message: 'no agent named "nobody"; available: echo, intake' });
    const cursor = await inject({ method: 'GET', url: '/v1/conversations?cursor=garbage' });
    expect(cursor.statusCode).toBe(400);
    expect(cursor.json().error.code).toBe('invalid_cursor');
  });

  it('refuses new turns once a conversation is full', async () => {
    const { id } = await start('echo');
    const send = () => inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text: 'again' } });
    expect((await send()).statusCode).toBe(200); // 3 messages
    expect((await send()).statusCode).toBe(200); // 5 messages
    const full = await send();
    expect(full.statusCode).toBe(409);
    expect(full.json().error.code).toBe('conversation_full');
  });

  it('keeps concurrent turns of one conversation in order, none lost', async () => {
    const { id } = await start('echo');
    const texts = ['one', 'two'];
    const responses = await Promise.all(texts.map((text) => inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text } })));
    expect(responses.map((response) => response.statusCode)).toEqual([200, 200]);
    const messages = (await inject({ method: 'GET', url: `/v1/conversations/${id}` })).json().messages as Array<{ seq: number; text: string }>;
    expect(messages.map((message) => message.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(messages.filter((message) => texts.includes(message.text)).map((message) => message.text).sort()).toEqual(['one', 'two']);
  });

  it('answers unknown routes and methods with the JSON error shape and a request id', async () => {
    const response = await inject({ method: 'GET', url: '/v1/nothing-here', headers: { 'x-request-id': 'trace-123' } });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: { code: 'not_found', message: 'no route GET /v1/nothing-here' } });
    expect(response.headers['x-request-id']).toBe('trace-123');
    const forged = await inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'bad\nid' } });
    expect(forged.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('survives hostile and odd input without a 5xx and keeps serving', async () => {
    const { id } = await start('echo');
    const url = `/v1/conversations/${id}/messages`;
    const bodies: Array<{ payload: string; type?: string }> = [
      { payload: '{"text": "\u0000\u202e\ud83d\ude00 zero-width\u200b"}' },
      { payload: '{"__proto__": {"polluted": true}, "text": "x"}' },
      { payload: '{"constructor": {"prototype": {"polluted": true}}}' },
      { payload: '[' .repeat(5000) + ']'.repeat(5000) },
      { payload: '{"text": ["a", "b"]}' },
      { payload: '{"text": null}' },
      { payload: '"just a string"' },
      { payload: 'null' },
      { payload: '{"text": "x"}', type: 'application/json; charset=latin1' },
      { payload: '\xff\xfe garbage', type: 'application/octet-stream' },
      { payload: '', type: 'application/json' },
    ];
    for (const body of bodies) {
      const response = await inject({ method: 'POST', url, headers: { 'content-type': body.type ?? 'application/json' }, payload: body.payload });
      expect(response.statusCode, body.payload.slice(0, 40)).toBeLessThan(500);
      expect(response.json().error ?? response.json().reply, body.payload.slice(0, 40)).toBeDefined();
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    for (const path of ['/v1/conversations/%00', '/v1/conversations/..%2F..%2Fetc', `/v1/conversations/${'a'.repeat(5000)}`, '/v1/conversations?limit=-1', '/v1/conversations?limit=abc']) {
      const response = await inject({ method: 'GET', url: path });
      expect(response.statusCode, path).toBeGreaterThanOrEqual(400);
      expect(response.statusCode, path).toBeLessThan(500);
    }
    expect((await inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
  });

  it('never logs what the caller said', async () => {
    const { id } = await start('echo');
    await inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text: 'my secret diagnosis zebra' } });
    expect(server.logs.lines.length).toBeGreaterThan(0);
    expect(server.logs.text).not.toContain('zebra');
  });

  it('filters the list by agent, status, creation time and text (its % and _ taken literally)', async () => {
    const sure = await start('echo');
    await inject({ method: 'POST', url: `/v1/conversations/${sure.id}/messages`, payload: { text: 'I am 100% sure' } });
    const other = await start('echo');
    await inject({ method: 'POST', url: `/v1/conversations/${other.id}/messages`, payload: { text: 'one hundred, not sure_ly' } });
    const intake = await start('intake');
    const ids = async (query: string) => ((await inject({ method: 'GET', url: `/v1/conversations?${query}` })).json() as { conversations: Array<{ id: string }> }).conversations.map((item) => item.id).sort();
    expect(await ids('agent=echo')).toEqual([sure.id, other.id].sort());
    expect(await ids('agent=intake&status=active')).toEqual([intake.id]);
    expect(await ids('status=completed')).toEqual([]);
    expect(await ids('q=100%25')).toEqual([sure.id]);
    expect(await ids('q=SURE')).toEqual([sure.id, other.id].sort());
    expect(await ids('q=sure_')).toEqual([other.id]);
    expect(await ids('q=1_0')).toEqual([]);
    expect(await ids(`from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
    expect(await ids(`to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}&agent=intake`)).toEqual([intake.id]);
    expect((await inject({ method: 'GET', url: '/v1/conversations?from=yesterday' })).statusCode).toBe(400);
    // A leap second passes the date-time format but is no instant: 400 naming it, not a 500.
    const leap = await inject({ method: 'GET', url: '/v1/conversations?from=2016-12-31T23:59:60Z' });
    expect(leap.statusCode).toBe(400);
    expect(leap.json().error.message).toMatch(/querystring\.from/);
  });

  it('exports a conversation as CSV a spreadsheet cannot be tricked by, and as JSON, audited', async () => {
    const { id } = await start('echo');
    await inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text: '=HYPERLINK("http://x.example","click"), then "quotes"' } });
    const csv = await inject({ method: 'GET', url: `/v1/conversations/${id}/export?format=csv` });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toBe(`attachment; filename="conversation-${id}.csv"`);
    const lines = csv.body.trimEnd().split('\r\n');
    expect(lines[0]).toBe('seq,created_at,role,source,interrupted,text,stt_latency_ms,agent_latency_ms,tts_first_audio_ms,voice_to_voice_ms,llm_model,prompt_tokens,completion_tokens');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/^2,[^,]+,user,text,false,"'=HYPERLINK\(""http:\/\/x\.example"",""click""\), then ""quotes""",/);
    expect(lines[3]).toMatch(/^3,[^,]+,assistant,text,false,"You said: =HYPERLINK/);
    const json = await inject({ method: 'GET', url: `/v1/conversations/${id}/export` });
    expect(json.headers['content-disposition']).toBe(`attachment; filename="conversation-${id}.json"`);
    expect(JSON.parse(json.body)).toMatchObject({ id, agent: 'echo', messages: [{ seq: 1 }, { seq: 2, role: 'user' }, { seq: 3, role: 'assistant' }] });
    const audit = (await inject({ method: 'GET', url: '/v1/admin/audit?action=conversation.exported' })).json() as { events: Array<{ target: string; details: { format: string } }> };
    expect(audit.events.map((event) => [event.target, event.details.format])).toEqual([
      [`conversation:${id}`, 'json'],
      [`conversation:${id}`, 'csv'],
    ]);
    expect((await inject({ method: 'GET', url: `/v1/conversations/${id}/export?format=xml` })).statusCode).toBe(400);
  });
});
