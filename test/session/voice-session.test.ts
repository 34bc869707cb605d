import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agents/agent.js';
import type { AudioFormat } from '../../src/audio/audio-format.js';
import { resample } from '../../src/audio/resample.js';
import { ConversationService } from '../../src/conversations/service.js';
import type { SessionEvent } from '../../src/session/events.js';
import { VoiceSession, type VoiceSessionOptions } from '../../src/session/voice-session.js';
import { ConversationRepository } from '../../src/store/conversations.js';
import { startFakeOpenAi, type FakeOpenAi } from '../helpers/fake-openai.js';
import { startTestServer, voiceTestEnv, type TestServer } from '../helpers/harness.js';
import { silence, spoken } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';
import { TestSink, TestTransport } from '../helpers/test-transport.js';

const FIRST = 'The first sentence is short.';
const SECOND = 'The second sentence is quite a bit longer than the first one was.';
const THIRD = 'And the third sentence brings this reply to its end.';

/** Always answers with the same three sentences; speaks no greeting. */
const threeSentences: Agent = {
  name: 'three-sentences',
  description: 'test agent',
  async *begin(context) {
    yield { type: 'done', state: context.state, data: context.data, status: 'active' };
  },
  async *respond(context) {
    yield { type: 'text', text: `${FIRST} ${SECOND} ` };
    yield { type: 'text', text: THIRD };
    yield { type: 'done', state: context.state, data: context.data, status: 'active' };
  },
};

const PCM_16K: AudioFormat = { sampleRate: 16_000, encoding: 'pcm_s16le' };

/** ITU-T G.711 decoding, written out here so the test does not trust the encoder's own library. */
const decodeMulaw = (byte: number): number => {
  const u = ~byte & 0xff;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4)) - 0x84;
  return u & 0x80 ? -magnitude : magnitude;
};
const decodeAlaw = (byte: number): number => {
  const a = byte ^ 0x55;
  const exponent = (a & 0x70) >> 4;
  let magnitude = (a & 0x0f) << 4;
  magnitude = exponent === 0 ? magnitude + 8 : (magnitude + 0x108) << (exponent - 1);
  return a & 0x80 ? magnitude : -magnitude;
};

const snrDb = (reference: Int16Array, decoded: Int16Array): number => {
  let signal = 0;
  let noise = 0;
  for (let index = 0; index < reference.length; index += 1) {
    const value = reference[index] as number;
    signal += value * value;
    noise += (value - (decoded[index] ?? 0)) ** 2;
  }
  return 10 * Math.log10(signal / Math.max(noise, 1));
};

/** Feeds audio the way a transport does: 20 ms frames, as fast as the session takes them. */
const pushSpeech = (session: VoiceSession, samples: Int16Array, sampleRate = 16_000): void => {
  const frame = (sampleRate * 20) / 1000;
  for (let offset = 0; offset < samples.length; offset += frame) session.pushAudio(samples.subarray(offset, offset + frame));
};

