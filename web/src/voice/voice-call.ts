import { api } from '../api.js';
import { Player } from './player.js';

/** Server events of the realtime protocol v1 (README: "Realtime protocol v1"). */
export type ServerEvent =
  | { readonly type: 'ready'; readonly sessionId: string; readonly conversationId: string; readonly outputSampleRate: number }
  | { readonly type: 'speech_started' }
  | { readonly type: 'speech_stopped' }
  | { readonly type: 'transcript'; readonly text: string; readonly final: boolean }
  | { readonly type: 'reply'; readonly text: string; readonly final: boolean }
  | { readonly type: 'audio_start'; readonly sampleRate: number }
  | { readonly type: 'audio_end' }
  | { readonly type: 'interrupted'; readonly playedText: string }
  | { readonly type: 'conversation_ended'; readonly status: string }
  | { readonly type: 'shutting_down'; readonly deadlineMs: number }
  | { readonly type: 'error'; readonly code: string; readonly message: string };

export type CallEvent = ServerEvent | { readonly type: 'first_audio' } | { readonly type: 'closed'; readonly code: number; readonly reason: string };

/** Built by scripts/build-web.mjs: the capture worklet's content-hashed URL. */
declare const HARKEN_CAPTURE_WORKLET_URL: string;

const CAPTURE_RATE = 16_000;
/** Long enough to open the socket; an open session outlives its token (only the login's end cuts it). */
const TOKEN_TTL_SECONDS = 30;

/** Why the server closed, for people (close codes from the protocol). */
export const closeReason = (code: number, reason: string): string => {
  const known: Record<number, string> = {
    1000: 'The conversation ended.',
    1001: 'The server is shutting down.',
    1013: 'The server is at its session limit; try again shortly.',
    4401: 'Your login ended, so the conversation was closed.',
    4404: 'That conversation does not exist.',
    4408: 'Closed after a long silence.',
    4409: 'That conversation has already ended.',
    4429: 'You already hold as many conversations as allowed.',
  };
  return known[code] ?? `Closed (${code}${reason ? `: ${reason}` : ''}).`;
};

/**
 * One voice conversation from the browser: a short-lived token from the login session (never the
 * cookie or an API key on the socket), the microphone through an AudioWorklet as 16 kHz PCM, the
 * realtime protocol v1 over a WebSocket, and reply audio through Web Audio, stopped at once when
 * the server says the caller barged in.
 */
export class VoiceCall {
  private ready = false;
  private awaitingFirstAudio = false;
  private replyRate = CAPTURE_RATE;
  private closed = false;

  private constructor(
    private readonly socket: WebSocket,
    private readonly context: AudioContext,
    private readonly microphone: MediaStream,
    private readonly capture: AudioWorkletNode,
    readonly player: Player,
    private readonly onEvent: (event: CallEvent) => void,
  ) {}

  static async start(agent: string, onEvent: (event: CallEvent) => void): Promise<VoiceCall> {
    const microphone = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
    const context = new AudioContext();
    try {
      await context.audioWorklet.addModule(HARKEN_CAPTURE_WORKLET_URL);
      const capture = new AudioWorkletNode(context, 'harken-capture');
      context.createMediaStreamSource(microphone).connect(capture);
      // A node outside the graph's path to the speakers may never be pulled: route it through silence.
      const silent = context.createGain();
      silent.gain.value = 0;
      capture.connect(silent).connect(context.destination);
      // Minted last: the microphone prompt may have taken longer than the token lives.
      const { token } = await api<{ token: string }>('POST', '/v1/auth/token', { scopes: ['realtime'], ttlSeconds: TOKEN_TTL_SECONDS });
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      const socket = new WebSocket(`${scheme}://${location.host}/v1/realtime`, ['harken.v1', `harken.token.${token}`]);
      socket.binaryType = 'arraybuffer';
      const call = new VoiceCall(socket, context, microphone, capture, new Player(context), onEvent);
      call.wire(agent);
      return call;
    } catch (error) {
      for (const track of microphone.getTracks()) track.stop();
      await context.close();
      throw error;
    }
  }

  /** Push to talk: while muted the microphone sends silence, so the server hears the turn end. */
  setMuted(muted: boolean): void {
    this.capture.port.postMessage({ muted });
  }

  sendText(text: string): void {
    if (this.ready && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: 'text', text }));
  }

  /** Ends the conversation; the server stores the last words and closes. */
  hangUp(): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: 'stop' }));
    // Not open yet: abandon the connection (its close event releases the microphone), so no `start` is ever sent.
    else if (this.socket.readyState === WebSocket.CONNECTING) this.socket.close();
    else this.release();
  }

  private wire(agent: string): void {
    this.socket.onopen = () => this.socket.send(JSON.stringify({ type: 'start', sampleRate: CAPTURE_RATE, encoding: 'pcm_s16le', agent }));
    this.capture.port.onmessage = (message: MessageEvent<ArrayBuffer>) => {
      if (this.ready && this.socket.readyState === WebSocket.OPEN) this.socket.send(message.data);
    };
    this.socket.onmessage = (message: MessageEvent<string | ArrayBuffer>) => {
      if (typeof message.data !== 'string') {
        this.player.play(new Int16Array(message.data), this.replyRate);
        if (this.awaitingFirstAudio) {
          this.awaitingFirstAudio = false;
          this.onEvent({ type: 'first_audio' });
        }
        return;
      }
      const event = JSON.parse(message.data) as ServerEvent;
      if (event.type === 'ready') {
        this.ready = true;
        this.replyRate = event.outputSampleRate;
      } else if (event.type === 'audio_start') {
        this.replyRate = event.sampleRate;
        this.awaitingFirstAudio = true;
      } else if (event.type === 'interrupted') {
        this.player.stop();
      }
      this.onEvent(event);
    };
    this.socket.onclose = (event) => {
      this.release();
      this.onEvent({ type: 'closed', code: event.code, reason: event.reason });
    };
  }

  private release(): void {
    if (this.closed) return;
    this.closed = true;
    this.capture.port.onmessage = null;
    for (const track of this.microphone.getTracks()) track.stop();
    // Let the reply that is already scheduled finish before the audio clock goes away.
    setTimeout(() => void this.context.close(), this.player.remainingMs + 100);
  }
}
