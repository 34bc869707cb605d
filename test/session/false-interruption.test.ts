import { describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agents/agent.js';
import { ConversationService } from '../../src/conversations/service.js';
import { int16ToBytes } from '../../src/audio/pcm.js';
import { resample } from '../../src/audio/resample.js';
import { FliteTts } from '../../src/engines/tts/flite/flite-tts.js';
import { Backchannels } from '../../src/session/backchannels.js';
import { Speaker } from '../../src/session/speaker.js';
import { AsyncQueue } from '../../src/util/async-queue.js';
import { VoiceSession } from '../../src/session/voice-session.js';
import { silence, spoken } from '../helpers/speech.js';
import { speakInRealTime, useSessionCore } from '../helpers/session-core.js';
import { TestSink } from '../helpers/test-transport.js';

const REPLY = 'Our clinic opens at nine in the morning. On Saturdays we open at ten and close at two. We are closed on Sundays.';

/** Answers every turn with the same three sentences. */
const explainer: Agent = {
  name: 'explainer',
  description: 'test agent',
  async *begin(context) {
    yield { type: 'done', state: context.state, data: context.data, status: 'active' };
  },
  async *respond(context) {
    yield { type: 'text', text: REPLY };
    yield { type: 'done', state: context.state, data: context.data, status: 'active' };
  },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


describe('backchannels', () => {
  it('leaves only the words that are not backchannels', () => {
    const list = new Backchannels('mm-hm, uh-huh, yeah, okay, i see');
    expect(list.meaningfulWords('mm-hm')).toEqual([]);
    expect(list.meaningfulWords('uh huh yeah')).toEqual([]);
    expect(list.meaningfulWords('I see')).toEqual([]);
    expect(list.meaningfulWords('okay stop')).toEqual(['stop']);
    expect(list.meaningfulWords('see you')).toEqual(['see', 'you']);
    // A partial hypothesis may stop half-way through one.
    expect(list.meaningfulWords('okay i', { partial: true })).toEqual([]);
    expect(list.meaningfulWords('okay i', {})).toEqual(['i']);
  });
});

describe('caller sound over the agent pauses it; only words interrupt (session core, real engines)', () => {
  const openSession = useSessionCore();

  const open = async () => {
    const { session, transport, sink, conversations } = await openSession(explainer, {
      playback: 'wall-clock',
      settings: () => ({ falseInterruption: { pauseAfterMs: 200, windowMs: 1_500, minWords: 1, backchannels: new Backchannels('mm-hm, mhm, mm, hmm, uh-huh, uh huh, yeah, okay, ok, right, i see') } }),
    });
    session.submitText('When are you open?');
    const started = await transport.waitFor('reply_started');
    await transport.waitFor('reply_audio_started');
    await sleep(1_000);
    return { session, transport, sink, conversations, replyId: started.replyId };
  };

  const stored = async (conversations: ConversationService, session: VoiceSession) => (await conversations.get(session.conversation, { tenant: 'default' })).messages;

  it('words interrupt for good, cut where the agent paused, and become the next turn', async () => {
    const { session, transport, conversations, replyId } = await open();
    await speakInRealTime(session, spoken('stop, wait a moment').samples);
    const interrupted = await transport.waitFor('reply_interrupted', (event) => event.replyId === replyId);
    await speakInRealTime(session, silence(1_200));
    const done = await transport.waitFor('reply_done', (event) => event.replyId === replyId);
    expect(done.status).toBe('interrupted');
    expect(done.playedMs).toBe(interrupted.playedMs);
    expect(REPLY.startsWith(done.text)).toBe(true);
    expect(done.text.length).toBeLessThan(REPLY.length);
    await transport.waitFor('reply_done', (event) => event.replyId !== replyId, 30_000);
    const messages = await stored(conversations, session);
    expect(messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(messages[1]).toMatchObject({ interrupted: true, text: done.text });
    expect(messages[2]?.text).toMatch(/stop|wait/);
  }, 40_000);
});

describe('a paused reply goes on from where the listener was (Speaker, real flite)', () => {
  /** Records every write and every rewind, in order. */
  class RecordingSink extends TestSink {
    readonly log: Array<{ kind: 'write'; bytes: Buffer } | { kind: 'rewind'; ms: number }> = [];
    override async write(chunk: Buffer, durationMs: number): Promise<void> {
      this.log.push({ kind: 'write', bytes: Buffer.from(chunk) });
      await super.write(chunk, durationMs);
    }
    override rewind(ms: number): void {
      this.log.push({ kind: 'rewind', ms });
      super.rewind(ms);
    }
  }

  it('sends nothing while paused, then re-sends from the paused position: the listener hears every sample once, in order', async () => {
    const tts = await FliteTts.create();
    try {
      const text = 'Our clinic opens at nine in the morning. On Saturdays we open at ten.';
      const whole = Buffer.concat(
        await Promise.all(['Our clinic opens at nine in the morning.', 'On Saturdays we open at ten.'].map(async (sentence) => int16ToBytes(resample(await tts.synthesize(sentence), 16_000).samples))),
      );
      const sink = new RecordingSink({ sampleRate: 16_000, encoding: 'pcm_s16le' }, 'wall-clock');
      const speaker = new Speaker(tts, sink, () => undefined, { replyId: 'reply', leadMs: 200 });
      const sentences = new AsyncQueue<string>();
      sentences.push('Our clinic opens at nine in the morning.');
      sentences.push('On Saturdays we open at ten.');
      sentences.end();
      const playing = speaker.speak(sentences, new AbortController().signal);
      await sleep(1_000);
      const pausedAt = speaker.pause() as number;
      expect(pausedAt).toBeGreaterThan(700);
      const writesAtPause = sink.log.length;
      await sleep(600);
      // Paused: nothing went out, and the listener is held where they were.
      expect(sink.log.length).toBeLessThanOrEqual(writesAtPause + 1);
      expect(speaker.heardMs()).toBe(pausedAt);
      speaker.resume();
      const result = await playing;
      expect(result.interrupted).toBe(false);
      expect(result.playedMs).toBeCloseTo((whole.length / 2 / 16_000) * 1000, 0);
      // What the listener hears: everything up to the pause (before the rewind), then from the pause on.
      const rewind = sink.log.findIndex((entry) => entry.kind === 'rewind');
      expect(sink.log[rewind]).toEqual({ kind: 'rewind', ms: pausedAt });
      const bytesAt = (ms: number) => Math.round((ms * 16_000) / 1000) * 2;
      const before = Buffer.concat(sink.log.slice(0, rewind).flatMap((entry) => (entry.kind === 'write' ? [entry.bytes] : [])));
      const after = Buffer.concat(sink.log.slice(rewind + 1).flatMap((entry) => (entry.kind === 'write' ? [entry.bytes] : [])));
      const heard = Buffer.concat([before.subarray(0, bytesAt(pausedAt)), after]);
      expect(heard.length).toBeGreaterThan(whole.length - 64);
      expect(heard.length).toBeLessThan(whole.length + 64);
      expect(heard.subarray(0, 3_200).equals(whole.subarray(0, 3_200))).toBe(true);
      // The replay starts at the paused sample.
      expect(after.subarray(0, 640).equals(whole.subarray(bytesAt(pausedAt), bytesAt(pausedAt) + 640))).toBe(true);
      expect(speaker.textAt(result.playedMs)).toBe(text);
    } finally {
      await tts.close();
    }
  }, 30_000);
});
