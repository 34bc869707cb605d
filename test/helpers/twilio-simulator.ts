import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import alawmulaw from 'alawmulaw';
import twilio from 'twilio';
import WebSocket from 'ws';

/** Twilio ids look like a two-letter prefix and 32 hex digits. */
export const twilioSid = (prefix: string): string => `${prefix}${randomBytes(16).toString('hex')}`;

export interface SimulatorOptions {
  /** Where the server really listens (http://127.0.0.1:port). */
  readonly serverUrl: string;
  /** twilio.publicUrl: what Twilio calls and signs. */
  readonly publicUrl: string;
  readonly authToken: string;
  readonly accountSid: string;
  /** PEM certificate to trust when serverUrl is https (a test's self-signed certificate behind nginx). */
  readonly ca?: string;
}

/** An HTTPS POST that trusts `ca` (global fetch cannot be given a CA per request). */
const postTrusting = (url: string, ca: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> =>
  new Promise((resolve, reject) => {
    const request = httpsRequest(url, { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body).toString() }, ca }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    });
    request.on('error', reject);
    request.end(body);
  });

export type WebhookAnswer =
  | { readonly kind: 'stream'; readonly streamUrl: string; readonly parameters: Record<string, string>; readonly twiml: string }
  | { readonly kind: 'reject'; readonly reason: string; readonly twiml: string }
  | { readonly kind: 'http'; readonly status: number; readonly body: string };

const attribute = (tag: string, name: string): string | undefined => new RegExp(`${name}="([^"]*)"`).exec(tag)?.[1]?.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>');

/**
 * Plays Twilio for tests, on its real wire formats: signs and posts the Voice webhook
 * (form-encoded, `X-Twilio-Signature` from the twilio SDK over twilio.publicUrl), reads the
 * TwiML, opens the media stream with a signed upgrade, and streams a call.
 */
export class TwilioSimulator {
  constructor(readonly options: SimulatorOptions) {}

