import { describe, expect, it } from 'vitest';
import type { Agent, AnswerExpectation } from '../../src/agents/agent.js';
import { silenceToEndTurn } from '../../src/session/turn-ending.js';
import { VoiceSession } from '../../src/session/voice-session.js';
import { silence, spoken } from '../helpers/speech.js';
import { speakInRealTime, useSessionCore } from '../helpers/session-core.js';
import type { TestTransport } from '../helpers/test-transport.js';

const SETTINGS = { defaultSilenceMs: 600, completeAnswerSilenceMs: 250, incompleteSilenceMs: 1_200 };

/** Asks one question with the given expectation, then thanks the caller. */
const asking = (name: string, question: string, expect: AnswerExpectation): Agent => ({
  name,
  description: 'test agent',
  async *begin(context) {
    yield { type: 'text', text: question };
    yield { type: 'done', state: context.state, data: context.data, status: 'active', expect };
  },
  async *respond(context) {
    yield { type: 'text', text: 'Thank you.' };
    yield { type: 'done', state: context.state, data: context.data, status: 'active', expect };
  },
});

/** Where speech ends in a recording: the last 20 ms frame louder than -40 dBFS. */
const speechEndMs = (samples: Int16Array): number => {
  for (let start = samples.length - 320; start >= 0; start -= 320) {
    let sum = 0;
    for (let index = start; index < start + 320; index += 1) sum += (samples[index] as number) ** 2;
    if (Math.sqrt(sum / 320) / 32768 > 0.01) return ((start + 320) / 16_000) * 1000;
  }
  return 0;
};


describe('the pause that ends a turn follows what the caller said (pure rules)', () => {
  it('is short for a whole answer, long for one plainly unfinished, the usual otherwise', () => {
    const cases: Array<[AnswerExpectation | undefined, string, string]> = [
      [{ type: 'yesno' }, 'yes', 'complete_answer'],
      [{ type: 'yesno' }, 'no i do not', 'complete_answer'],
      [{ type: 'yesno' }, 'yes and', 'incomplete'],
      [{ type: 'yesno' }, 'well', 'default'],
      [{ type: 'number', min: 0, max: 120 }, 'forty two', 'complete_answer'],
      [{ type: 'number', min: 0, max: 120 }, 'forty', 'default'],
      [{ type: 'number', min: 0, max: 120 }, 'five hundred', 'default'],
      [{ type: 'date' }, 'march fifth nineteen eighty two', 'complete_answer'],
      [{ type: 'date' }, 'the fifth of', 'incomplete'],
      [{ type: 'date' }, 'march fifth nineteen', 'incomplete'],
      [{ type: 'choice', options: ['morning', 'afternoon'] }, 'the afternoon please', 'complete_answer'],
      [{ type: 'text' }, 'i would like to book and', 'incomplete'],
      [{ type: 'text' }, 'i would like to book um', 'incomplete'],
      [{ type: 'text' }, 'i would like to book an appointment', 'default'],
      [undefined, 'yes', 'default'],
    ];
    for (const [expect_, said, rule] of cases) expect(silenceToEndTurn(expect_, said, SETTINGS).rule, `${expect_?.type ?? 'none'}: "${said}"`).toBe(rule);
    expect(silenceToEndTurn({ type: 'yesno' }, 'yes', SETTINGS).silenceMs).toBe(250);
    expect(silenceToEndTurn({ type: 'date' }, 'the fifth of', SETTINGS).silenceMs).toBe(1_200);
  });
});

