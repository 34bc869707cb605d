import twilio from 'twilio';
import { afterEach, describe, expect, it } from 'vitest';
import { resample } from '../../src/audio/resample.js';
import { startFakeOpenAi, type FakeOpenAi } from '../helpers/fake-openai.js';
import { runCliAsync } from '../helpers/cli.js';
import { FakeTwilioRest } from '../helpers/fake-twilio-rest.js';
import { startListeningServer } from '../helpers/harness.js';
import { spoken } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';
import { twilioSid, TwilioSimulator, type SimulatedCall } from '../helpers/twilio-simulator.js';

type Server = Awaited<ReturnType<typeof startListeningServer>>;

const ACCOUNT_SID = twilioSid('AC');
const AUTH_TOKEN = 'twilio-test-auth-token-0123456789';
const PUBLIC_URL = 'https://voice.example.test';
const OUR_NUMBER = '+15550100';

const at8k = (text: string): Int16Array => resample(spoken(text), 8_000).samples;

interface CallBody {
  id: string;
  callSid: string | null;
  tenant: string;
  direction: string;
  status: string;
  answeredBy: string | null;
  endReason: string | null;
  error: string | null;
  conversationId: string | null;
  answeredAt: string | null;
  endedAt: string | null;
  durationS: number | null;
  events?: Array<{ source: string; status: string | null; answeredBy: string | null }>;
}

