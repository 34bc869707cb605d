import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { int16ToBytes } from '../../src/audio/pcm.js';
import type { FakeOpenAi } from '../helpers/fake-openai.js';
import type { TestServer } from '../helpers/harness.js';
import { expectStrictOrder, startWssLlmServer, to24k, type RealtimeEvent } from '../helpers/openai-realtime.js';
import { recording, referenceTranscript, silence } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

/** The official SDK's realtime client over wss, with everything it receives kept in order. */
class SdkSession {
  readonly events: RealtimeEvent[] = [];
  private constructor(readonly rt: OpenAIRealtimeWS) {
    rt.on('event', (event) => this.events.push(event as unknown as RealtimeEvent));
    // Error events are kept in `events`; the SDK would throw without a listener.
    rt.on('error', () => undefined);
  }

  static async open(client: OpenAI, ca: string, model = 'gpt-realtime'): Promise<SdkSession> {
    const session = new SdkSession(new OpenAIRealtimeWS({ model, options: { ca } }, client));
    await new Promise<void>((resolve, reject) => {
      session.rt.socket.once('open', () => resolve());
      session.rt.socket.once('error', reject);
    });
    return session;
  }

  send(event: Record<string, unknown>): void {
    this.rt.send(event as never);
  }

  async waitFor(type: string, options: { after?: number; where?: (event: RealtimeEvent) => boolean; timeoutMs?: number } = {}): Promise<RealtimeEvent> {
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    for (;;) {
      const found = this.events.slice(options.after ?? 0).find((event) => event.type === type && (options.where?.(event) ?? true));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${type} within the time; got ${this.events.slice(options.after ?? 0).map((event) => event.type).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Appends 16 kHz speech as 24 kHz pcm16 in 100 ms events, as OpenAI's clients do. */
  appendSpeech(samples: Int16Array): void {
    const pcm = int16ToBytes(to24k(samples));
    for (let offset = 0; offset < pcm.length; offset += 4_800) this.send({ type: 'input_audio_buffer.append', audio: pcm.subarray(offset, offset + 4_800).toString('base64') });
  }

  of(type: string, after = 0): RealtimeEvent[] {
    return this.events.slice(after).filter((event) => event.type === type);
  }

  close(): void {
    this.rt.close();
  }
}

describe('OpenAI Realtime protocol on /v1/realtime, driven by the official openai SDK over wss', () => {
  const tempDir = useTempDirs();
  let server: TestServer & { url: string };
  let llm: FakeOpenAi;
  let client: OpenAI;
  let ca: string;
  const sessions: SdkSession[] = [];

  beforeAll(async () => {
    ({ server, llm, ca } = await startWssLlmServer(tempDir()));
    expect(server.url).toMatch(/^https:/);
    const key = await server.createKey(['realtime']);
    client = new OpenAI({ apiKey: key, baseURL: `${server.url}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    for (const session of sessions) session.close();
    await server.harken.close();
    await llm.close();
  });

  const open = async (model?: string) => {
    const session = await SdkSession.open(client, ca, model);
    sessions.push(session);
    await session.waitFor('session.created');
    return session;
  };

  it('hears a real recording with server VAD, transcribes it, and answers in streamed audio and transcript deltas (GA events)', async () => {
    const session = await open();
    const created = await session.waitFor('session.created');
    expect(created.session).toMatchObject({ type: 'realtime', audio: { input: { format: { type: 'audio/pcm', rate: 24_000 }, turn_detection: { type: 'server_vad' } } } });
    llm.queue.push({ kind: 'stream', text: ['You said ', 'go forward. ', 'Moving ahead now.'] });
    session.send({
      type: 'session.update',
      session: {
        type: 'realtime',
        instructions: 'You are a terse robot.',
        audio: { input: { format: { type: 'audio/pcm', rate: 24_000 }, transcription: { model: 'whisper-1' }, turn_detection: { type: 'server_vad', silence_duration_ms: 500 } }, output: { voice: 'alloy' } },
      },
    });
    const updated = await session.waitFor('session.updated');
    expect(updated.session).toMatchObject({ instructions: 'You are a terse robot.', audio: { input: { transcription: { model: 'whisper-1' }, turn_detection: { silence_duration_ms: 500 } } } });

    session.appendSpeech(recording('goforward.wav').samples);
    session.appendSpeech(silence(1_500));

    const transcribed = await session.waitFor('conversation.item.input_audio_transcription.completed');
    expect(transcribed.transcript).toBe(referenceTranscript('goforward.wav'));
    const done = await session.waitFor('response.done', { timeoutMs: 20_000 });
    expect(done.response).toMatchObject({ status: 'completed', output: [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_audio', transcript: 'You said go forward. Moving ahead now.' }] }] });

    const started = session.of('input_audio_buffer.speech_started');
    const stopped = session.of('input_audio_buffer.speech_stopped');
    expect(started).toHaveLength(1);
    expect(stopped[0]?.audio_end_ms as number).toBeGreaterThan(started[0]?.audio_start_ms as number);
    expect(session.of('input_audio_buffer.committed')[0]?.item_id).toBe(started[0]?.item_id);
    const deltas = session.of('response.output_audio_transcript.delta').map((event) => event.delta).join('');
    expect(deltas).toBe('You said go forward. Moving ahead now.');
    // Real audio: 24 kHz pcm16 covering the sentence (flite speaks ~2 words a second or slower).
    const audio = Buffer.concat(session.of('response.output_audio.delta').map((event) => Buffer.from(event.delta as string, 'base64')));
    expect(audio.length / 2 / 24_000).toBeGreaterThan(1.5);
    // The model was asked with the client's instructions and the caller's words.
    const request = llm.requests.at(-1)?.body;
    expect(request?.messages[0]).toMatchObject({ role: 'system', content: 'You are a terse robot.' });
    expect(request?.messages.at(-1)).toMatchObject({ role: 'user', content: referenceTranscript('goforward.wav') });
    expect(session.events.some((event) => event.type === 'error')).toBe(false);
    expectStrictOrder(session.events);
  }, 40_000);

  it('round-trips a function call: the call goes to the client, its output comes back, and the model answers from it', async () => {
    const session = await open();
    session.send({
      type: 'session.update',
      session: {
        type: 'realtime',
        output_modalities: ['audio'],
        tools: [{ type: 'function', name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }],
      },
    });
    await session.waitFor('session.updated');
    llm.queue.push({ kind: 'stream', toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}' }] });
    const mark = session.events.length;
    session.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is the weather in Paris?' }] } });
    session.send({ type: 'response.create' });

    const args = await session.waitFor('response.function_call_arguments.done', { after: mark });
    expect(args).toMatchObject({ name: 'get_weather', arguments: '{"city":"Paris"}' });
    const first = await session.waitFor('response.done', { after: mark });
    expect(first.response).toMatchObject({ status: 'completed', output: [{ type: 'function_call', name: 'get_weather', call_id: args.call_id, arguments: '{"city":"Paris"}' }] });
    // The model saw the client's function offered.
    expect(llm.requests.at(-1)?.body.tools?.map((tool) => tool.function.name)).toContain('get_weather');

    llm.queue.push({ kind: 'stream', text: ['It is sunny in Paris.'] });
    const second = session.events.length;
    session.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: args.call_id, output: '{"sky":"sunny"}' } });
    session.send({ type: 'response.create' });
    const done = await session.waitFor('response.done', { after: second, timeoutMs: 20_000 });
    expect(done.response).toMatchObject({ status: 'completed', output: [{ type: 'message', content: [{ transcript: 'It is sunny in Paris.' }] }] });
    const messages = llm.requests.at(-1)?.body.messages ?? [];
    const call = messages.find((message) => message.tool_calls?.length);
    expect(call?.tool_calls?.[0]).toMatchObject({ id: args.call_id, function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    expect(messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: args.call_id, content: '{"sky":"sunny"}' });
    expect(session.events.some((event) => event.type === 'error')).toBe(false);
    expectStrictOrder(session.events);
  }, 40_000);

  it('cancels a response on response.cancel and clamps a truncate past the audio; the stored reply is what was heard', async () => {
    const session = await open();
    session.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: null } } } });
    await session.waitFor('session.updated');
    const long = 'I can explain how the appointments work in some detail. We see patients from nine to five on weekdays. On Saturdays we open at ten and close at two. There is more to say after that.';
    llm.queue.push({ kind: 'stream', text: [long] });
    session.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'How do appointments work?' }] } });
    session.send({ type: 'response.create' });
    await session.waitFor('response.output_audio.delta');
    await new Promise((resolve) => setTimeout(resolve, 800));
    session.send({ type: 'response.cancel' });
    const done = await session.waitFor('response.done');
    expect(done.response).toMatchObject({ status: 'cancelled', status_details: { type: 'cancelled', reason: 'client_cancelled' } });
    const itemId = (done.response as { output: Array<{ id: string }> }).output[0]?.id as string;
    const sentMs = (Buffer.concat(session.of('response.output_audio.delta').map((event) => Buffer.from(event.delta as string, 'base64'))).length / 2 / 24_000) * 1000;

    session.send({ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: 600_000 });
    const truncated = await session.waitFor('conversation.item.truncated');
    expect(truncated.audio_end_ms as number).toBeLessThanOrEqual(Math.ceil(sentMs));
    expect(truncated.audio_end_ms as number).toBeGreaterThan(0);
    // A cancel with nothing in progress is an error event, not a closed connection.
    session.send({ type: 'response.cancel', event_id: 'evt_late_cancel' });
    const refused = await session.waitFor('error');
    expect(refused.error).toMatchObject({ code: 'response_cancel_not_active', event_id: 'evt_late_cancel' });

    const conversationId = (await server.inject({ method: 'GET', url: '/v1/conversations?limit=10' })).json().conversations[0]?.id as string;
    const stored = (await server.inject({ method: 'GET', url: `/v1/conversations/${conversationId}` })).json().messages as Array<{ id: string; role: string; text: string; interrupted: boolean }>;
    const reply = stored.find((message) => message.id === itemId);
    expect(reply?.interrupted).toBe(true);
    expect(long.startsWith(reply?.text ?? 'x')).toBe(true);
    expect(reply?.text.length).toBeLessThan(long.length);
    expectStrictOrder(session.events);
  }, 40_000);
});