  /** POSTs the Voice webhook as Twilio does; `tamper` changes the request after signing. */
  async webhook(params: Record<string, string>, tamper: { signature?: string; addParam?: Record<string, string>; signedUrl?: string } = {}): Promise<WebhookAnswer> {
    const url = `${this.options.publicUrl}/v1/twilio/voice`;
    const signature = tamper.signature ?? twilio.getExpectedTwilioSignature(this.options.authToken, tamper.signedUrl ?? url, params);
    const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature, 'i-twilio-idempotency-token': randomBytes(8).toString('hex') };
    const form = new URLSearchParams({ ...params, ...tamper.addParam }).toString();
    const target = `${this.options.serverUrl}/v1/twilio/voice`;
    let status: number;
    let body: string;
    if (this.options.ca) ({ status, text: body } = await postTrusting(target, this.options.ca, headers, form));
    else {
      const response = await fetch(target, { method: 'POST', headers, body: form });
      status = response.status;
      body = await response.text();
    }
    if (status !== 200) return { kind: 'http', status, body };
    const reject = /<Reject[^>]*\/?>/.exec(body)?.[0];
    if (reject) return { kind: 'reject', reason: attribute(reject, 'reason') ?? '', twiml: body };
    const stream = /<Stream[^>]*>/.exec(body)?.[0];
    if (!stream) throw new Error(`TwiML without <Stream> or <Reject>: ${body}`);
    const parameters: Record<string, string> = {};
    for (const tag of body.match(/<Parameter[^>]*\/>/g) ?? []) parameters[attribute(tag, 'name') as string] = attribute(tag, 'value') as string;
    return { kind: 'stream', streamUrl: attribute(stream, 'url') as string, parameters, twiml: body };
  }

  /** An inbound call: the webhook, then (when answered with a stream) the media stream. */
  async call(options: { from?: string; to?: string; callSid?: string } = {}): Promise<{ answer: WebhookAnswer; call?: SimulatedCall }> {
    const callSid = options.callSid ?? twilioSid('CA');
    const answer = await this.webhook({ AccountSid: this.options.accountSid, CallSid: callSid, From: options.from ?? '+15557654321', To: options.to ?? '+15550100', CallStatus: 'ringing', Direction: 'inbound', ApiVersion: '2010-04-01' });
    if (answer.kind !== 'stream') return { answer };
    return { answer, call: await this.connect(answer.streamUrl, { callSid, parameters: answer.parameters }) };
  }

  /** Opens a media stream as Twilio does (signed upgrade of the wss URL from the TwiML), then `connected` and `start`. */
  async connect(streamUrl: string, options: { callSid: string; parameters: Record<string, string>; signature?: string; accountSid?: string; start?: boolean }): Promise<SimulatedCall> {
    const signature = options.signature ?? twilio.getExpectedTwilioSignature(this.options.authToken, streamUrl, {});
    const local = streamUrl.replace(this.options.publicUrl.replace(/^http/, 'ws'), this.options.serverUrl.replace(/^http/, 'ws'));
    const socket = new WebSocket(local, { headers: { 'x-twilio-signature': signature }, ...(this.options.ca ? { ca: this.options.ca } : {}) });
    const call = new SimulatedCall(socket, options.callSid, options.accountSid ?? this.options.accountSid, options.parameters);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused: ${response.statusCode}`)));
    });
    call.begin(options.start !== false);
    return call;
  }
}

type Outbound = { kind: 'audio'; samples: Int16Array } | { kind: 'mark'; name: string };

/**
 * One simulated call's media stream. Reply audio is "played" at real time from a buffer, as
 * Twilio does: a mark is echoed only once the audio queued before it has played; `clear`
 * drops the buffered audio and returns the pending marks at once.
 */
export class SimulatedCall {
  readonly streamSid = twilioSid('MZ');
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Reply audio that has played, decoded. */
  readonly heard: Int16Array[] = [];
  readonly marksEchoed: string[] = [];
  clears = 0;
  mediaReceived = 0;
  /** Media messages received after the most recent clear. */
  mediaSinceClear = 0;
  readonly received: Array<Record<string, unknown>> = [];
  /** Each reply media message as it arrived (performance.now()) with its length in samples: for measuring what a caller would hear. */
  readonly mediaLog: Array<{ readonly at: number; readonly samples: number }> = [];
  private sequence = 0;
  private chunk = 0;
  private readonly buffer: Outbound[] = [];
  private player: NodeJS.Timeout | undefined;

  constructor(private readonly socket: WebSocket, readonly callSid: string, private readonly accountSid: string, private readonly parameters: Record<string, string>) {
    this.closed = new Promise((resolve) =>
      socket.on('close', (code, reason) => {
        this.stopPlaying();
        resolve({ code, reason: reason.toString() });
      }),
    );
    socket.on('message', (data) => this.onMessage(JSON.parse(data.toString()) as Record<string, unknown>));
  }

  /** Most reply audio held unplayed at once (what the server sent ahead of playback). */
  maxBufferedMs = 0;

  begin(start = true): void {
    this.sendJson({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    if (!start) return;
    this.sendJson({
      event: 'start',
      sequenceNumber: this.nextSequence(),
      start: {
        accountSid: this.accountSid,
        streamSid: this.streamSid,
        callSid: this.callSid,
        tracks: ['inbound'],
        customParameters: this.parameters,
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
      streamSid: this.streamSid,
    });
    // Twilio plays buffered audio in real time, 8 samples per ms. Counted from the clock, not per
    // timer tick: on a loaded machine the ticks come late, and playback must not fall behind.
    let lastTick = performance.now();
    let owed = 0;
    this.player = setInterval(() => {
      const now = performance.now();
      owed += (now - lastTick) * 8;
      lastTick = now;
      const samples = Math.floor(owed);
      owed -= samples;
      this.play(samples);
    }, 20);
  }

  /** Reply audio received and not yet played (with the marks after it not yet echoed). */
  get bufferedItems(): number {
    return this.buffer.length;
  }

  /** Milliseconds of reply audio played so far. */
  get heardMs(): number {
    return (this.heard.reduce((sum, chunk) => sum + chunk.length, 0) / 8000) * 1000;
  }

  /** Caller audio (8 kHz s16), sent as 20 ms μ-law media messages, at real time unless told otherwise. */
  async say(samples: Int16Array, options: { realTime?: boolean } = {}): Promise<void> {
    const started = Date.now();
    for (let offset = 0, index = 0; offset < samples.length; offset += 160, index += 1) {
      if (this.socket.readyState !== WebSocket.OPEN) return;
      if (options.realTime !== false) {
        const wait = started + index * 20 - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      const frame = new Int16Array(160);
      frame.set(samples.subarray(offset, offset + 160));
      this.chunk += 1;
      this.sendJson({
        event: 'media',
        sequenceNumber: this.nextSequence(),
        media: { track: 'inbound', chunk: String(this.chunk), timestamp: String(index * 20), payload: Buffer.from(alawmulaw.mulaw.encode(frame)).toString('base64') },
        streamSid: this.streamSid,
      });
    }
  }

  silence(ms: number, options: { realTime?: boolean } = {}): Promise<void> {
    return this.say(new Int16Array((ms * 8000) / 1000), options);
  }

  dtmf(digit: string): void {
    this.sendJson({ event: 'dtmf', streamSid: this.streamSid, sequenceNumber: this.nextSequence(), dtmf: { track: 'inbound_track', digit } });
  }

  /** The caller hangs up: Twilio sends `stop` and closes the stream. */
  hangUp(): void {
    this.sendJson({ event: 'stop', sequenceNumber: this.nextSequence(), streamSid: this.streamSid, stop: { accountSid: this.accountSid, callSid: this.callSid } });
    this.stopPlaying();
    this.socket.close(1000);
  }

  /** The network drops without `stop`. */
  drop(): void {
    this.stopPlaying();
    this.socket.terminate();
  }

  /** The far end has said what it had to say: audio after the first `after` media messages came, then none for `quietMs`, and all of it played. */
  async playedOut(options: { after?: number; quietMs?: number; timeoutMs?: number } = {}): Promise<void> {
    const { after = 0, quietMs = 600, timeoutMs = 30_000 } = options;
    await this.waitFor(() => this.mediaReceived > after, timeoutMs, 'reply audio');
    let last = -1;
    let since = Date.now();
    await this.waitFor(() => {
      if (this.mediaReceived !== last) {
        last = this.mediaReceived;
        since = Date.now();
      }
      return Date.now() - since > quietMs && this.bufferedItems === 0;
    }, timeoutMs, 'the reply to play out');
  }

  async waitFor(predicate: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private onMessage(message: Record<string, unknown>): void {
    this.received.push(message);
    if (message.streamSid !== this.streamSid) throw new Error(`message for another stream: ${JSON.stringify(message)}`);
    if (message.event === 'media') {
      this.mediaReceived += 1;
      this.mediaSinceClear += 1;
      const payload = (message.media as { payload: string }).payload;
      const samples = alawmulaw.mulaw.decode(Buffer.from(payload, 'base64'));
      this.mediaLog.push({ at: performance.now(), samples: samples.length });
      this.buffer.push({ kind: 'audio', samples });
      const buffered = this.buffer.reduce((sum, item) => sum + (item.kind === 'audio' ? item.samples.length : 0), 0);
      this.maxBufferedMs = Math.max(this.maxBufferedMs, buffered / 8);
    } else if (message.event === 'mark') {
      this.buffer.push({ kind: 'mark', name: (message.mark as { name: string }).name });
      this.play(0);
    } else if (message.event === 'clear') {
      this.clears += 1;
      this.mediaSinceClear = 0;
      const pending = this.buffer.splice(0).filter((item): item is Extract<Outbound, { kind: 'mark' }> => item.kind === 'mark');
      for (const mark of pending) this.echo(mark.name);
    }
  }

  /** Plays up to `samples` of buffered audio, echoing marks as playback passes them. */
  private play(samples: number): void {
    let budget = samples;
    while (this.buffer.length > 0) {
      const head = this.buffer[0] as Outbound;
      if (head.kind === 'mark') {
        this.buffer.shift();
        this.echo(head.name);
        continue;
      }
      if (budget <= 0) return;
      const taken = head.samples.subarray(0, budget);
      this.heard.push(taken);
      budget -= taken.length;
      if (taken.length === head.samples.length) this.buffer.shift();
      else head.samples = head.samples.subarray(taken.length);
    }
  }

  private echo(name: string): void {
    this.marksEchoed.push(name);
    this.sendJson({ event: 'mark', sequenceNumber: this.nextSequence(), streamSid: this.streamSid, mark: { name } });
  }

  private stopPlaying(): void {
    clearInterval(this.player);
  }

  private nextSequence(): string {
    this.sequence += 1;
    return String(this.sequence);
  }

  private sendJson(message: unknown): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