describe('outbound phone calls and call records (Twilio REST on its wire format)', () => {
  const tempDir = useTempDirs();
  const servers: Server[] = [];
  const fakes: FakeTwilioRest[] = [];
  const llms: FakeOpenAi[] = [];
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
    await Promise.all(llms.splice(0).map((llm) => llm.close()));
  });

  const agentDone = (call: SimulatedCall, after: number) => call.playedOut({ after });

  const setup = async (env: Record<string, string> = {}) => {
    // The fake's URL is needed in the server's settings, and the server's URL in the simulator.
    const simulatorOptions = { serverUrl: '', publicUrl: PUBLIC_URL, authToken: AUTH_TOKEN, accountSid: ACCOUNT_SID };
    const simulator = new TwilioSimulator(simulatorOptions);
    const rest = new FakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN, simulator);
    fakes.push(rest);
    await rest.start();
    const server = await startListeningServer(tempDir(), {
      HARKEN_TWILIO_ENABLED: 'true',
      HARKEN_TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      HARKEN_TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      HARKEN_TWILIO_PUBLIC_URL: PUBLIC_URL,
      HARKEN_TWILIO_NUMBERS: `${OUR_NUMBER}=echo`,
      HARKEN_TWILIO_API_BASE_URL: rest.url,
      HARKEN_TWILIO_OUTBOUND_ALLOW: '+1555*',
      ...env,
    });
    servers.push(server);
    (simulatorOptions as { serverUrl: string }).serverUrl = server.url;
    const caller = await server.createKey(['calls'], { tenant: 'acme' });
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    const place = async (body: Record<string, unknown>, key = caller) => server.inject({ method: 'POST', url: '/v1/calls', headers: as(key), payload: body });
    const show = async (id: string, key = caller) => (await server.inject({ method: 'GET', url: `/v1/calls/${id}`, headers: as(key) })).json() as CallBody;
    const until = async (id: string, predicate: (call: CallBody) => boolean, what: string) => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const call = await show(id);
        if (predicate(call)) return call;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(call)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    return { server, simulator, rest, caller, as, place, show, until };
  };

  it('places a call with the SDK, the agent speaks first when answered, callbacks build the record (retries change nothing), and hangup ends it through the API', async () => {
    const { server, rest, caller, as, place, show, until } = await setup();
    const response = await place({ to: '+15557654321', agent: 'echo' });
    expect(response.statusCode).toBe(201);
    const placed = response.json() as CallBody;
    expect(placed).toMatchObject({ direction: 'outbound', tenant: 'acme', status: 'queued', endReason: null });
    expect(placed.callSid).toMatch(/^CA[0-9a-f]{32}$/);

    // What the SDK sent is what Twilio's API takes: Basic auth, form fields, inline TwiML to our stream.
    const create = rest.requests.find((request) => request.path.endsWith('/Calls.json'))!;
    expect(create.method).toBe('POST');
    expect(create.path).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/Calls.json`);
    expect(create.basicAuth).toBe(`${ACCOUNT_SID}:${AUTH_TOKEN}`);
    expect(create.params).toMatchObject({ To: '+15557654321', From: OUR_NUMBER, Timeout: '30', StatusCallback: `${PUBLIC_URL}/v1/twilio/status?call=${placed.id}`, StatusCallbackMethod: 'POST' });
    expect(create.params.StatusCallbackEvent).toEqual(['initiated', 'ringing', 'answered', 'completed']);
    expect(create.params.Twiml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><Response><Connect><Stream url="wss:\/\/voice\.example\.test\/v1\/twilio\/media"><Parameter name="token" value="[A-Za-z0-9_-]{32}"\/><Parameter name="agent" value="echo"\/><\/Stream><\/Connect><\/Response>$/);
    expect(create.params.MachineDetection).toBeUndefined();

    const stream = await rest.answer(placed.callSid!);
    await stream.waitFor(() => stream.heardMs > 1_000, 20_000, 'the agent speaking first');
    const live = await until(placed.id, (call) => call.status === 'in-progress', 'in-progress');
    expect(live.answeredAt).not.toBeNull();
    expect(live.events!.filter((event) => event.source === 'twilio').map((event) => event.status)).toEqual(['initiated', 'ringing', 'in-progress']);

    // Twilio retries a callback: stored once.
    expect(await rest.repeatLastCallback(placed.callSid!)).toBe(204);
    expect((await show(placed.id)).events!.length).toBe(live.events!.length);

    // Another tenant's key sees nothing of it; a key without `calls` may not look.
    const stranger = await server.createKey(['calls'], { tenant: 'other' });
    expect((await server.inject({ method: 'GET', url: `/v1/calls/${placed.id}`, headers: as(stranger) })).statusCode).toBe(404);
    expect((await server.inject({ method: 'POST', url: `/v1/calls/${placed.id}/hangup`, headers: as(stranger) })).statusCode).toBe(404);
    expect((await server.inject({ method: 'GET', url: '/v1/calls', headers: as(stranger) })).json().calls).toEqual([]);
    const conversationsOnly = await server.createKey(['conversations'], { tenant: 'acme' });
    expect((await server.inject({ method: 'GET', url: '/v1/calls', headers: as(conversationsOnly) })).statusCode).toBe(403);
    expect((await place({ to: '+15557654321' }, conversationsOnly)).statusCode).toBe(403);

    const hungUp = await server.inject({ method: 'POST', url: `/v1/calls/${placed.id}/hangup`, headers: as(caller) });
    expect(hungUp.statusCode).toBe(200);
    expect(rest.find(placed.callSid!)!.updates).toEqual([{ Status: 'completed' }]);
    expect((await stream.closed).code).toBeGreaterThan(0);
    const ended = await until(placed.id, (call) => call.status === 'completed' && call.conversationId !== null, 'completed');
    expect(ended.endReason).toBe('api_hangup');
    expect(ended.endedAt).not.toBeNull();
    expect(ended.durationS).toBeGreaterThanOrEqual(0);
    // The conversation is the caller's tenant's, and holds the greeting the callee heard.
    const conversation = (await server.inject({ method: 'GET', url: `/v1/conversations/${ended.conversationId}` })).json() as { tenant: string; messages: Array<{ role: string }> };
    expect(conversation.tenant).toBe('acme');
    expect(conversation.messages[0]!.role).toBe('assistant');

    // A late, out-of-order callback does not move a finished call back.
    const late = { AccountSid: ACCOUNT_SID, CallSid: placed.callSid!, CallStatus: 'ringing', SequenceNumber: '1', Direction: 'outbound-api' };
    const lateUrl = `${PUBLIC_URL}/v1/twilio/status?call=${placed.id}`;
    const posted = await fetch(`${server.url}/v1/twilio/status?call=${placed.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, lateUrl, late) },
      body: new URLSearchParams(late).toString(),
    });
    expect(posted.status).toBe(204);
    expect((await show(placed.id)).status).toBe('completed');
    // A forged one is refused and audited.
    const forged = await fetch(`${server.url}/v1/twilio/status?call=${placed.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, `${PUBLIC_URL}/v1/twilio/status`, late) },
      body: new URLSearchParams({ ...late, CallStatus: 'in-progress' }).toString(),
    });
    expect(forged.status).toBe(403);
    const audit = (await server.inject({ method: 'GET', url: '/v1/admin/audit?action=twilio.callback_refused' })).json().events as unknown[];
    expect(audit).toHaveLength(1);

    const listed = (await server.inject({ method: 'GET', url: '/v1/calls?direction=outbound', headers: as(caller) })).json() as { calls: CallBody[] };
    expect(listed.calls.map((call) => call.id)).toEqual([placed.id]);
    expect((await server.inject({ method: 'POST', url: `/v1/calls/${placed.id}/hangup`, headers: as(caller) })).statusCode).toBe(409);
    // The auth token went out only as Basic auth and signatures: never into a log line.
    expect(server.logs.text).not.toContain(AUTH_TOKEN);
    expect(server.logs.text).not.toContain(Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64'));
  }, 60_000);

  it('two calls at once do not hear or store each other', async () => {
    const { simulator, server } = await setup();
    const [first, second] = await Promise.all([simulator.call({ from: '+15557650001' }), simulator.call({ from: '+15557650002' })]);
    const calls = [first.call!, second.call!];
    // The whole greeting first: counted from mid-greeting, its tail would pass for the reply.
    await Promise.all(calls.map((call) => call.playedOut({ timeoutMs: 20_000 })));
    const phrases = ['go forward ten meters', 'the weather is nice today'];
    const before = calls.map((call) => call.mediaReceived);
    await Promise.all(calls.map(async (call, index) => {
      await call.say(at8k(phrases[index]!));
      await call.silence(1_500);
    }));
    await Promise.all(calls.map((call, index) => agentDone(call, before[index]!)));
    for (const call of calls) call.hangUp();
    await Promise.all(calls.map((call) => call.closed));
    // The server closes each record once its session has stored what it held, just after the socket closed.
    const inbound = async () => (await server.inject({ method: 'GET', url: '/v1/calls?direction=inbound' })).json().calls as Array<CallBody & { from: string }>;
    await expect.poll(async () => (await inbound()).map((record) => record.status), { timeout: 10_000 }).toEqual(['completed', 'completed']);
    const records = await inbound();
    expect(records).toHaveLength(2);
    const said = await Promise.all(
      ['+15557650001', '+15557650002'].map(async (from) => {
        const record = records.find((entry) => entry.from === from)!;
        expect(record).toMatchObject({ status: 'completed', endReason: 'caller_hung_up' });
        const conversation = (await server.inject({ method: 'GET', url: `/v1/conversations/${record.conversationId}` })).json() as { messages: Array<{ role: string; text: string }> };
        const users = conversation.messages.filter((message) => message.role === 'user');
        // Each conversation holds its own caller's one utterance and the echo of it.
        expect(users).toHaveLength(1);
        expect(conversation.messages.at(-1)!.text).toBe(`You said: ${users[0]!.text}`);
        return users[0]!.text;
      }),
    );
    expect(said[0]).not.toBe(said[1]);
    expect(new Set(records.map((record) => record.conversationId)).size).toBe(2);
  }, 60_000);

  it('refuses what it must not dial, reports Twilio’s own refusal, and frees the place of a call nobody answered', async () => {
    const { rest, place, show } = await setup({ HARKEN_TWILIO_MAX_CONCURRENT_CALLS: '1' });
    expect((await place({ to: '+447700900123' })).json().error.code).toBe('number_not_allowed');
    expect((await place({ to: '5557654321' })).statusCode).toBe(400);
    expect((await place({ to: '+15557654321', from: '+15550111' })).json().error.code).toBe('unknown_caller_id');
    expect((await place({ to: '+15557654321', agent: 'nobody' })).json().error.code).toBe('unknown_agent');
    expect(rest.requests).toHaveLength(0);

    rest.failNextCreate = { status: 400, code: 21211, message: "The 'To' number +15557654321 is not a valid phone number." };
    const refused = await place({ to: '+15557654321' });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toMatchObject({ code: 'twilio_rejected' });
    expect(refused.json().error.message).toContain('21211');

    const first = (await place({ to: '+15557654321' })).json() as CallBody;
    // One call ringing holds the only place.
    const second = await place({ to: '+15557654322' });
    expect(second.statusCode).toBe(429);
    expect(second.json().error.code).toBe('too_many_calls');
    await rest.unanswered(first.callSid!, 'no-answer');
    const unanswered = await show(first.id);
    expect(unanswered).toMatchObject({ status: 'no-answer', answeredAt: null });
    expect(unanswered.endedAt).not.toBeNull();
    expect((await place({ to: '+15557654322' })).statusCode).toBe(201);
  }, 30_000);

  it('answering-machine detection: a machine is hung up on without the agent speaking; a person is greeted once Twilio says so', async () => {
    const { server, rest, caller, as, place, until } = await setup({ HARKEN_TWILIO_MACHINE_DETECTION: 'true' });
    const machine = (await place({ to: '+15557654321' })).json() as CallBody;
    const create = rest.requests.find((request) => request.path.endsWith('/Calls.json'))!;
    expect(create.params).toMatchObject({ MachineDetection: 'Enable', AsyncAmd: 'true', AsyncAmdStatusCallback: `${PUBLIC_URL}/v1/twilio/status?call=${machine.id}`, AsyncAmdStatusCallbackMethod: 'POST', MachineDetectionTimeout: '30' });
    const machineStream = await rest.answer(machine.callSid!, { answeredBy: 'machine_start', amdDelayMs: 800 });
    await machineStream.closed;
    expect(machineStream.mediaReceived).toBe(0);
    expect(rest.find(machine.callSid!)!.updates).toEqual([{ Status: 'completed' }]);
    const ended = await until(machine.id, (call) => call.status === 'completed', 'machine call completed');
    expect(ended).toMatchObject({ answeredBy: 'machine_start', endReason: 'machine' });

    const person = (await place({ to: '+15557654321' })).json() as CallBody;
    const started = Date.now();
    const personStream = await rest.answer(person.callSid!, { answeredBy: 'human', amdDelayMs: 1_000 });
    await personStream.waitFor(() => personStream.mediaReceived > 0, 20_000, 'the greeting');
    // The agent waited for the verdict before greeting.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect((await until(person.id, (call) => call.answeredBy !== null, 'verdict')).answeredBy).toBe('human');
    // Status callbacks after the verdict repeat AnsweredBy: they are still statuses, stored as such.
    expect((await server.inject({ method: 'POST', url: `/v1/calls/${person.id}/hangup`, headers: as(caller) })).statusCode).toBe(200);
    const personEnded = await until(person.id, (call) => call.events!.some((event) => event.source === 'twilio' && event.status === 'completed'), 'Twilio’s completed callback');
    expect(personEnded).toMatchObject({ status: 'completed', answeredBy: 'human', endReason: 'api_hangup' });
  }, 60_000);

  it('Twilio ahead of its own answer: a callee who picks up before the create is answered is greeted, and a busy line reported before it frees the place at once', async () => {
    const { server, rest, place, show } = await setup({ HARKEN_TWILIO_MAX_CONCURRENT_CALLS: '1' });
    let stream: SimulatedCall | undefined;
    rest.beforeCreateAnswer = async (sid) => {
      stream = await rest.answer(sid);
    };
    const picked = (await place({ to: '+15557654321' })).json() as CallBody;
    await stream!.waitFor(() => stream!.heardMs > 1_000, 20_000, 'the agent speaking first');
    stream!.hangUp();
    await stream!.closed;
    await expect.poll(() => server.harken.voice!.calls.size, { timeout: 5_000 }).toBe(0);
    expect((await show(picked.id)).status).toBe('completed');

    // Picked up and hung up again before the create's answer came: the line that is gone holds no place.
    rest.beforeCreateAnswer = async (sid) => {
      const brief = await rest.answer(sid);
      brief.hangUp();
      await brief.closed;
      await new Promise((resolve) => setTimeout(resolve, 300));
    };
    await place({ to: '+15557654324' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.harken.voice!.calls.size).toBe(0);

    rest.beforeCreateAnswer = (sid) => rest.unanswered(sid, 'busy');
    const busy = (await place({ to: '+15557654322' })).json() as CallBody;
    expect((await show(busy.id)).status).toBe('busy');
    // Nothing will settle it later: the place is free now, not when its token would expire.
    expect(server.harken.voice!.calls.size).toBe(0);
    expect((await place({ to: '+15557654323' })).statusCode).toBe(201);
  }, 60_000);

  it('a hang-up Twilio refuses is not recorded: the call goes on, and a later hang-up is', async () => {
    const { server, rest, caller, as, place, show, until } = await setup();
    const placed = (await place({ to: '+15557654321' })).json() as CallBody;
    const stream = await rest.answer(placed.callSid!);
    await stream.waitFor(() => stream.heardMs > 500, 20_000, 'greeting');
    rest.failNextUpdate = { status: 503, code: 20503, message: 'Service Unavailable' };
    const refused = await server.inject({ method: 'POST', url: `/v1/calls/${placed.id}/hangup`, headers: as(caller) });
    expect(refused.statusCode).toBe(502);
    expect(await show(placed.id)).toMatchObject({ status: 'in-progress', endReason: null });
    expect(server.harken.voice!.calls.connection(placed.callSid!)).toBeDefined();
    // The callee hangs up themselves: that is the reason on record, not the API hang-up that failed.
    stream.hangUp();
    expect(await until(placed.id, (call) => call.status === 'completed', 'completed')).toMatchObject({ endReason: 'caller_hung_up' });
  }, 60_000);

  it('leaves a voicemail after the beep with twilio.onMachine=voicemail, stores it, then hangs up', async () => {
    const { server, rest, place, until } = await setup({ HARKEN_TWILIO_MACHINE_DETECTION: 'true', HARKEN_TWILIO_ON_MACHINE: 'voicemail' });
    const message = 'This is the clinic calling about your appointment. Please call us back.';
    const call = (await place({ to: '+15557654321', voicemailMessage: message })).json() as CallBody;
    expect(rest.requests[0]!.params.MachineDetection).toBe('DetectMessageEnd');
    const stream = await rest.answer(call.callSid!, { answeredBy: 'machine_end_beep', amdDelayMs: 500 });
    await stream.closed;
    // The whole message was played before the hang-up.
    expect(stream.heardMs).toBeGreaterThan(2_500);
    expect(rest.find(call.callSid!)!.updates).toEqual([{ Status: 'completed' }]);
    const ended = await until(call.id, (record) => record.status === 'completed' && record.conversationId !== null, 'completed');
    expect(ended).toMatchObject({ answeredBy: 'machine_end_beep', endReason: 'voicemail_left' });
    const conversation = (await server.inject({ method: 'GET', url: `/v1/conversations/${ended.conversationId}` })).json() as { status: string; messages: Array<{ role: string; text: string; interrupted: boolean }> };
    expect(conversation.status).toBe('voicemail');
    expect(conversation.messages).toMatchObject([{ role: 'assistant', text: message, interrupted: false }]);
  }, 60_000);

  it('the agent’s end_call hangs up and its transfer dials the target, both through Twilio’s REST API', async () => {
    const llm = await startFakeOpenAi();
    llms.push(llm);
    const { simulator, rest, server } = await setup({
      HARKEN_TWILIO_NUMBERS: `${OUR_NUMBER}=assistant`,
      HARKEN_LLM_MODEL: 'phone-model',
      HARKEN_LLM_BASE_URL: llm.url,
      HARKEN_LLM_RETRIES: '0',
      HARKEN_LLM_GREETING: 'Hello, clinic desk.',
      HARKEN_LLM_TOOLS: 'end_call,transfer',
      HARKEN_LLM_TRANSFER_TARGETS: 'desk=+15550199',
    });
    const inbound = async () => {
      const { answer, call } = await simulator.call({ to: OUR_NUMBER });
      if (!call) throw new Error(`not answered: ${JSON.stringify(answer)}`);
      rest.adopt(call, { from: '+15557654321', to: OUR_NUMBER });
      await call.waitFor(() => call.heardMs > 500, 20_000, 'greeting');
      return call;
    };
    const speak = async (call: SimulatedCall, text: string) => {
      await call.say(at8k(text));
      await call.silence(1_200);
    };

    llm.queue.push({ kind: 'stream', toolCalls: [{ name: 'transfer', arguments: '{"destination":"desk"}' }] }, { kind: 'stream', text: ['Transferring you to the desk now.'] });
    const transferred = await inbound();
    await speak(transferred, 'I would like to talk to a person please');
    await transferred.closed;
    const redirect = rest.find(transferred.callSid)!.updates;
    expect(redirect).toHaveLength(1);
    expect(redirect[0]!.Twiml).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Number>+15550199</Number></Dial></Response>');
    const calls = (await server.inject({ method: 'GET', url: '/v1/calls?direction=inbound' })).json().calls as CallBody[];
    const transferRecord = calls.find((record) => record.callSid === transferred.callSid)!;
    expect(transferRecord.endReason).toBe('transferred');

    llm.queue.push({ kind: 'stream', toolCalls: [{ name: 'end_call', arguments: '{"reason":"caller is done"}' }] }, { kind: 'stream', text: ['Goodbye, take care.'] });
    const ending = await inbound();
    await speak(ending, 'That is all thank you goodbye');
    await ending.closed;
    expect(rest.find(ending.callSid)!.updates).toEqual([{ Status: 'completed' }]);
    // The goodbye was heard before the hang-up.
    expect(ending.heardMs).toBeGreaterThan(1_500);
    const endRecord = ((await server.inject({ method: 'GET', url: '/v1/calls?direction=inbound' })).json().calls as CallBody[]).find((record) => record.callSid === ending.callSid)!;
    expect(endRecord).toMatchObject({ status: 'completed', endReason: 'agent_ended' });

    // Twilio refuses the redirect: not recorded as transferred; the call ends, and its record says why.
    llm.queue.push({ kind: 'stream', toolCalls: [{ name: 'transfer', arguments: '{"destination":"desk"}' }] }, { kind: 'stream', text: ['Transferring you to the desk now.'] });
    const failing = await inbound();
    rest.failNextUpdate = { status: 503, code: 20503, message: 'Service Unavailable' };
    await speak(failing, 'Put me through to the desk please');
    await failing.closed;
    expect(rest.find(failing.callSid)!.updates).toEqual([]);
    const failedTransfer = async () => ((await server.inject({ method: 'GET', url: '/v1/calls?direction=inbound' })).json().calls as CallBody[]).find((record) => record.callSid === failing.callSid)!;
    await expect.poll(async () => (await failedTransfer()).status, { timeout: 5_000 }).toBe('completed');
    expect(await failedTransfer()).toMatchObject({ endReason: 'transfer_failed', error: expect.stringContaining('Service Unavailable') });
  }, 120_000);

  it('harken calls place|list|show|hangup drive the same API, with --json and exit codes', async () => {
    const { server, rest, caller } = await setup();
    const cli = (args: string[], key = caller) => runCliAsync(['calls', ...args, '--url', server.url], { cwd: tempDir(), env: { HARKEN_API_KEY: key } });

    const placed = await cli(['place', '--to', '+15557654321', '--agent', 'echo', '--json']);
    expect(placed.status).toBe(0);
    const call = JSON.parse(placed.stdout) as CallBody;
    expect(call).toMatchObject({ direction: 'outbound', status: 'queued', tenant: 'acme' });
    expect(rest.requests.filter((request) => request.path.endsWith('/Calls.json'))).toHaveLength(1);

    const listed = await cli(['list', '--json']);
    expect(JSON.parse(listed.stdout).calls.map((entry: CallBody) => entry.id)).toEqual([call.id]);
    const shown = await cli(['show', call.id]);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toContain(`call sid ${call.callSid}`);
    expect(shown.stdout).toContain('queued');

    const hungUp = await cli(['hangup', call.id, '--json']);
    expect(hungUp.status).toBe(0);
    // Still ringing: cancelled rather than completed.
    expect(rest.find(call.callSid!)!.updates).toEqual([{ Status: 'canceled' }]);
    expect(JSON.parse(hungUp.stdout)).toMatchObject({ id: call.id, status: 'canceled', endReason: 'api_hangup' });

    // Failures: the server's refusal is one line and exit 1; misuse is exit 2.
    const again = await cli(['hangup', call.id]);
    expect(again.status).toBe(1);
    expect(again.stderr).toBe('harken: 409 call_ended: the call has ended (status canceled)\n');
    expect((await cli(['place', '--to', '5557654321'])).status).toBe(2);
    expect((await cli(['show', 'not-an-id'])).status).toBe(2);
    const noKey = await runCliAsync(['calls', 'list', '--url', server.url], { cwd: tempDir() });
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toContain('HARKEN_API_KEY');
  }, 60_000);

  it('the intake questionnaire over a phone call: spoken answers in 8 kHz μ-law, keypad answers to yes/no questions, the goodbye heard, then hung up through the API', async () => {
    const { simulator, rest, server } = await setup({ HARKEN_TWILIO_NUMBERS: `${OUR_NUMBER}=intake` });
    const { answer, call } = await simulator.call({ to: OUR_NUMBER });
    if (!call) throw new Error(`not answered: ${JSON.stringify(answer)}`);
    rest.adopt(call, { from: '+15557654321', to: OUR_NUMBER });
    await agentDone(call, 0);
    const turns: Array<{ say: string } | { press: string }> = [
      { say: 'jane doe' },
      // Date of birth on the keypad: month, day, year.
      { press: '03051982#' },
      { say: 'a sore throat' },
      // "Do you have any allergies?" — 2 for no; "Are you taking any medication?" — 2 for no.
      { press: '2' },
      { press: '2#' },
      // Consent on the keypad too: short spoken yes/no answers are where the wideband model is least sure on a phone line.
      { press: '1' },
    ];
    for (const turn of turns) {
      const before = call.mediaReceived;
      if ('say' in turn) {
        await call.say(at8k(turn.say));
        await call.silence(1_200);
      } else {
        for (const key of turn.press) call.dtmf(key);
      }
      await agentDone(call, before).catch(async (error: unknown) => {
        const list = (await server.inject({ method: 'GET', url: '/v1/conversations?limit=1' })).json().conversations as Array<{ id: string }>;
        const messages = (await server.inject({ method: 'GET', url: `/v1/conversations/${list[0]!.id}` })).json().messages as Array<{ role: string; text: string }>;
        throw new Error(`${(error as Error).message} after ${JSON.stringify(turn)}; so far: ${messages.map((message) => `${message.role}: ${message.text}`).join(' | ')}`);
      });
    }
    await call.closed;
    expect(rest.find(call.callSid)!.updates).toEqual([{ Status: 'completed' }]);
    const record = ((await server.inject({ method: 'GET', url: '/v1/calls?direction=inbound' })).json().calls as CallBody[])[0]!;
    expect(record).toMatchObject({ status: 'completed', endReason: 'agent_ended' });
    const stored = (await server.inject({ method: 'GET', url: `/v1/conversations/${record.conversationId}` })).json() as { status: string; data: Record<string, unknown>; messages: Array<{ role: string; text: string; interrupted: boolean }> };
    expect(stored.status).toBe('completed');
    expect(stored.data).toMatchObject({ dateOfBirth: '1982-03-05', hasAllergies: false, takesMedication: false, consent: true });
    // Spoken answers are stored as recognised: PocketSphinx's wideband model on telephone audio
    // gets words wrong ("a sore throat" → "and by thread"), so only their presence is certain.
    const said = stored.messages.filter((message) => message.role === 'user').map((message) => message.text);
    expect(said).toHaveLength(6);
    expect(said.slice(1, 2).concat(said.slice(3))).toEqual(['03051982', '2', '2', '1']);
    expect(stored.data.name).toBe(said[0]);
    expect(stored.data.symptoms).toBe(said[2]);
    // The goodbye was played whole before the hang-up.
    expect(stored.messages.at(-1)).toMatchObject({ role: 'assistant', interrupted: false });
    expect(stored.messages.at(-1)!.text).toMatch(/Goodbye\.$/);
  }, 120_000);
});
