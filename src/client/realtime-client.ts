import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { concatPcm, int16FromBytes, type PcmAudio } from '../audio/pcm.js';
import type { ServerEvent } from '../transports/realtime/v1-events.js';
import { PROTOCOL_V1 } from '../transports/realtime/protocol.js';

/** A server event as received, with when (ms since connect). */
export type TimedEvent = ServerEvent & { readonly atMs: number };

export interface RealtimeClientOptions {
  /** ws:// or wss:// URL of /v1/realtime. */
  readonly url: string;
  readonly sampleRate: number;
  readonly agent?: string;
  readonly conversationId?: string;
  readonly headers?: Record<string, string>;
  /** PEM certificate(s) to trust for wss:// besides the system's (a self-signed server certificate). */
  readonly ca?: string;
  /** An API key, service account secret or token, sent as `Authorization: Bearer …`. */
  readonly credentials?: string;
  readonly onEvent?: (event: TimedEvent) => void;
}

/** The server refused the WebSocket upgrade (401 credentials, 403 scope, 429 rate limit). */
export class RealtimeRefusedError extends Error {
  constructor(readonly status: number, message: string) {
    super(`the server refused the connection (${status}): ${message}`);
    this.name = 'RealtimeRefusedError';
  }
}

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/**
 * A minimal client of realtime protocol v1 for scripts, tests and `harken call`:
 * connects, sends `start`, streams PCM (optionally at real-time pace), and records
 * every event and the reply audio.
 */
export class RealtimeClient {
  readonly events: TimedEvent[] = [];
  private readonly audioChunks: Int16Array[] = [];
  private readonly socket: WebSocket;
  private readonly openedAt = performance.now();
  private outputSampleRate = 0;
  readonly closed: Promise<CloseInfo>;
  /** ms since connect when each binary audio frame arrived (for latency measurements). */
  readonly audioFrameTimes: number[] = [];

  private constructor(private readonly options: RealtimeClientOptions) {
    const headers = { ...(options.credentials ? { authorization: `Bearer ${options.credentials}` } : {}), ...options.headers };
    this.socket = new WebSocket(options.url, [PROTOCOL_V1], { headers, ...(options.ca ? { ca: options.ca } : {}) });
    this.closed = new Promise((resolve) => {
      this.socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.socket.on('error', () => undefined); // surfaced through `closed`
    this.socket.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
  }

  /** Connects and sends `start`; resolves once the server says `ready` (or rejects with its error). */
  static async connect(options: RealtimeClientOptions): Promise<RealtimeClient> {
    const client = new RealtimeClient(options);
    await new Promise<void>((resolve, reject) => {
      client.socket.once('open', () => resolve());
      client.socket.once('error', reject);
      // The server refuses an upgrade with an HTTP status and a JSON error: report its message.
      client.socket.once('unexpected-response', (request, response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => {
          request.destroy();
          let message = body;
          try {
            message = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? body;
          } catch {
            // not JSON: keep the text
          }
          reject(new RealtimeRefusedError(response.statusCode ?? 0, message));
        });
      });
    });
    client.sendJson({
      type: 'start',
      sampleRate: options.sampleRate,
      encoding: 'pcm_s16le',
      ...(options.agent ? { agent: options.agent } : {}),
      ...(options.conversationId ? { conversationId: options.conversationId } : {}),
    });
    const ready = await Promise.race([client.waitFor('ready'), client.closed]);
    if (!('type' in ready)) {
      const error = client.events.find((event) => event.type === 'error');
      throw new Error(`server closed the session (${ready.code} ${ready.reason})${error && error.type === 'error' ? `: ${error.code}` : ''}`);
    }
    return client;
  }

  /** ms since connect, on the same clock as event and audio-frame times. */
  elapsedMs(): number {
    return performance.now() - this.openedAt;
  }

  get sessionReady(): Extract<TimedEvent, { type: 'ready' }> | undefined {
    return this.events.find((event): event is Extract<TimedEvent, { type: 'ready' }> => event.type === 'ready');
  }

  /** Everything the agent has said so far, as one PCM buffer at the server's output rate. */
  get receivedAudio(): PcmAudio {
    return { samples: concatPcm(this.audioChunks), sampleRate: this.outputSampleRate };
  }

  /** Whether the connection is still open (a loop that streams audio stops when it is not). */
  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  sendJson(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  sendAudio(samples: Int16Array): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
  }

  /**
   * Streams audio in frames of `frameMs`; with `realTime` each frame waits for its
   * moment, as a microphone would deliver it.
   */
  async streamAudio(samples: Int16Array, options: { frameMs?: number; realTime?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    const frame = Math.round(((options.frameMs ?? 20) * this.options.sampleRate) / 1000);
    const started = performance.now();
    for (let offset = 0; offset < samples.length; offset += frame) {
      if (options.signal?.aborted || this.socket.readyState !== WebSocket.OPEN) return;
      if (options.realTime !== false) {
        const due = started + (offset / this.options.sampleRate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      this.sendAudio(samples.subarray(offset, offset + frame));
    }
  }

  /** Streams silence at real-time pace, e.g. to let end-of-turn detection fire. */
  async streamSilence(ms: number): Promise<void> {
    await this.streamAudio(new Int16Array(Math.round((ms * this.options.sampleRate) / 1000)));
  }

  /** Resolves with the next event of `type` after index `after` (default: any seen so far). */
  waitFor<T extends ServerEvent['type']>(type: T, options: { after?: number; timeoutMs?: number; where?: (event: Extract<TimedEvent, { type: T }>) => boolean } = {}): Promise<Extract<TimedEvent, { type: T }>> {
    const matches = (event: TimedEvent, index: number): event is Extract<TimedEvent, { type: T }> =>
      index >= (options.after ?? 0) && event.type === type && (!options.where || options.where(event as Extract<TimedEvent, { type: T }>));
    const found = this.events.find(matches);
    if (found) return Promise.resolve(found);
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.reject(new Error(`the connection closed before a ${type} event`));
    return new Promise((resolve, reject) => {
      // Settled by the event, its time limit, or the connection closing: a wait never outlives the
      // connection (its timer would keep a finished `harken call` alive until it fired).
      const settle = (outcome: () => void) => {
        clearTimeout(timer);
        this.socket.off('message', check);
        this.socket.off('close', closed);
        outcome();
      };
      const timer = setTimeout(() => settle(() => reject(new Error(`no ${type} event within ${options.timeoutMs ?? 15_000} ms`))), options.timeoutMs ?? 15_000);
      const check = () => {
        const event = this.events.find(matches);
        if (event) settle(() => resolve(event));
      };
      const closed = () => settle(() => reject(new Error(`the connection closed before a ${type} event`)));
      this.socket.on('message', check);
      this.socket.on('close', closed);
    });
  }

  close(code = 1000, reason = 'client done'): Promise<CloseInfo> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close(code, reason);
    return this.closed;
  }

  /** Drops the TCP connection without a close handshake, as a crashed client would. */
  terminate(): void {
    this.socket.terminate();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    const atMs = performance.now() - this.openedAt;
    if (isBinary) {
      this.audioChunks.push(Int16Array.from(int16FromBytes(data)));
      this.audioFrameTimes.push(atMs);
      return;
    }
    const event = { ...(JSON.parse(data.toString('utf8')) as ServerEvent), atMs } as TimedEvent;
    if (event.type === 'ready') this.outputSampleRate = event.outputSampleRate;
    this.events.push(event);
    this.options.onEvent?.(event);
  }
}
