import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { encodeSamples, decodeSamples } from '../../src/audio/audio-format.js';
import { resample } from '../../src/audio/resample.js';
import type { FakeOpenAi } from '../helpers/fake-openai.js';
import type { TestServer } from '../helpers/harness.js';
import { expectStrictOrder, startWssLlmServer, type RealtimeEvent } from '../helpers/openai-realtime.js';
import { silence, spoken } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Caller audio as Twilio delivers it: μ-law 8 kHz in 20 ms (160-byte) payloads, base64. */
const twilioPayloads = (samples16k: Int16Array): string[] => {
  const mulaw = encodeSamples(resample({ samples: samples16k, sampleRate: 16_000 }, 8_000).samples, 'mulaw');
  const payloads: string[] = [];
  for (let offset = 0; offset + 160 <= mulaw.length; offset += 160) payloads.push(mulaw.subarray(offset, offset + 160).toString('base64'));
  return payloads;
};

/**
 * The session logic of openai/openai-realtime-twilio-demo (websocket-server/src/sessionManager.ts,
 * read at 4e9f754), replayed as that code behaves, not copied: beta event names, the OpenAI-Beta
 * header, g711_ulaw both ways, Twilio's payloads passed through untouched, a truncate computed
 * from Twilio media timestamps (so it can overshoot what was played) sent on every
 * speech_started after a response's audio, and never a response.cancel.
 */