describe('turn-taking in a live session (real VAD and recogniser)', () => {
  const openSession = useSessionCore();

  /** Says `parts` with the pauses given between them; returns when the first turn has been answered. */
  const answer = async (agent: Agent, parts: ReadonlyArray<string | number>, env: Record<string, string> = {}) => {
    const { session, transport, conversations } = await openSession(agent, {
      env,
      settings: (server) => {
        const voice = server.config.voice;
        return voice.adaptiveEndOfTurn ? { turnEnding: { defaultSilenceMs: voice.endOfTurnSilenceMs, completeAnswerSilenceMs: voice.completeAnswerSilenceMs, incompleteSilenceMs: voice.incompleteSilenceMs } } : {};
      },
    });
    await transport.waitFor('reply_done');
    // Half a second of room tone first, as on a call; two seconds after.
    const pieces = [silence(500), ...parts.map((part) => (typeof part === 'number' ? silence(part) : spoken(part).samples)), silence(2_000)];
    const audio = new Int16Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
    let offset = 0;
    for (const piece of pieces) {
      audio.set(piece, offset);
      offset += piece.length;
    }
    const lastSpeech = pieces.at(-2) as Int16Array;
    const lastSpeechEndMs = ((offset - lastSpeech.length - 32_000) / 16_000) * 1000 + speechEndMs(lastSpeech);
    const firstSpeech = pieces[1] as Int16Array;
    const firstSpeechEndMs = 500 + speechEndMs(firstSpeech);
    await speakInRealTime(session, audio);
    const timings = await transport.waitFor('turn_timings');
    const stops = transport.ofType('input_speech_stopped');
    const { messages } = await conversations.get(session.conversation, { tenant: 'default' });
    return {
      stops: stops.length,
      pauseMs: (stops[0]?.audioEndMs ?? 0) - (stops.length === 1 ? lastSpeechEndMs : firstSpeechEndMs),
      timings: timings.timings,
      stored: messages.filter((message) => message.role === 'user'),
    };
  };

  it('ends a whole yes/no answer after a short pause, and stores which rule ended it', async () => {
    const { pauseMs, timings, stored } = await answer(asking('smoker', 'Do you smoke?', { type: 'yesno' }), ['yes']);
    expect(timings).toMatchObject({ endOfTurnRule: 'complete_answer', endOfTurnMs: 250 });
    // Well before the usual 600 ms (the detector's windows and the last partial add a little).
    expect(pauseMs).toBeLessThan(500);
    expect(stored[0]?.text).toBe('yes');
    expect(stored[0]?.metrics).toMatchObject({ endOfTurnMs: 250, endOfTurnRule: 'complete_answer' });
  }, 30_000);

  it('keeps a date said with a pause mid-way as one turn, where the usual pause would cut it in two', async () => {
    const birthday = asking('birthday', 'What is your date of birth?', { type: 'date' });
    // flite's clip ends with ~0.3 s of its own quiet: the caller pauses ~0.8 s in all.
    const said = ['the fifth of', 500, 'march nineteen eighty two'];
    const adaptive = await answer(birthday, said);
    expect(adaptive.stops).toBe(1);
    expect(adaptive.stored[0]?.text).toMatch(/fifth.*march/);
    expect(adaptive.timings).toMatchObject({ endOfTurnRule: 'complete_answer' });

    const fixed = await answer(birthday, said, { HARKEN_VOICE_ADAPTIVE_END_OF_TURN: 'false' });
    expect(fixed.stops).toBe(2);
    // The first half ended a turn of its own after 600 ms: a caller cut off mid-answer.
    expect(fixed.pauseMs).toBeLessThan(1_000);
  }, 60_000);

  it('with voice.adaptiveEndOfTurn off, every turn waits the usual pause', async () => {
    const { pauseMs, timings } = await answer(asking('smoker', 'Do you smoke?', { type: 'yesno' }), ['yes'], { HARKEN_VOICE_ADAPTIVE_END_OF_TURN: 'false' });
    expect(timings).toMatchObject({ endOfTurnRule: 'default', endOfTurnMs: 600 });
    expect(pauseMs).toBeGreaterThan(550);
  }, 30_000);

  describe('a caller who goes silent (session core, audio time)', () => {
    const open = async () => {
      const { session, transport, conversations } = await openSession(asking('smoker', 'Do you smoke?', { type: 'yesno' }), {
        settings: () => ({ endOfTurnSilenceMs: 600, silence: { repromptAfterMs: 3_000, repromptText: 'Are you still there?', endAfterMs: 3_000, goodbyeText: 'I will end the call now. Goodbye.' } }),
      });
      await transport.waitFor('reply_done');
      return { session, transport, conversations };
    };
    /** Silence as fast as the session takes it: the rule counts audio time, not the wall clock. */
    const quiet = (session: VoiceSession, ms: number) => {
      const samples = silence(ms);
      for (let offset = 0; offset < samples.length; offset += 320) session.pushAudio(samples.subarray(offset, offset + 320));
    };
    const spokenTexts = (transport: TestTransport) => transport.ofType('reply_text_done').map((event) => event.text);

    it('re-prompts after the silence, then says goodbye and ends the conversation as no_response, stored with its reason', async () => {
      const { session, transport, conversations } = await open();
      quiet(session, 2_800);
      expect(spokenTexts(transport)).toEqual(['Do you smoke?']);
      quiet(session, 400);
      await expect.poll(() => spokenTexts(transport), { timeout: 10_000 }).toEqual(['Do you smoke?', 'Are you still there?']);
      await expect.poll(() => transport.ofType('reply_done').length, { timeout: 10_000 }).toBe(2);
      quiet(session, 3_200);
      const ended = await transport.waitFor('conversation_ended');
      expect(ended.outcome.status).toBe('no_response');
      expect(transport.endedWith).toBe('conversation no_response');
      const { conversation, messages } = await conversations.get(session.conversation, { tenant: 'default' });
      expect(conversation).toMatchObject({ status: 'no_response', data: { endReason: 'silence' } });
      // The re-prompt was not the agent's turn and is not stored; the goodbye is.
      expect(messages.map((message) => message.text)).toEqual(['Do you smoke?', 'I will end the call now. Goodbye.']);
    }, 40_000);

    it('starts counting again when the caller speaks after the re-prompt', async () => {
      const { session, transport } = await open();
      quiet(session, 3_200);
      await expect.poll(() => transport.ofType('reply_done').length, { timeout: 10_000 }).toBe(2);
      await speakInRealTime(session, spoken('yes').samples);
      quiet(session, 1_500);
      await transport.waitFor('reply_done', (event) => event.text === 'Thank you.');
      quiet(session, 2_000);
      expect(transport.ofType('conversation_ended')).toEqual([]);
    }, 40_000);
  });
});
