import type { AuditEvent } from '../security/audit-log.js';
import type { SessionEvent } from '../session/events.js';
import type { ConnectionView } from './connection-monitor.js';

/** Is audio moving in a session (VoiceSession.audioFlow), and how its connection behaves. */
export interface SessionProbe {
  audio(): { readonly inputIdleMs: number | undefined; readonly replyStalledMs: number };
  connection?(): ConnectionView;
}

/** A live session as the admin view shows it, with how its audio and connection are doing. */
export interface LiveSessionView extends LiveSession {
  readonly audio: { readonly inputIdleMs: number | null; readonly replyStalledMs: number } | null;
  readonly connection: ConnectionView | null;
}

export interface AudioStalls {
  /** Sessions that have received caller audio at least once. */
  readonly listening: number;
  /** Of those, sessions without caller audio for longer than the threshold. */
  readonly inputStalled: number;
  /** Sessions whose reply in progress has not moved on for longer than the threshold. */
  readonly replyStalled: number;
}

/** What a live session is doing now. */
export type LiveState = 'starting' | 'listening' | 'hearing' | 'thinking' | 'speaking';

export interface LiveSession {
  /** Made by the session factory for this view (not the client-chosen request id of the audit log's `session:<id>`). */
  readonly id: string;
  /** `realtime` (browser, SDK, `harken call`) or `phone`. */
  readonly channel: string;
  readonly actor: string;
  readonly tenant: string;
  readonly agent: string | null;
  conversationId: string | null;
  readonly startedAt: string;
  state: LiveState;
}

/**
 * One thing that happened, for the Live page's feed: sessions starting and ending, turns
 * (what the caller said and what the agent answered), interruptions, errors, and every audit
 * event (security: denied credentials, refused origins, rate limits…). Transcripts are patient
 * data: the feed is for admins only.
 */
export interface LiveEvent {
  readonly id: number;
  readonly at: string;
  readonly type: 'session.started' | 'session.ended' | 'speech_started' | 'transcript' | 'reply' | 'timings' | 'interrupted' | 'conversation_ended' | 'error' | 'audit';
  readonly sessionId?: string;
  readonly actor?: string;
  readonly text?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

type Listener = (event: LiveEvent) => void;

/**
 * Sessions in progress and a stream of what happens in them, in this process. The session
 * factory reports each session's events; the audit log reports its events; subscribers (the
 * admin event feed) get each one as it happens. Nothing is kept but the sessions now open.
 */
export class LiveFeed {
  private readonly sessions = new Map<string, LiveSession>();
  private readonly probes = new Map<string, SessionProbe>();
  private readonly listeners = new Set<Listener>();
  private nextId = 1;

  constructor(private readonly now: () => Date = () => new Date()) {}

  list(): LiveSession[] {
    return [...this.sessions.values()].map((session) => ({ ...session }));
  }

  /** The sessions with their audio flow and connection figures, read now. */
  views(): LiveSessionView[] {
    return [...this.sessions.values()].map((session) => {
      const probe = this.probes.get(session.id);
      const audio = probe?.audio();
      return {
        ...session,
        audio: audio ? { inputIdleMs: audio.inputIdleMs === undefined ? null : Math.round(audio.inputIdleMs), replyStalledMs: Math.round(audio.replyStalledMs) } : null,
        connection: probe?.connection?.() ?? null,
      };
    });
  }

  /** Lets the views and the audio watch look into a session. */
  attachProbe(id: string, probe: SessionProbe): void {
    if (this.sessions.has(id)) this.probes.set(id, probe);
  }

  /** Sessions whose audio has not moved for more than `thresholdMs` (the readiness `audio` check). */
  audioStalls(thresholdMs: number): AudioStalls {
    let listening = 0;
    let inputStalled = 0;
    let replyStalled = 0;
    for (const probe of this.probes.values()) {
      const { inputIdleMs, replyStalledMs } = probe.audio();
      if (inputIdleMs !== undefined) {
        listening += 1;
        if (inputIdleMs > thresholdMs) inputStalled += 1;
      }
      if (replyStalledMs > thresholdMs) replyStalled += 1;
    }
    return { listening, inputStalled, replyStalled };
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  sessionStarted(session: Omit<LiveSession, 'startedAt' | 'state' | 'conversationId'>): void {
    this.sessions.set(session.id, { ...session, conversationId: null, startedAt: this.now().toISOString(), state: 'starting' });
    this.publish({ type: 'session.started', sessionId: session.id, actor: session.actor, details: { channel: session.channel, tenant: session.tenant, agent: session.agent } });
  }

  sessionEnded(id: string, seconds: number): void {
    const session = this.sessions.get(id);
    this.sessions.delete(id);
    this.probes.delete(id);
    this.publish({ type: 'session.ended', sessionId: id, ...(session ? { actor: session.actor } : {}), details: { seconds } });
  }

  /** A session's own event: updates its state and tells subscribers what matters to a person watching. */
  observe(id: string, event: SessionEvent): void {
    const session = this.sessions.get(id);
    if (!session) return;
    switch (event.type) {
      case 'session_ready':
        session.conversationId = event.conversationId;
        session.state = 'listening';
        return;
      case 'input_speech_started':
        session.state = 'hearing';
        return this.publish({ type: 'speech_started', sessionId: id });
      case 'input_speech_stopped':
        session.state = 'thinking';
        return;
      case 'input_transcript':
        if (event.final && event.text) this.publish({ type: 'transcript', sessionId: id, text: event.text });
        return;
      case 'reply_audio_started':
        session.state = 'speaking';
        return;
      case 'reply_interrupted':
        return this.publish({ type: 'interrupted', sessionId: id, text: event.playedText });
      case 'reply_done':
        session.state = 'listening';
        return this.publish({ type: 'reply', sessionId: id, text: event.text, details: { status: event.status } });
      case 'turn_timings':
        return this.publish({ type: 'timings', sessionId: id, details: { ...event.timings } });
      case 'conversation_ended':
        return this.publish({ type: 'conversation_ended', sessionId: id, details: { status: event.outcome.status } });
      case 'error':
        return this.publish({ type: 'error', sessionId: id, details: { code: event.code, message: event.message } });
      default:
        return;
    }
  }

  audit(event: AuditEvent): void {
    const reason = event.details?.reason;
    this.publish({
      type: 'audit',
      ...(event.actor ? { actor: event.actor } : {}),
      details: { action: event.action, outcome: event.outcome, ...(event.target ? { target: event.target } : {}), ...(typeof reason === 'string' ? { reason } : {}) },
    });
  }

  private publish(event: Omit<LiveEvent, 'id' | 'at'>): void {
    if (this.listeners.size === 0) return;
    const stamped: LiveEvent = { id: this.nextId++, at: this.now().toISOString(), ...event };
    // A failing subscriber must not break the session or request that caused the event.
    for (const listener of this.listeners) {
      try {
        listener(stamped);
      } catch {
        this.listeners.delete(listener);
      }
    }
  }
}