describe('the voice session through a test transport', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  const sessions: VoiceSession[] = [];
  const fakes: FakeOpenAi[] = [];
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((session) => session.close()));
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
    await Promise.all(fakes.splice(0).map((fake) => fake.close()));
  });

  const setup = async (env: Record<string, string> = {}) => {
    const server = await startTestServer(tempDir(), { ...voiceTestEnv(), ...env });
    servers.push(server);
    server.harken.agents.register(threeSentences);
    const repository = new ConversationRepository(server.harken.database.kysely);
    const conversations = new ConversationService(repository, server.harken.agents, server.config.conversations);
    const open = async (sink: TestSink, options: Partial<VoiceSessionOptions> = {}) => {
      const transport = new TestTransport(sink);
      const session = new VoiceSession(
        conversations,
        server.harken.voice!.engines,
        transport,
        { endOfTurnSilenceMs: server.config.voice.endOfTurnSilenceMs, bargeInMinSpeechMs: 300, audioLeadMs: 200 },
        { inputSampleRate: 16_000, agent: 'three-sentences', tenant: 'default', scope: { tenant: 'default' }, ...options },
        server.harken.app.log as never,
      );
      sessions.push(session);
      await session.start();
      return { session, transport };
    };
    return { server, repository, open };
  };

  const writtenMs = (sink: TestSink, replyId: string) => sink.chunks.filter((chunk) => chunk.replyId === replyId).reduce((sum, chunk) => sum + chunk.durationMs, 0);

  it('on barge-in clears the sink and stores exactly the text the listener acknowledged', async () => {
    const { repository, open } = await setup();
    const sink = new TestSink(PCM_16K, 'manual');
    const { session, transport } = await open(sink);
    expect(session.submitText('Tell me something.')).toBe(true);
    const started = await transport.waitFor('reply_started');
    const first = await transport.waitFor('reply_segment', (event) => event.replyId === started.replyId);
    expect(first.text).toBe(FIRST);
    // The listener hears the first sentence to its last sample, and no more.
    sink.ack(first.startMs + first.durationMs);
    await expect.poll(() => writtenMs(sink, started.replyId), { timeout: 10_000 }).toBeGreaterThan(first.durationMs);

    pushSpeech(session, spoken('wait a moment please, I have a question').samples);
    const interrupted = await transport.waitFor('reply_interrupted');
    expect(interrupted.replyId).toBe(started.replyId);
    expect(interrupted.playedText).toBe(FIRST);
    expect(sink.clears).toBe(1);
    const done = await transport.waitFor('reply_done', (event) => event.replyId === started.replyId);
    expect(done).toMatchObject({ status: 'interrupted', text: FIRST, playedMs: first.durationMs });

    const conversation = transport.ofType('session_ready')[0]!.conversationId;
    const stored = (await repository.messages(conversation)).find((message) => message.id === started.replyId);
    expect(stored).toMatchObject({ role: 'assistant', text: FIRST, interrupted: true });
  }, 60_000);

  it('gives a μ-law or A-law 8 kHz sink correctly encoded audio in 20 ms frames', async () => {
    const { server, open } = await setup();
    for (const [encoding, decode] of [['mulaw', decodeMulaw], ['alaw', decodeAlaw]] as const) {
      const sink = new TestSink({ sampleRate: 8_000, encoding }, 'instant', 20);
      const { transport } = await open(sink);
      const ready = transport.ofType('session_ready')[0]!;
      expect(ready.output).toEqual({ sampleRate: 8_000, encoding });
      (sessions.at(-1) as VoiceSession).submitText('Go on.');
      const done = await transport.waitFor('reply_done');
      expect(done.status).toBe('completed');
      const audioStarted = transport.ofType('reply_audio_started')[0]!;
      expect(audioStarted.format).toEqual({ sampleRate: 8_000, encoding });

      // One byte per sample at 8 kHz: 160 bytes per 20 ms frame (a sentence's last frame may be shorter).
      const chunks = sink.chunks.filter((chunk) => chunk.replyId === done.replyId);
      expect(chunks.filter((chunk) => chunk.bytes.length !== 160).length).toBeLessThanOrEqual(3);
      for (const chunk of chunks) expect(chunk.durationMs).toBeCloseTo(chunk.bytes.length / 8, 6);

      // Decoded, it is the synthesised speech itself (G.711 keeps ~35 dB SNR on speech).
      const bytes = sink.bytesOf(done.replyId);
      const decoded = Int16Array.from(bytes, decode);
      const tts = server.harken.voice!.engines.tts;
      const reference = Int16Array.from(
        (await Promise.all([FIRST, SECOND, THIRD].map(async (text) => resample(await tts.synthesize(text), 8_000).samples))).flatMap((samples) => [...samples]),
      );
      expect(decoded.length).toBe(reference.length);
      expect(snrDb(reference, decoded)).toBeGreaterThan(25);
    }
  }, 60_000);

  it('manual turns: commit → createResponse → cancel → truncate (a too-large audioEndMs is clamped), with stored ids equal to the announced ones', async () => {
    const { repository, open } = await setup();
    const sink = new TestSink(PCM_16K, 'manual');
    const { session, transport } = await open(sink, { turnDetection: 'manual' });
    const conversation = transport.ofType('session_ready')[0]!.conversationId;

    expect(session.commitInput()).toBeUndefined();
    expect(transport.ofType('error').at(-1)).toMatchObject({ code: 'input_empty' });
    session.createResponse();
    expect(transport.ofType('error').at(-1)).toMatchObject({ code: 'no_input' });

    pushSpeech(session, spoken('please tell me about the clinic').samples);
    pushSpeech(session, silence(2_000));
    // Manual mode: a pause is not the end of a turn.
    expect(transport.ofType('input_speech_stopped')).toHaveLength(0);
    expect(transport.ofType('reply_started')).toHaveLength(0);
    const itemId = session.commitInput() as string;
    const committed = await transport.waitFor('input_committed');
    expect(committed.itemId).toBe(itemId);
    expect(committed.text).toContain('clinic');

    session.createResponse();
    const started = await transport.waitFor('reply_started');
    const first = await transport.waitFor('reply_segment', (event) => event.replyId === started.replyId);
    const second = await transport.waitFor('reply_segment', (event) => event.replyId === started.replyId && event.text === SECOND);
    // The listener is halfway through the second sentence when the client cancels.
    const heardMs = second.startMs + second.durationMs / 2;
    sink.ack(heardMs);
    await expect.poll(() => writtenMs(sink, started.replyId), { timeout: 10_000 }).toBeGreaterThan(heardMs);
    session.cancelResponse();
    const done = await transport.waitFor('reply_done', (event) => event.replyId === started.replyId);
    expect(done.status).toBe('cancelled');
    expect(done.playedMs).toBeCloseTo(heardMs, 6);
    const secondWords = SECOND.split(' ');
    const heardOfSecond = done.text.slice(FIRST.length + 1).split(' ');
    expect(done.text.startsWith(`${FIRST} `)).toBe(true);
    expect(heardOfSecond.length).toBeGreaterThan(2);
    expect(heardOfSecond.length).toBeLessThan(secondWords.length);
    expect(secondWords.slice(0, heardOfSecond.length)).toEqual(heardOfSecond);

    const messages = async () => repository.messages(conversation);
    expect((await messages()).map((message) => [message.id, message.role, message.text])).toEqual([
      [itemId, 'user', committed.text],
      [started.replyId, 'assistant', done.text],
    ]);

    // Back to the end of the first sentence: exactly that sentence is kept.
    session.truncate(started.replyId, first.startMs + first.durationMs);
    await transport.waitFor('reply_truncated', (event) => event.text === FIRST);
    expect((await messages())[1]).toMatchObject({ text: FIRST, interrupted: true });

    // Far beyond the end: clamped to the audio actually sent, never an error.
    session.truncate(started.replyId, 10_000_000);
    const clamped = await transport.waitFor('reply_truncated', (event) => event.text !== FIRST);
    expect(clamped.audioEndMs).toBeCloseTo(writtenMs(sink, started.replyId), 6);
    expect(clamped.text.startsWith(done.text)).toBe(true);
    expect((await messages())[1]!.text).toBe(clamped.text);

    session.truncate('no-such-reply', 100);
    await transport.waitFor('error', (event) => event.code === 'unknown_reply');
    session.clearInput();
    expect(transport.ofType('input_cleared')).toHaveLength(1);
    expect(transport.endedWith).toBeUndefined();
  }, 60_000);

  it('manual turns: inputs committed one by one keep their own announced ids, and the agent answers after the last', async () => {
    const { repository, open } = await setup();
    const { session, transport } = await open(new TestSink(PCM_16K, 'instant'), { turnDetection: 'manual' });
    const conversation = transport.ofType('session_ready')[0]!.conversationId;
    pushSpeech(session, spoken('my name is john').samples);
    const firstItem = session.commitInput() as string;
    pushSpeech(session, spoken('please call me back tomorrow').samples);
    const secondItem = session.commitInput() as string;
    session.createResponse();
    const done = await transport.waitFor('reply_done');
    const committed = transport.ofType('input_committed');
    expect(committed.map((event) => event.itemId)).toEqual([firstItem, secondItem]);
    expect((await repository.messages(conversation)).map((message) => [message.id, message.role, message.text])).toEqual([
      [firstItem, 'user', committed[0]!.text],
      [secondItem, 'user', committed[1]!.text],
      [done.replyId, 'assistant', `${FIRST} ${SECOND} ${THIRD}`],
    ]);
  }, 60_000);

  it('stores the caller’s last words when they hang up right after speaking', async () => {
    const { repository, open } = await setup();
    const sink = new TestSink(PCM_16K, 'instant');
    const { session, transport } = await open(sink);
    const conversation = transport.ofType('session_ready')[0]!.conversationId;
    pushSpeech(session, silence(300));
    pushSpeech(session, spoken('yes I agree to all of that').samples);
    pushSpeech(session, silence(100)); // hung up before the end-of-turn pause
    const speaking = await transport.waitFor('input_speech_started');
    expect(transport.ofType('input_speech_stopped')).toHaveLength(0);

    await session.close();
    const messages = await repository.messages(conversation);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ id: speaking.itemId, role: 'user', source: 'voice' });
    expect(messages[0]!.text).toMatch(/\byes\b/);
    expect(transport.ofType('reply_started')).toHaveLength(0);
  }, 60_000);

  it('stores a reply being played at hang-up as interrupted at the acknowledged position', async () => {
    const { repository, open } = await setup();
    const sink = new TestSink(PCM_16K, 'manual');
    const { session, transport } = await open(sink);
    const conversation = transport.ofType('session_ready')[0]!.conversationId;
    session.submitText('Tell me everything.');
    const started = await transport.waitFor('reply_started');
    const first = await transport.waitFor('reply_segment', (event) => event.replyId === started.replyId);
    sink.ack(first.startMs + first.durationMs);
    await expect.poll(() => writtenMs(sink, started.replyId), { timeout: 10_000 }).toBeGreaterThan(first.durationMs);

    await session.close();
    const messages = await repository.messages(conversation);
    expect(messages.map((message) => [message.role, message.text, message.interrupted])).toEqual([
      ['user', 'Tell me everything.', false],
      ['assistant', FIRST, true],
    ]);
  }, 60_000);

  it('drain: a turn under way is answered and played to its end; text and speech after the signal are stored unanswered', async () => {
    const { repository, open } = await setup();
    const sink = new TestSink(PCM_16K, 'instant');
    const { session, transport } = await open(sink);
    const conversation = transport.ofType('session_ready')[0]!.conversationId;
    session.submitText('Tell me everything.');
    const draining = session.drain(10_000);
    expect(transport.ofType('shutting_down')).toEqual([{ type: 'shutting_down', deadlineMs: 10_000 }]);
    session.submitText('And one more thing.');
    pushSpeech(session, silence(300));
    pushSpeech(session, spoken('yes I agree to all of that').samples);
    pushSpeech(session, silence(1_000)); // a whole turn, ended by the pause, during the drain
    await transport.waitFor('input_speech_stopped');
    await draining;
    await session.close();
    const done = transport.ofType('reply_done');
    expect(done.map((event) => event.status)).toEqual(['completed']);
    const messages = await repository.messages(conversation);
    expect(messages.map((message) => [message.role, message.interrupted])).toEqual([
      ['user', false],
      ['assistant', false],
      ['user', false],
      ['user', false],
    ]);
    expect(messages[1]!.text).toBe(`${FIRST} ${SECOND} ${THIRD}`);
    expect(messages[2]!.text).toBe('And one more thing.');
    expect(messages[3]!.text).toMatch(/\byes\b/);
  }, 60_000);

  it('drain: gives up on a reply that outlasts the deadline; close() then stores it cut where it was heard', async () => {
    const { repository, open } = await setup();
    const sink = new TestSink(PCM_16K, 'manual');
    const { session, transport } = await open(sink);
    const conversation = transport.ofType('session_ready')[0]!.conversationId;
    session.submitText('Tell me everything.');
    const started = await transport.waitFor('reply_started');
    const first = await transport.waitFor('reply_segment', (event) => event.replyId === started.replyId);
    sink.ack(first.startMs + first.durationMs);
    const began = Date.now();
    await session.drain(300); // the listener never acknowledges more: the reply cannot finish
    expect(Date.now() - began).toBeLessThan(1_000);
    await session.close();
    const messages = await repository.messages(conversation);
    expect(messages.map((message) => [message.role, message.text, message.interrupted])).toEqual([
      ['user', 'Tell me everything.', false],
      ['assistant', FIRST, true],
    ]);
  }, 60_000);

  it('hands a transfer’s outcome to the transport and ends the connection', async () => {
    const llm = await startFakeOpenAi();
    fakes.push(llm);
    const { open } = await setup({
      HARKEN_LLM_MODEL: 'voice-model',
      HARKEN_LLM_BASE_URL: llm.url,
      HARKEN_LLM_RETRIES: '0',
      HARKEN_LLM_GREETING: '',
      HARKEN_LLM_TOOLS: 'end_call,transfer',
      HARKEN_LLM_TRANSFER_TARGETS: 'billing=+15550100',
    });
    llm.queue.push({ kind: 'stream', toolCalls: [{ name: 'transfer', arguments: '{"destination":"billing"}' }] });
    llm.queue.push({ kind: 'stream', text: ['One moment, ', 'I am transferring you to billing.'] });
    const { session, transport } = await open(new TestSink(PCM_16K, 'instant'), { agent: 'assistant' });
    session.submitText('I have a question about my bill.');
    const ended = await transport.waitFor('conversation_ended');
    expect(ended.outcome).toEqual({ status: 'transferred', transferTo: 'billing', transferTarget: '+15550100' });
    expect(transport.endedWith).toBe('conversation transferred');
    // The goodbye was spoken before the end.
    const order = transport.events.map((event: SessionEvent) => event.type);
    expect(order.lastIndexOf('reply_done')).toBeLessThan(order.indexOf('conversation_ended'));
  }, 60_000);
});
