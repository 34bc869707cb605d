import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { PcmAudio } from '../src/audio/pcm.js';
import { resample } from '../src/audio/resample.js';

/**
 * One spoken turn over OpenAI's Realtime protocol (GA events, pcm16 24 kHz, server VAD), paced
 * in real time like the native client: end of speech in the recording → first
 * `response.output_audio.delta` at the client.
 */
export const openAiRealtimeTurn = async (wsUrl: string, key: string, agent: string, audio: PcmAudio, speechEndMs: number, silenceMs: number): Promise<number> => {
  const socket = new WebSocket(`${wsUrl}?model=${agent}`, { headers: { authorization: `Bearer ${key}` } });
  let firstAudioAt: number | undefined;
  let failure: string | undefined;
  let created = false;
  socket.on('message', (data) => {
    const event = JSON.parse(String(data)) as { type: string; error?: { message: string } };
    if (event.type === 'session.created') created = true;
    if (event.type === 'response.output_audio.delta') firstAudioAt ??= performance.now();
    if (event.type === 'error') failure = event.error?.message;
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  try {
    while (!created) await new Promise((resolve) => setTimeout(resolve, 10));
    const pcm = resample(audio, 24_000).samples;
    const padded = new Int16Array(pcm.length + (silenceMs * 24_000) / 1000);
    padded.set(pcm);
    const bytes = Buffer.from(padded.buffer, padded.byteOffset, padded.byteLength);
    const chunk = 960; // 20 ms of pcm16 at 24 kHz
    const started = performance.now();
    for (let offset = 0; offset < bytes.length && firstAudioAt === undefined; offset += chunk) {
      const wait = started + (offset / chunk) * 20 - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      socket.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: bytes.subarray(offset, offset + chunk).toString('base64') }));
    }
    const deadline = performance.now() + 20_000;
    while (firstAudioAt === undefined && performance.now() < deadline && failure === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    if (firstAudioAt === undefined) throw new Error(`no reply audio over the OpenAI protocol${failure ? `: ${failure}` : ''}`);
    return firstAudioAt - (started + speechEndMs);
  } finally {
    socket.close();
  }
};