class TwilioDemoBridge {
  readonly events: RealtimeEvent[] = [];
  /** What the demo forwards to Twilio: the deltas' payloads, as they are. */
  readonly toTwilio: string[] = [];
  readonly truncates: Array<{ item_id: string; audio_end_ms: number }> = [];
  private latestMediaTimestamp = 0;
  private responseStartTimestamp: number | undefined;
  private lastAssistantItem: string | undefined;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const event = JSON.parse(String(data)) as RealtimeEvent;
      this.events.push(event);
      if (event.type === 'response.audio.delta') {
        this.responseStartTimestamp ??= this.latestMediaTimestamp || 0;
        if (event.item_id) this.lastAssistantItem = event.item_id as string;
        this.toTwilio.push(event.delta as string);
      } else if (event.type === 'input_audio_buffer.speech_started') {
        if (!this.lastAssistantItem || this.responseStartTimestamp === undefined) return;
        const truncate = { type: 'conversation.item.truncate', item_id: this.lastAssistantItem, content_index: 0, audio_end_ms: Math.max(0, this.latestMediaTimestamp - this.responseStartTimestamp) };
        this.truncates.push(truncate);
        socket.send(JSON.stringify(truncate));
        this.lastAssistantItem = undefined;
        this.responseStartTimestamp = undefined;
      }
    });
  }

  /** Twilio `media` events in real time: each payload goes on as input_audio_buffer.append. */
  async media(payloads: readonly string[]): Promise<void> {
    for (let index = 0; index < payloads.length; index += 5) {
      for (const payload of payloads.slice(index, index + 5)) {
        this.latestMediaTimestamp += 20;
        this.socket.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: payload }));
      }
      await sleep(100);
    }
  }

  async waitFor(type: string, after = 0, timeoutMs = 15_000): Promise<RealtimeEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(after).find((event) => event.type === type);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${type}; got ${this.events.slice(after).map((event) => event.type).join(', ')}`);
      await sleep(20);
    }
  }
}

describe('the OpenAI Twilio demo’s session logic against Harken (beta protocol, g711_ulaw)', () => {
  const tempDir = useTempDirs();
  let server: TestServer & { url: string };
  let llm: FakeOpenAi;
  let ca: string;
  let key: string;

  beforeAll(async () => {
    ({ server, llm, ca } = await startWssLlmServer(tempDir()));
    key = await server.createKey(['realtime']);
  });
  afterAll(async () => {
    await server.harken.close();
    await llm.close();
  });

  it('answers a phone caller in μ-law, cancels by itself when the caller talks over it, and clamps the demo’s overshooting truncate', async () => {
    const socket = new WebSocket(`${server.url.replace(/^https/, 'wss')}/v1/realtime?model=gpt-4o-realtime-preview-2024-12-17`, { ca, headers: { Authorization: `Bearer ${key}`, 'OpenAI-Beta': 'realtime=v1' } });
    const bridge = new TwilioDemoBridge(socket);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    await bridge.waitFor('session.created');
    expect(bridge.events[0]?.session).toMatchObject({ object: 'realtime.session', input_audio_format: 'pcm16', turn_detection: { type: 'server_vad' } });
    expect(bridge.events[1]?.type).toBe('conversation.created');
    socket.send(
      JSON.stringify({
        type: 'session.update',
        session: { modalities: ['text', 'audio'], turn_detection: { type: 'server_vad' }, voice: 'ash', input_audio_transcription: { model: 'whisper-1' }, input_audio_format: 'g711_ulaw', output_audio_format: 'g711_ulaw', instructions: 'You are a helpful assistant in a phone call.' },
      }),
    );
    expect((await bridge.waitFor('session.updated')).session).toMatchObject({ input_audio_format: 'g711_ulaw', output_audio_format: 'g711_ulaw', voice: 'ash' });

    const long = 'Our clinic is open from nine to five on weekdays. On Saturdays we open at ten and close at two. We are closed on Sundays and public holidays. You can also book online at any time.';
    llm.queue.push({ kind: 'stream', text: [long] });
    llm.fallback = { kind: 'stream', text: ['Of course, take your time.'] };
    await bridge.media(twilioPayloads(spoken('when are you open').samples));
    await bridge.media(twilioPayloads(silence(1_000)));
    const firstDelta = await bridge.waitFor('response.audio.delta', 0, 20_000);
    const transcript = bridge.events.find((event) => event.type === 'conversation.item.input_audio_transcription.completed');
    // Telephone-quality audio: the words may blur, but what was heard is what the model got.
    expect(transcript?.transcript).toMatch(/^when are you/);
    expect(llm.requests.at(-1)?.body.messages.at(-1)).toMatchObject({ role: 'user', content: transcript?.transcript });
    expect(firstDelta.item_id).toBeTruthy();

    // The caller hears a second of the reply, then talks over it.
    await bridge.media(twilioPayloads(silence(1_000)));
    const bargeIn = bridge.events.length;
    await bridge.media(twilioPayloads(spoken('sorry, wait a moment please').samples));
    const cancelled = await bridge.waitFor('response.done', bargeIn);
    expect(cancelled.response).toMatchObject({ status: 'cancelled', status_details: { reason: 'turn_detected' } });
    const truncated = await bridge.waitFor('conversation.item.truncated', bargeIn);
    await bridge.media(twilioPayloads(silence(1_200)));
    await bridge.waitFor('response.done', bridge.events.indexOf(cancelled) + 1, 20_000);

    // The demo's truncate counted media time since the first delta; what reached it was less, and the server clamped to that.
    const sentMs = bridge.toTwilio.reduce((sum, payload) => sum + Buffer.from(payload, 'base64').length / 8, 0);
    expect(bridge.truncates).toHaveLength(1);
    expect(truncated.audio_end_ms as number).toBeLessThanOrEqual(Math.ceil(sentMs));
    expect(truncated.audio_end_ms as number).toBeLessThanOrEqual(bridge.truncates[0]?.audio_end_ms as number);
    // Deltas are μ-law at 8 kHz that Twilio can play: real speech, not silence or PCM bytes.
    const audio = decodeSamples(Buffer.concat(bridge.toTwilio.slice(0, 50).map((payload) => Buffer.from(payload, 'base64'))), 'mulaw');
    const rms = Math.sqrt(audio.reduce((sum, sample) => sum + sample * sample, 0) / audio.length);
    expect(rms).toBeGreaterThan(300);
    // No error at any point: the demo's habits (no cancel, overshooting truncates) are all accepted.
    expect(bridge.events.filter((event) => event.type === 'error')).toEqual([]);
    expectStrictOrder(bridge.events);
    socket.close();
  }, 60_000);
});
