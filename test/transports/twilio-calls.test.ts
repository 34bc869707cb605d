import { afterEach, describe, expect, it } from 'vitest';
import { resample } from '../../src/audio/resample.js';
import { startListeningServer } from '../helpers/harness.js';
import { encodeWav } from '../../src/audio/wav.js';
import { recording, spoken } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';
import { twilioSid, TwilioSimulator, type SimulatedCall } from '../helpers/twilio-simulator.js';

type Server = Awaited<ReturnType<typeof startListeningServer>>;

const ACCOUNT_SID = twilioSid('AC');
const AUTH_TOKEN = 'twilio-test-auth-token-0123456789';
const PUBLIC_URL = 'https://voice.example.test';
const GREETING = 'Echo agent ready. Say something and I will repeat it.';
const TELEPHONE_RECORDING = '1272-128104-0004-8k.wav';

const at8k = (text: string): Int16Array => resample(spoken(text), 8_000).samples;

describe('phone calls through Twilio Media Streams', () => {
  const tempDir = useTempDirs();
  const servers: Server[] = [];
  const calls: SimulatedCall[] = [];
  afterEach(async () => {
    for (const call of calls.splice(0)) call.drop();
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });

  const setup = async (env: Record<string, string> = {}) => {
    const server = await startListeningServer(tempDir(), {
      HARKEN_TWILIO_ENABLED: 'true',
      HARKEN_TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      HARKEN_TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      HARKEN_TWILIO_PUBLIC_URL: PUBLIC_URL,
      HARKEN_TWILIO_NUMBERS: '+15550100=echo',
      ...env,
    });
    servers.push(server);
    const simulator = new TwilioSimulator({ serverUrl: server.url, publicUrl: PUBLIC_URL, authToken: AUTH_TOKEN, accountSid: ACCOUNT_SID });
    const place = async (options: Parameters<TwilioSimulator['call']>[0] = {}) => {
      const { answer, call } = await simulator.call(options);
      if (!call) throw new Error(`call not answered: ${JSON.stringify(answer)}`);
      calls.push(call);
      return call;
    };
    const latestConversation = async () => {
      const list = (await server.inject({ method: 'GET', url: '/v1/conversations?limit=1' })).json().conversations as Array<{ id: string }>;
      return (await server.inject({ method: 'GET', url: `/v1/conversations/${list[0]!.id}` })).json() as { messages: Array<{ role: string; text: string; source: string; interrupted: boolean }> };
    };
    /** The same recording through the HTTP path (PCM WAV, no μ-law): what the recogniser makes of it undistorted. */
    const transcribedDirectly = async (samples: Int16Array) =>
      ((await server.inject({ method: 'POST', url: '/v1/transcribe', headers: { 'content-type': 'audio/wav' }, payload: encodeWav({ samples, sampleRate: 8_000 }) })).json().text as string).toLowerCase().split(/\s+/).filter(Boolean);
    const audit = async (action: string) => (await server.inject({ method: 'GET', url: `/v1/admin/audit?action=${action}` })).json().events as Array<{ details: Record<string, unknown>; ip: string | null }>;
    return { server, simulator, place, latestConversation, audit, transcribedDirectly };
  };

  /** What the agent said has been sent and played out (no new audio for 600 ms). */
  const playedOut = async (call: SimulatedCall) => {
    await call.waitFor(() => call.heardMs > 1_000, 20_000, 'reply audio');
    await call.playedOut();
  };

  it('answers a signed webhook with <Connect><Stream> and a one-time token; refuses a wrong signature, another host, an added parameter and another account', async () => {
    const { simulator, audit } = await setup();
    const params = { AccountSid: ACCOUNT_SID, CallSid: twilioSid('CA'), From: '+15557654321', To: '+15550100', CallStatus: 'ringing', Direction: 'inbound' };
    const answer = await simulator.webhook(params);
    expect(answer.kind).toBe('stream');
    if (answer.kind !== 'stream') return;
    expect(answer.streamUrl).toBe('wss://voice.example.test/v1/twilio/media');
    expect(answer.parameters.agent).toBe('echo');
    expect(answer.parameters.token!.length).toBeGreaterThanOrEqual(32);
    expect(answer.twiml).toContain('<Connect><Stream url="wss://voice.example.test/v1/twilio/media">');

    expect(await simulator.webhook(params, { signature: 'bm90IGEgc2lnbmF0dXJl' })).toMatchObject({ kind: 'http', status: 403 });
    expect(await simulator.webhook(params, { signedUrl: 'https://evil.example/v1/twilio/voice' })).toMatchObject({ kind: 'http', status: 403 });
    expect(await simulator.webhook(params, { addParam: { Digits: '1' } })).toMatchObject({ kind: 'http', status: 403 });
    expect(await simulator.webhook({ ...params, AccountSid: twilioSid('AC') })).toMatchObject({ kind: 'http', status: 403 });
    const refused = await audit('twilio.webhook_refused');
    expect(refused.map((event) => event.details.reason).sort()).toEqual(['bad_signature', 'bad_signature', 'bad_signature', 'wrong_account']);
    // The address is stored masked.
    expect(refused[0]!.ip).toMatch(/^127\.0\.0\.0/);

    // Only Twilio's form encoding, each parameter once.
    const post = (body: string, type: string) => fetch(`${simulator.options.serverUrl}/v1/twilio/voice`, { method: 'POST', headers: { 'content-type': type, 'x-twilio-signature': 'x' }, body });
    expect((await post(JSON.stringify({ CallSid: ['CA1', 'CA1'] }), 'application/json')).status).toBe(415);
    expect((await post('CallSid=CA1&CallSid=CA2', 'application/x-www-form-urlencoded')).status).toBe(400);
    // A replayed webhook of a call already answered gets no second stream token.
    expect(await simulator.webhook(params)).toMatchObject({ kind: 'reject' });
    // A number that is not in twilio.numbers is rejected in TwiML.
    expect(await simulator.webhook({ ...params, CallSid: twilioSid('CA'), To: '+15550199' })).toMatchObject({ kind: 'reject' });
  }, 30_000);

  it('refuses a media stream with a bad signature, and a replayed or foreign stream token', async () => {
    const { simulator, audit, place } = await setup();
    const answer = await simulator.webhook({ AccountSid: ACCOUNT_SID, CallSid: 'CA00000000000000000000000000000001', From: '+15557654321', To: '+15550100' });
    if (answer.kind !== 'stream') throw new Error('not answered');

    const unsigned = await simulator.connect(answer.streamUrl, { callSid: 'CA00000000000000000000000000000001', parameters: answer.parameters, signature: 'bad' });
    expect((await unsigned.closed).code).toBe(1008);
    // Another call's stream cannot use this call's token…
    const foreign = await simulator.connect(answer.streamUrl, { callSid: 'CA00000000000000000000000000000002', parameters: answer.parameters });
    expect((await foreign.closed).code).toBe(1008);
    // …and that attempt used it up: the right call cannot replay it either.
    const replayed = await simulator.connect(answer.streamUrl, { callSid: 'CA00000000000000000000000000000001', parameters: answer.parameters });
    expect((await replayed.closed).code).toBe(1008);
    expect(replayed.mediaReceived).toBe(0);
    expect((await audit('twilio.stream_refused')).map((event) => event.details.reason).sort()).toEqual(['bad_signature', 'bad_token', 'bad_token']);

    // A fresh, valid call still works.
    const call = await place();
    await call.waitFor(() => call.mediaReceived > 0, 20_000, 'greeting audio');
  }, 30_000);

  it('answers a webhook delivered twice at once only once, and lets no more calls through at once than twilio.maxConcurrentCalls', async () => {
    const { server, simulator } = await setup({ HARKEN_TWILIO_MAX_CONCURRENT_CALLS: '2' });
    const params = { AccountSid: ACCOUNT_SID, CallSid: twilioSid('CA'), From: '+15557654321', To: '+15550100', CallStatus: 'ringing', Direction: 'inbound' };
    const twice = await Promise.all([simulator.webhook(params), simulator.webhook(params)]);
    expect(twice.map((answer) => answer.kind).sort()).toEqual(['reject', 'stream']);
    const records = async () => (await server.inject({ method: 'GET', url: '/v1/calls?limit=100' })).json().calls as Array<{ callSid: string; status: string; endReason: string | null }>;
    expect((await records()).filter((call) => call.callSid === params.CallSid)).toHaveLength(1);

    // One place is taken by the call above (answered, its stream not started yet): of five
    // webhooks at once, exactly one more gets a stream, whatever the database makes them wait.
    const five = await Promise.all(Array.from({ length: 5 }, () => simulator.webhook({ ...params, CallSid: twilioSid('CA') })));
    expect(five.filter((answer) => answer.kind === 'stream')).toHaveLength(1);
    expect(five.filter((answer) => answer.kind === 'reject' && answer.reason === 'busy')).toHaveLength(4);
  }, 30_000);

  it('closes the record of a call whose stream never came, or whose token another stream used up', async () => {
    const { server, simulator } = await setup({ HARKEN_TWILIO_STREAM_TOKEN_TTL_MS: '1000' });
    const record = async (callSid: string) => ((await server.inject({ method: 'GET', url: '/v1/calls?limit=100' })).json().calls as Array<{ callSid: string; status: string; endReason: string | null; endedAt: string | null }>).find((call) => call.callSid === callSid);
    const webhook = async (callSid: string) => {
      const answer = await simulator.webhook({ AccountSid: ACCOUNT_SID, CallSid: callSid, From: '+15557654321', To: '+15550100' });
      if (answer.kind !== 'stream') throw new Error('not answered');
      return answer;
    };
    const neverStreamed = twilioSid('CA');
    await webhook(neverStreamed);
    expect(await record(neverStreamed)).toMatchObject({ status: 'ringing', endedAt: null });
    await expect.poll(async () => (await record(neverStreamed))?.status, { timeout: 5_000 }).toBe('failed');
    expect(await record(neverStreamed)).toMatchObject({ endReason: 'stream_not_started', endedAt: expect.any(String) });
    // And its place is free again.
    expect(server.harken.voice!.calls.size).toBe(0);

    const victim = twilioSid('CA');
    const answer = await webhook(victim);
    const foreign = await simulator.connect(answer.streamUrl, { callSid: twilioSid('CA'), parameters: answer.parameters });
    expect((await foreign.closed).code).toBe(1008);
    expect(await record(victim)).toMatchObject({ status: 'failed', endReason: 'stream_refused' });
  }, 30_000);

  it('closes a signed stream that never starts when its token’s time is up, however chatty, without it holding a call slot', async () => {
    const { server, simulator } = await setup({ HARKEN_TWILIO_STREAM_TOKEN_TTL_MS: '1000', HARKEN_TWILIO_MAX_CONCURRENT_CALLS: '1' });
    const idle = await simulator.connect('wss://voice.example.test/v1/twilio/media', { callSid: twilioSid('CA'), parameters: {}, start: false });
    expect(server.harken.voice!.calls.size).toBe(0);
    // A real call is still answered while it hangs around.
    expect((await simulator.call()).answer.kind).toBe('stream');
    const started = Date.now();
    expect((await idle.closed).code).toBe(1008);
    expect(Date.now() - started).toBeLessThan(3_000);
  }, 30_000);

  it('answers six calls at once that all come from one Twilio media server address', async () => {
    const { place } = await setup();
    const six = await Promise.all(Array.from({ length: 6 }, () => place()));
    await Promise.all(six.map((call) => call.waitFor(() => call.mediaReceived > 0, 30_000, 'greeting audio')));
  }, 60_000);

  it('holds a call: the greeting as 20 ms μ-law frames with a mark after each, the caller’s 8 kHz recording transcribed and answered, stop ends the session', async () => {
    const { server, place, latestConversation, transcribedDirectly } = await setup();
    const call = await place();
    await playedOut(call);
    const media = call.received.filter((message) => message.event === 'media');
    const marks = call.received.filter((message) => message.event === 'mark');
    expect(marks.length).toBe(media.length);
    // 20 ms of μ-law at 8 kHz is 160 bytes (a sentence's last frame may be shorter).
    const sizes = media.map((message) => Buffer.from((message.media as { payload: string }).payload, 'base64').length);
    expect(sizes.filter((size) => size !== 160).length).toBeLessThanOrEqual(2);
    expect(call.marksEchoed.length).toBe(marks.length);

    const before = call.mediaReceived;
    // The first 12 s of the recording, as the caller's side of the line.
    const caller = recording(TELEPHONE_RECORDING).samples.subarray(0, 12 * 8_000);
    await call.say(caller);
    await call.silence(1_500);
    await call.waitFor(() => call.mediaReceived > before + 10, 20_000, 'the reply');
    await playedOut(call);
    const [greeting, ...turns] = (await latestConversation()).messages;
    expect(greeting).toMatchObject({ role: 'assistant', text: GREETING, interrupted: false });
    // The recording has pauses, so it may become several turns; each is answered in order.
    const users = turns.filter((message) => message.role === 'user');
    expect(users.length).toBeGreaterThanOrEqual(1);
    for (const [index, message] of turns.entries()) {
      if (message.role !== 'user') continue;
      expect(message.source).toBe('voice');
      const answer = turns[index + 1];
      if (answer) expect(`You said: ${message.text}`.startsWith(answer.text)).toBe(true);
    }
    // Through μ-law and the phone path the recogniser hears mostly what it hears in the WAV itself
    // (PocketSphinx's word error rate is ~43 % on clean read speech; μ-law and the telephone band add to it).
    const direct = new Set(await transcribedDirectly(caller));
    const recognised = users.flatMap((message) => message.text.toLowerCase().split(/\s+/));
    expect(recognised.length).toBeGreaterThanOrEqual(5);
    // A broken path (wrong companding, wrong rate) recognises next to nothing of it: well under 15 %.
    expect(recognised.filter((word) => direct.has(word)).length).toBeGreaterThanOrEqual(Math.ceil(recognised.length * 0.3));

    call.hangUp();
    await call.closed;
    await expect.poll(() => server.harken.voice!.calls.size).toBe(0);
    await expect.poll(() => server.harken.access.sessions.active).toBe(0);
  }, 60_000);

  it('on barge-in sends clear, stops the greeting, and stores only the part the caller heard (by acknowledged marks)', async () => {
    const { place, latestConversation } = await setup();
    const call = await place();
    await call.waitFor(() => call.heardMs > 900, 20_000, 'greeting audio');
    await call.say(at8k('wait wait, I have a question about my appointment'));
    await call.waitFor(() => call.clears > 0, 10_000, 'clear');
    const heardAtClear = call.heardMs;
    const mediaAtClear = call.mediaReceived;
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Nothing more of the greeting arrives after the clear (the caller is still talking: no reply yet).
    expect(call.mediaReceived).toBe(mediaAtClear);
    // Paced by echoed marks: never more than twilio.audioLeadMs (1 s) waiting in Twilio's buffer.
    expect(call.maxBufferedMs).toBeLessThanOrEqual(1_000 + 40);
    await call.silence(1_500);
    // No reply audio of the cut greeting after the clear (the next audio is the answer to the caller).
    const greeting = (await latestConversation()).messages[0]!;
    expect(greeting.interrupted).toBe(true);
    expect(greeting.text.length).toBeGreaterThan(0);
    expect(GREETING.startsWith(greeting.text)).toBe(true);
    expect(greeting.text.length).toBeLessThan(GREETING.length);
    // The caller heard ~1.2 s of a ~3.5 s greeting: about a third of its words.
    expect(heardAtClear).toBeLessThan(2_500);
  }, 60_000);

  it('rejects a call over twilio.maxConcurrentCalls with busy, without touching the live call', async () => {
    const { simulator, place } = await setup({ HARKEN_TWILIO_MAX_CONCURRENT_CALLS: '1' });
    const live = await place();
    await live.waitFor(() => live.mediaReceived > 0, 20_000, 'greeting audio');
    const second = await simulator.call();
    expect(second.answer).toMatchObject({ kind: 'reject', reason: 'busy' });
    const before = live.mediaReceived;
    await live.waitFor(() => live.mediaReceived > before, 10_000, 'the live call to go on');
    // Once it hangs up its slot is free again.
    live.hangUp();
    await live.closed;
    await expect.poll(async () => (await simulator.call()).answer.kind, { timeout: 10_000 }).toBe('stream');
  }, 30_000);

  it('keeps the caller’s last words when they hang up right after speaking, and passes DTMF keys as input', async () => {
    const { server, place, latestConversation } = await setup();
    const call = await place();
    await playedOut(call);
    call.dtmf('1');
    await call.waitFor(() => call.received.filter((message) => message.event === 'media').length > 0 && call.mediaSinceClear > 0, 10_000, 'reply');
    await expect.poll(async () => (await latestConversation()).messages.map((message) => message.text), { timeout: 10_000 }).toEqual([GREETING, '1', 'You said: 1']);
    await playedOut(call);

    await call.say(resample(recording('goforward.wav'), 8_000).samples);
    call.hangUp(); // right after the last word, before the end-of-turn pause
    await call.closed;
    await expect.poll(() => server.harken.access.sessions.active, { timeout: 10_000 }).toBe(0);
    const messages = (await latestConversation()).messages;
    expect(messages).toHaveLength(4);
    expect(messages[3]).toMatchObject({ role: 'user', source: 'voice' });
    expect(messages[3]!.text).toMatch(/forward/);
  }, 60_000);

  it('at shutdown finishes the reply under way, refuses new calls, stores the turn, then closes the stream 1001', async () => {
    const { server, simulator, place } = await setup({ HARKEN_SERVER_DRAIN_TIMEOUT_MS: '8000' });
    const call = await place();
    await playedOut(call);
    const before = call.mediaReceived;
    call.dtmf('1');
    call.dtmf('#'); // one turn at once, no key pause
    await call.waitFor(() => call.mediaReceived > before, 10_000, 'the reply to begin');
    servers.splice(servers.indexOf(server), 1);
    const closing = server.harken.close();
    // New calls are refused while the live one drains.
    expect((await simulator.call()).answer).toMatchObject({ kind: 'reject', reason: 'busy' });
    expect((await call.closed).code).toBe(1001);
    await closing;
    // "You said: 1" is ~1.2 s of audio: all of it was sent and played before the stream closed.
    expect(call.heardMs).toBeGreaterThan(1_000 + (before / 50) * 1000 - 100);

    const reopened = await startListeningServer(server.config.data.dir, { HARKEN_TWILIO_ENABLED: 'false' });
    servers.push(reopened);
    const list = (await reopened.inject({ method: 'GET', url: '/v1/conversations?limit=1' })).json().conversations as Array<{ id: string }>;
    const stored = (await reopened.inject({ method: 'GET', url: `/v1/conversations/${list[0]!.id}` })).json().messages as Array<{ text: string; interrupted: boolean }>;
    expect(stored.map((message) => message.text)).toEqual([GREETING, '1', 'You said: 1']);
    expect(stored[2]!.interrupted).toBe(false);
  }, 60_000);
});
