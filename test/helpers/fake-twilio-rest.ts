import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';
import { twilioSid, type SimulatedCall, type TwilioSimulator } from './twilio-simulator.js';

/** One request the SDK made, as Twilio would receive it (repeated keys as arrays). */
export interface RestRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Record<string, string | string[]>;
  readonly basicAuth: string | undefined;
}

interface FakeCall {
  readonly sid: string;
  readonly to: string;
  readonly from: string;
  status: string;
  readonly params: Record<string, string | string[]>;
  sequence: number;
  stream?: SimulatedCall;
  answeredAt?: number;
  /** The AMD verdict once given: Twilio repeats it on the status callbacks that follow. */
  answeredBy?: string;
  readonly updates: Array<Record<string, string | string[]>>;
}

const API = '/2010-04-01/Accounts/';

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/**
 * Plays Twilio's REST API (`/2010-04-01/Accounts/{sid}/Calls.json`) on its real wire format:
 * HTTP Basic auth with the account SID and auth token, form-encoded parameters, JSON call
 * resources and JSON error bodies (code, message, more_info, status). It also plays the phone
 * network for the calls it "places": signed status callbacks with sequence numbers, the AMD
 * callback, and the media stream of the answered call (through the TwilioSimulator).
 */
export class FakeTwilioRest {
  readonly requests: RestRequest[] = [];
  readonly calls = new Map<string, FakeCall>();
  /** The next create answers with this Twilio error instead. */
  failNextCreate: { status: number; code: number; message: string } | undefined;
  /** The next call update (hang-up, redirect) answers with this Twilio error and changes nothing. */
  failNextUpdate: { status: number; code: number; message: string } | undefined;
  /**
   * Runs after a call is created and before Twilio's answer to the create is sent: what Twilio
   * may do meanwhile (the callee picks up, the line is busy) reaches Harken first.
   */
  beforeCreateAnswer: ((sid: string) => Promise<unknown>) | undefined;
  private server: Server | undefined;
  url = '';

  constructor(private readonly accountSid: string, private readonly authToken: string, private readonly simulator: TwilioSimulator) {}

