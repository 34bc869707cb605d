import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { levelDbfs } from '../../src/audio/pcm.js';
import { resample } from '../../src/audio/resample.js';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { startListeningServer } from '../helpers/harness.js';
import { recording, silence, spoken } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';
import { spawn } from 'node:child_process';
import { HARKEN_BIN } from '../helpers/cli.js';
import { SHARED_AUDIO } from '../helpers/shared.js';

type Server = Awaited<ReturnType<typeof startListeningServer>>;

describe('realtime voice over /v1/realtime', () => {
  const tempDir = useTempDirs();
  const servers: Server[] = [];
  const clients: RealtimeClient[] = [];

  const start = async (env: Record<string, string> = {}) => {
    const server = await startListeningServer(tempDir(), env);
    servers.push(server);
    return server;
  };
  const connect = async (server: Server, options: { agent?: string; sampleRate?: number; conversationId?: string } = {}) => {
    const client = await RealtimeClient.connect({ url: server.wsUrl, sampleRate: options.sampleRate ?? 16_000, credentials: server.apiKey, ...options });
    clients.push(client);
    return client;
  };

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });

  it('hears a spoken sentence and answers it with audio, with partial then final transcripts', async () => {
    const server = await start();
    const client = await connect(server, { agent: 'echo' });
    await client.waitFor('audio_end'); // the echo agent's greeting
    const mark = client.events.length;

    await client.streamAudio(recording('goforward.wav').samples);
    await client.streamSilence(1000);
    const final = await client.waitFor('transcript', { after: mark, where: (event) => event.final });
    expect(final.text).toMatch(/forward/);
    const partials = client.events.slice(mark).filter((event) => event.type === 'transcript' && !event.final);
    expect(partials.length).toBeGreaterThan(0);
    expect(partials[0]!.atMs).toBeLessThan(final.atMs);

    const reply = await client.waitFor('reply', { after: mark, where: (event) => event.final });
    expect(reply.text).toBe(`You said: ${final.text}`);
    const audioStart = await client.waitFor('audio_start', { after: mark });
    expect(audioStart.sampleRate).toBe(16_000);
    await client.waitFor('audio_end', { after: mark });
    const order = client.events.slice(mark).map((event) => event.type).filter((type, index, all) => all.indexOf(type) === index);
    expect(order).toEqual(['speech_started', 'transcript', 'speech_stopped', 'reply', 'audio_start', 'audio_end']);
    expect(levelDbfs(client.receivedAudio.samples)).toBeGreaterThan(-40);

    // Timings are stored once the reply has finished playing, just after audio_end.
    const lastMessages = async () =>
      (await server.inject({ method: 'GET', url: `/v1/conversations/${client.sessionReady!.conversationId}` })).json().messages.slice(-2);
    await expect.poll(async () => (await lastMessages())[1].metrics.voiceToVoiceMs, { timeout: 3000 }).not.toBeNull();
    const [user, assistant] = await lastMessages();
    expect(user).toMatchObject({ role: 'user', source: 'voice', text: final.text });
    expect(user.metrics.sttLatencyMs).toBeGreaterThanOrEqual(0);
    expect(assistant).toMatchObject({ role: 'assistant', interrupted: false, text: reply.text });
    expect(assistant.metrics.voiceToVoiceMs).toBeGreaterThan(0);
    expect(assistant.metrics.ttsFirstAudioMs).toBeGreaterThanOrEqual(0);
  });

  it('accepts 8 kHz telephone audio and resamples it', async () => {
    const server = await start();
    const client = await connect(server, { agent: 'echo', sampleRate: 8000 });
    await client.waitFor('audio_end');
    const mark = client.events.length;
    await client.streamAudio(resample(recording('goforward.wav'), 8000).samples);
    await client.streamSilence(1000);
    const final = await client.waitFor('transcript', { after: mark, where: (event) => event.final });
    expect(final.text).toMatch(/forward/);
  });

  it('completes the intake questionnaire by voice and stores the answers', async () => {
    const server = await start();
    const client = await connect(server);
    const answers = ['jane doe', 'march fifth nineteen eighty two', 'a sore throat', 'no', 'no', 'yes'];
    let mark = 0;
    for (const answer of answers) {
      await client.waitFor('audio_end', { after: mark, timeoutMs: 20_000 }); // the question has been said
      await new Promise((resolve) => setTimeout(resolve, 400));
      mark = client.events.length;
      await client.streamAudio(spoken(answer).samples, { realTime: false });
      await client.streamAudio(silence(1200), { realTime: false });
      await client.waitFor('reply', { after: mark, where: (event) => event.final, timeoutMs: 20_000 });
    }
    const ended = await client.waitFor('conversation_ended', { timeoutMs: 30_000 });
    expect(ended.status).toBe('completed');
    const closed = await client.closed;
    expect(closed.code).toBe(1000);
    const stored = (await server.inject({ method: 'GET', url: `/v1/conversations/${client.sessionReady!.conversationId}` })).json();
    expect(stored.status).toBe('completed');
    expect(stored.data).toMatchObject({ dateOfBirth: '1982-03-05', hasAllergies: false, takesMedication: false, consent: true });
    expect(typeof stored.data.name).toBe('string');
    expect(stored.data.symptoms).toMatch(/throat/);
  }, 90_000);

  it('stops talking within 200 ms of detected caller speech and keeps only what was heard', async () => {
    const server = await start();
    const client = await connect(server);
    const greetingStart = await client.waitFor('audio_start');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // let some of the greeting play
    const mark = client.events.length;
    const speech = spoken('my name is jane doe');
    await client.streamAudio(speech.samples.subarray(0, 16_000 * 1));
    const detected = await client.waitFor('speech_started', { after: mark });
    const interrupted = await client.waitFor('interrupted', { after: mark });
    expect(interrupted.atMs - detected.atMs).toBeLessThan(200);
    await client.streamAudio(speech.samples.subarray(16_000 * 1));
    await client.streamSilence(1200);
    await client.waitFor('reply', { after: mark, where: (event) => event.final });
    // No greeting audio arrived after the interruption (beyond frames already in flight).
    const greetingFramesAfter = client.audioFrameTimes.filter((at) => at > interrupted.atMs + 50 && at < interrupted.atMs + 1000);
    expect(greetingFramesAfter).toEqual([]);
    expect(greetingStart.atMs).toBeLessThan(detected.atMs);

    const stored = (await server.inject({ method: 'GET', url: `/v1/conversations/${client.sessionReady!.conversationId}` })).json();
    const greeting = stored.messages[0];
    expect(greeting.interrupted).toBe(true);
    expect(greeting.text).toBe(interrupted.playedText);
    const full = "Hello, I'm the intake assistant. I'll ask a few questions before your visit. What is your full name?";
    expect(full.startsWith(greeting.text)).toBe(true);
    expect(greeting.text.length).toBeGreaterThan(5);
    expect(greeting.text.length).toBeLessThan(full.length);
  }, 30_000);

  describe('protocol errors', () => {
    const rawSocket = async (server: Server) => {
      const socket = new WebSocket(server.wsUrl, { headers: { authorization: `Bearer ${server.apiKey}` } });
      const messages: string[] = [];
      socket.on('message', (data, isBinary) => {
        if (!isBinary) messages.push(data.toString());
      });
      const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
      await new Promise((resolve) => socket.once('open', resolve));
      return { socket, messages, closed };
    };

    it('closes 1008 with an error event on a malformed first frame', async () => {
      const server = await start();
      const { socket, messages, closed } = await rawSocket(server);
      socket.send('{"type":"hello"}');
      expect(await closed).toEqual({ code: 1008, reason: 'the first message must be {"type":"start",…}' });
      expect(JSON.parse(messages[0]!)).toMatchObject({ type: 'error', code: 'expected_start' });
      await expect.poll(() => server.harken.voice!.connections.size).toBe(0);
    });

    it('closes 1008 when audio comes before start, 1003 on an unsupported sample rate', async () => {
      const server = await start();
      const first = await rawSocket(server);
      first.socket.send(Buffer.alloc(640));
      expect((await first.closed).code).toBe(1008);
      const second = await rawSocket(server);
      second.socket.send(JSON.stringify({ type: 'start', sampleRate: 4000 }));
      expect(await second.closed).toMatchObject({ code: 1003 });
      expect(JSON.parse(second.messages[0]!)).toMatchObject({ code: 'unsupported_sample_rate' });
    });

    it('closes 1009 on an oversized frame', async () => {
      const server = await start({ HARKEN_REALTIME_MAX_FRAME_BYTES: '4096' });
      const client = await connect(server, { agent: 'echo' });
      client.sendAudio(new Int16Array(8192));
      expect((await client.closed).code).toBe(1009);
    });

    it('closes 4404 for an unknown conversation', async () => {
      const server = await start();
      await expect(connect(server, { conversationId: '00000000-0000-4000-8000-000000000000' })).rejects.toThrow(/4404.*not_found/);
    });

    it('cleans up everything when a client vanishes mid-utterance, and keeps serving', async () => {
      const server = await start();
      const client = await connect(server, { agent: 'echo' });
      await client.waitFor('audio_start');
      await client.streamAudio(recording('goforward.wav').samples.subarray(0, 16_000));
      await client.waitFor('speech_started');
      client.terminate();
      await expect.poll(() => server.harken.voice!.connections.size, { timeout: 5000 }).toBe(0);
      const next = await connect(server, { agent: 'echo' });
      await next.waitFor('audio_end');
    });
  });

  it('harken call says a recording, prints the transcript and reply, and exits as soon as the reply is done', async () => {
    const server = await start();
    const child = spawn(process.execPath, [HARKEN_BIN, 'call', '--file', `${SHARED_AUDIO}/goforward.wav`, '--url', server.wsUrl, '--agent', 'echo', '--json'], {
      cwd: tempDir(),
      env: { ...process.env, HARKEN_API_KEY: server.apiKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let lastOutputAt = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      lastOutputAt = performance.now();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const status = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const exitedAt = performance.now();
    expect(status, stderr).toBe(0);
    const events = stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; text?: string; final?: boolean });
    expect(events.find((event) => event.type === 'transcript' && event.final)?.text).toMatch(/forward/);
    expect(events.some((event) => event.type === 'reply' && event.final && /^You said: /.test(event.text ?? ''))).toBe(true);
    expect(events.at(-1)?.type).toBe('audio_end');
    // Out as soon as the reply's audio ended: a pending wait used to hold the process ~15 s more.
    expect(exitedAt - lastOutputAt).toBeLessThan(3_000);
  }, 40_000);
});