  async start(): Promise<string> {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  private readonly timers = new Set<NodeJS.Timeout>();

  /** Callbacks Twilio sends on its own a moment later; dropped when the test is over. */
  private later(ms: number, work: () => Promise<unknown>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      work().catch(() => undefined);
    }, ms);
    this.timers.add(timer);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    for (const call of this.calls.values()) call.stream?.drop();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The call rings and is picked up: progress callbacks, the media stream from the TwiML, the AMD verdict when asked for. */
  async answer(sid: string, options: { answeredBy?: string; amdDelayMs?: number } = {}): Promise<SimulatedCall> {
    const call = this.mustFind(sid);
    await this.progress(call, 'initiated');
    await this.progress(call, 'ringing');
    call.answeredAt = Date.now();
    await this.progress(call, 'in-progress');
    const twiml = first(call.params.Twiml) ?? '';
    const streamUrl = /<Stream url="([^"]+)"/.exec(twiml)?.[1];
    if (!streamUrl) throw new Error(`the call's TwiML has no <Stream>: ${twiml}`);
    const parameters: Record<string, string> = {};
    for (const [, name, value] of twiml.matchAll(/<Parameter name="([^"]+)" value="([^"]*)"\/>/g)) parameters[name as string] = value as string;
    call.stream = await this.simulator.connect(streamUrl, { callSid: sid, parameters });
    if (first(call.params.MachineDetection) && options.answeredBy) {
      const answeredBy = options.answeredBy;
      this.later(options.amdDelayMs ?? 300, () => this.amd(call, answeredBy));
    }
    return call.stream;
  }

  /** An inbound call Twilio is carrying (answered through the Voice webhook), so REST updates can reach it. */
  adopt(stream: SimulatedCall, options: { from: string; to: string }): void {
    this.calls.set(stream.callSid, { sid: stream.callSid, to: options.to, from: options.from, status: 'in-progress', params: {}, sequence: 0, stream, answeredAt: Date.now(), updates: [] });
  }

  /** The call was not picked up: ringing, then the final status. */
  async unanswered(sid: string, status: 'no-answer' | 'busy' | 'failed'): Promise<void> {
    const call = this.mustFind(sid);
    await this.progress(call, 'initiated');
    await this.progress(call, 'ringing');
    await this.progress(call, status);
  }

  /** Posts one status callback again, unchanged (what Twilio does when it retries). */
  async repeatLastCallback(sid: string): Promise<number> {
    const call = this.mustFind(sid);
    return this.post(call, this.lastCallback as Record<string, string>);
  }

  private lastCallback: Record<string, string> | undefined;

  find(sid: string): FakeCall | undefined {
    return this.calls.get(sid);
  }

  private mustFind(sid: string): FakeCall {
    const call = this.calls.get(sid);
    if (!call) throw new Error(`no call ${sid}`);
    return call;
  }

  private async progress(call: FakeCall, status: string): Promise<void> {
    call.status = status;
    call.sequence += 1;
    const final = ['completed', 'busy', 'no-answer', 'failed', 'canceled'].includes(status);
    await this.post(call, {
      AccountSid: this.accountSid,
      ApiVersion: '2010-04-01',
      CallSid: call.sid,
      CallStatus: status,
      Called: call.to,
      Caller: call.from,
      Direction: 'outbound-api',
      From: call.from,
      To: call.to,
      SequenceNumber: String(call.sequence - 1),
      Timestamp: new Date().toUTCString(),
      CallbackSource: 'call-progress-events',
      ...(call.answeredBy ? { AnsweredBy: call.answeredBy } : {}),
      ...(final ? { CallDuration: String(call.answeredAt ? Math.round((Date.now() - call.answeredAt) / 1000) : 0) } : {}),
    });
  }

  private async amd(call: FakeCall, answeredBy: string): Promise<void> {
    const url = first(call.params.AsyncAmdStatusCallback);
    if (!url) return;
    call.answeredBy = answeredBy;
    await this.post(call, { AccountSid: this.accountSid, CallSid: call.sid, AnsweredBy: answeredBy, MachineDetectionDuration: '2150' }, url);
  }

  /** Signs and posts a callback to the URL the call was created with, as Twilio does. */
  private async post(call: FakeCall, params: Record<string, string>, url = first(call.params.StatusCallback)): Promise<number> {
    if (!url) return 0;
    this.lastCallback = params;
    const signature = twilio.getExpectedTwilioSignature(this.authToken, url, params);
    const local = url.replace(this.simulator.options.publicUrl, this.simulator.options.serverUrl);
    const response = await fetch(local, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(params).toString() });
    await response.arrayBuffer();
    return response.status;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const params: Record<string, string | string[]> = {};
    for (const [key, value] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) {
      const existing = params[key];
      params[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
    }
    const path = (request.url ?? '').split('?')[0] as string;
    const basicAuth = request.headers.authorization?.startsWith('Basic ') ? Buffer.from(request.headers.authorization.slice(6), 'base64').toString('utf8') : undefined;
    this.requests.push({ method: request.method ?? '', path, params, basicAuth });
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      response.end(JSON.stringify(body));
    };
    const error = (status: number, code: number, message: string) => send(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
    if (basicAuth !== `${this.accountSid}:${this.authToken}`) return error(401, 20003, 'Authenticate');
    const base = `${API}${this.accountSid}/Calls`;
    if (request.method === 'POST' && path === `${base}.json`) {
      if (this.failNextCreate) {
        const failure = this.failNextCreate;
        this.failNextCreate = undefined;
        return error(failure.status, failure.code, failure.message);
      }
      const to = first(params.To);
      const from = first(params.From);
      if (!to) return error(400, 21201, "No 'To' number is specified");
      if (!from) return error(400, 21213, "No 'From' number is specified");
      if (!first(params.Twiml) && !first(params.Url)) return error(400, 21205, 'Url or Twiml is required');
      const sid = twilioSid('CA');
      const call: FakeCall = { sid, to, from, status: 'queued', params, sequence: 0, updates: [] };
      this.calls.set(sid, call);
      const meanwhile = this.beforeCreateAnswer;
      this.beforeCreateAnswer = undefined;
      const resource = this.resource(call);
      if (meanwhile) await meanwhile(sid);
      return send(201, resource);
    }
    const update = new RegExp(`^${base}/(CA[0-9a-f]{32})\\.json$`).exec(path);
    if (request.method === 'POST' && update) {
      const call = this.calls.get(update[1] as string);
      if (!call) return error(404, 20404, `The requested resource ${path} was not found`);
      if (this.failNextUpdate) {
        const failure = this.failNextUpdate;
        this.failNextUpdate = undefined;
        return error(failure.status, failure.code, failure.message);
      }
      call.updates.push(params);
      const status = first(params.Status);
      const live = call.status === 'in-progress';
      if (first(params.Twiml)) {
        // Redirected: the stream ends (Twilio sends `stop`), the call goes on with the new TwiML.
        call.stream?.hangUp();
      } else if (status === 'completed' || (status === 'canceled' && !live)) {
        call.stream?.hangUp();
        const final = live ? 'completed' : 'canceled';
        this.later(10, () => this.progress(call, final));
        call.status = final;
      } else if (status && status !== 'canceled') return error(400, 21218, `Invalid Status: ${status}`);
      return send(200, this.resource(call));
    }
    return error(404, 20404, `The requested resource ${path} was not found`);
  }

  private resource(call: FakeCall): Record<string, unknown> {
    return {
      account_sid: this.accountSid,
      annotation: null,
      answered_by: null,
      api_version: '2010-04-01',
      caller_name: null,
      date_created: new Date().toUTCString(),
      date_updated: new Date().toUTCString(),
      direction: 'outbound-api',
      duration: null,
      end_time: null,
      forwarded_from: null,
      from: call.from,
      from_formatted: call.from,
      group_sid: null,
      parent_call_sid: null,
      phone_number_sid: twilioSid('PN'),
      price: null,
      price_unit: 'USD',
      sid: call.sid,
      start_time: null,
      status: call.status,
      subresource_uris: { notifications: `${API}${this.accountSid}/Calls/${call.sid}/Notifications.json`, recordings: `${API}${this.accountSid}/Calls/${call.sid}/Recordings.json` },
      to: call.to,
      to_formatted: call.to,
      trunk_sid: null,
      uri: `${API}${this.accountSid}/Calls/${call.sid}.json`,
      queue_time: '0',
    };
  }
}
