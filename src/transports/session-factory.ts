import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { HarkenConfig } from '../config/schema.js';
import type { ConversationService } from '../conversations/service.js';
import type { VoiceEngines } from '../engines/voice-engines.js';
import type { LiveFeed } from '../ops/live-feed.js';
import type { SessionEvent, SessionTransport } from '../session/events.js';
import { VoiceSession, type SessionOverrides, type TurnDetection } from '../session/voice-session.js';
import { Backchannels } from '../session/backchannels.js';
import type { Access } from '../security/access.js';
import { tenantScopeOf, type Caller } from '../security/authenticator.js';
import type { TenantScope } from '../security/tenants.js';
import { limitKeyOf } from '../security/ip-mask.js';
import type { ConnectionMonitor } from '../ops/connection-monitor.js';
import { ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import type { Tracing } from '../ops/tracing.js';

/** Why a session could not start: the server is full, or this caller or address holds its share. */
export class SessionRefusedError extends Error {
  constructor(
    readonly code: 'server_busy' | 'too_many_sessions' | 'shutting_down',
    message: string,
    readonly scope: 'server' | 'caller' | 'address' | 'pending',
  ) {
    super(message);
    this.name = 'SessionRefusedError';
  }
}

/** Where the caller stands in its request allowance after a turn was admitted (OpenAI's `rate_limits.updated`). */
export interface RateStanding {
  readonly limit: number;
  readonly remaining: number;
  readonly resetSeconds: number;
}

export type GuardDecision = { readonly ok: true; readonly rate?: RateStanding } | { readonly ok: false; readonly code: string; readonly message: string };

/** What a connection asks of access control while it is open. */
export interface ConnectionGuard {
  /** Is the credential the connection was opened with still valid? Asked every `recheckMs` and before each turn. */
  recheck(): Promise<GuardDecision>;
  readonly recheckMs: number;
  /** A typed turn draws from the caller's request rate limit. */
  admitText(): Promise<GuardDecision>;
}

/** Who is connecting, as the transport established it (credentials, or a phone call's signed webhook). */
export interface SessionCaller {
  /** The audit log's actor and the key of per-caller slots (`key:<id>`, `twilio:+15550100`). */
  readonly label: string;
  /** Owner of a new conversation. */
  readonly tenant: string;
  /** Which existing conversations the session may continue. */
  readonly scope: TenantScope;
  /** Concurrent sessions this caller may hold (else the server's per-caller share). */
  readonly maxSessions?: number;
  /** Credentialed callers are re-checked while their session lives (revocation closes it). */
  readonly caller?: Caller;
  readonly ip: string;
  /**
   * What the per-address session limit counts, when not the client's address: a phone call's
   * stream comes from a Twilio media server shared by many calls, so each call counts alone.
   */
  readonly limitAddress?: string;
  /** Names the connection in the audit log (`session:<id>`) and the live feed. */
  readonly connectionId: string;
  /** How the caller came: `realtime` or `phone` (the live feed shows it). */
  readonly channel?: string;
  /** The connection's logger (with its request id); the factory's otherwise. */
  readonly logger?: Logger;
  /** The connection's message rate and errors, shown in the admin sessions view. */
  readonly monitor?: ConnectionMonitor;
  /** The caller's trace (W3C traceparent at the upgrade): turns become its children. */
  readonly traceContext?: Context;
}

/** What the caller asked for in its start message (or the transport's equivalent). */
export interface SessionRequest {
  readonly inputSampleRate: number;
  readonly agent?: string;
  readonly conversationId?: string;
  readonly turnDetection?: TurnDetection;
  readonly overrides?: SessionOverrides;
  /** Asked before each turn: false when the credential died (the transport closes). */
  readonly beforeTurn?: () => Promise<boolean>;
  /** Phone calls: a goodbye or transfer the caller talked over still ends the call. */
  readonly endEvenIfGoodbyeInterrupted?: boolean;
  /** How far ahead of what was heard audio may be sent (default realtime.audioLeadMs). */
  readonly audioLeadMs?: number;
  /** The greeting waits for the client's first response request (OpenAI clients). */
  readonly holdGreeting?: boolean;
  /** False: no re-prompt or end when the caller goes silent (an OpenAI client decides that itself). */
  readonly silenceHandling?: boolean;
  /** False: caller sound interrupts at once (an OpenAI client clears its own playback on speech_started). */
  readonly falseInterruptionRecovery?: boolean;
}

/** The transport as the session sees it, with each event also shown to `watch` first. */
const observed = (transport: SessionTransport, watch: (event: SessionEvent) => void): SessionTransport => ({
  send(event) {
    try {
      watch(event);
    } catch {
      // Watching is best-effort: the caller still gets every event.
    }
    transport.send(event);
  },
  get audio() {
    return transport.audio;
  },
  end(reason) {
    transport.end(reason);
  },
});

/** A caller with credentials (API key, service account, token, admin login) as a session caller. */
export const credentialedCaller = (caller: Caller, connection: { ip: string; connectionId: string; logger?: Logger }): SessionCaller => ({
  label: caller.label,
  tenant: caller.tenant,
  scope: tenantScopeOf(caller),
  ...(caller.maxSessions !== undefined ? { maxSessions: caller.maxSessions } : {}),
  caller,
  ...connection,
});

export interface SessionFactoryDependencies {
  readonly config: HarkenConfig;
  readonly conversations: ConversationService;
  readonly engines: VoiceEngines;
  readonly access: Access;
  readonly logger: Logger;
  /** Sessions in progress and their events, for the admins' Live page. */
  readonly live?: LiveFeed;
  /** Set once the server is shutting down: no new session starts then. */
  readonly shutdown?: { readonly drainingReason: string | undefined };
  /** Turns as OpenTelemetry spans, when tracing is on. */
  readonly tracing?: Tracing;
}

/** A session with the slot it holds; `close()` ends the session, frees the slot and audits the end. */
export interface OpenedSession {
  readonly session: VoiceSession;
  close(): Promise<void>;
}

/**
 * Shutdown of a connection's session: the reply under way finishes (at most `timeoutMs`, only
 * once the session has started) and everything is stored before the socket closes, so a client
 * that never completes the close handshake cannot hold it up.
 */
export const drainOpened = async (opened: OpenedSession | undefined, started: boolean, timeoutMs: number): Promise<void> => {
  if (started && opened) await opened.session.drain(timeoutMs);
  await opened?.close();
};

/**
 * The one place a voice session is made, for every transport: slots (server, caller, address),
 * pending-connection limits, the audit trail, conversation ownership (the session opens only
 * the caller's tenant's conversations), credential re-checks, typed-turn rate limits and the
 * engine wiring. A new transport brings a serializer and a connection handler, nothing else.
 */
export class SessionFactory {
  constructor(private readonly deps: SessionFactoryDependencies) {}

  /** Before its start message a connection holds no slot, only a place among its address's pending ones. */
  admitPending(who: SessionCaller): { release(): void } {
    this.refuseWhileDraining(who);
    const pending = this.deps.access.sessions.admitPending(limitKeyOf(who.ip));
    if (!pending.ok) throw this.refuse(who, 'pending', pending.limit, 'too_many_sessions', `this address already has ${pending.limit} connections that have not started`);
    return pending;
  }

  /** Takes a slot and makes the session; throws SessionRefusedError when no slot is free. */
  open(who: SessionCaller, request: SessionRequest, transport: SessionTransport): OpenedSession {
    const { access } = this.deps;
    const actor = who.label;
    this.refuseWhileDraining(who);
    const slot = access.sessions.acquire(actor, who.maxSessions ?? access.sessionsPerCaller, who.limitAddress ?? limitKeyOf(who.ip));
    if (!slot.ok) {
      if (slot.scope === 'server') throw this.refuse(who, 'server', slot.limit, 'server_busy', `the server is at its limit of ${slot.limit} concurrent sessions; try again later`);
      const holder = slot.scope === 'caller' ? 'these credentials' : 'this address';
      throw this.refuse(who, slot.scope, slot.limit, 'too_many_sessions', `${holder} already have ${slot.limit} concurrent sessions`);
    }
    const live = this.deps.live;
    // Ours, not the request id a client may choose (X-Request-Id): two sessions never share one.
    const liveId = randomUUID();
    live?.sessionStarted({ id: liveId, channel: who.channel ?? 'voice', actor, tenant: who.tenant, agent: request.agent ?? (request.conversationId ? null : this.deps.config.agents.default) });
    const agent = request.agent ?? (request.conversationId ? undefined : this.deps.config.agents.default);
    const turns = this.deps.tracing?.turns(who.traceContext ?? ROOT_CONTEXT, { 'harken.session.id': liveId, 'harken.channel': who.channel ?? 'voice', ...(agent ? { 'harken.agent': agent } : {}) }, this.deps.config.voice.endOfTurnSilenceMs);
    const watch = (event: SessionEvent) => {
      live?.observe(liveId, event);
      turns?.observe(event);
    };
    let session: VoiceSession;
    try {
      session = this.session(who, request, live || turns ? observed(transport, watch) : transport);
    } catch (error) {
      slot.release();
      live?.sessionEnded(liveId, 0);
      throw error;
    }
    const monitor = who.monitor;
    live?.attachProbe(liveId, { audio: () => session.audioFlow(), ...(monitor ? { connection: () => monitor.view() } : {}) });
    const startedAt = Date.now();
    void access.audit.record({ action: 'session.started', outcome: 'success', actor, ip: who.ip, target: `session:${who.connectionId}` });
    let closing: Promise<void> | undefined;
    return {
      session,
      close: () =>
        (closing ??= session.close().finally(() => {
          slot.release();
          const seconds = Math.round((Date.now() - startedAt) / 1000);
          live?.sessionEnded(liveId, seconds);
          void access.audit.record({ action: 'session.ended', outcome: 'success', actor, ip: who.ip, target: `session:${who.connectionId}`, details: { seconds } });
        })),
    };
  }

  private session(who: SessionCaller, request: SessionRequest, transport: SessionTransport): VoiceSession {
    const { config } = this.deps;
    return new VoiceSession(
      this.deps.conversations,
      this.deps.engines,
      transport,
      {
        endOfTurnSilenceMs: config.voice.endOfTurnSilenceMs,
        bargeInMinSpeechMs: config.voice.bargeInMinSpeechMs,
        audioLeadMs: request.audioLeadMs ?? config.realtime.audioLeadMs,
        apologyText: config.voice.apologyText,
        ...(config.voice.falseInterruptionRecovery && request.falseInterruptionRecovery !== false
          ? {
              falseInterruption: {
                pauseAfterMs: config.voice.pauseAfterSpeechMs,
                windowMs: config.voice.falseInterruptionWindowMs,
                minWords: config.voice.interruptMinWords,
                backchannels: new Backchannels(config.voice.backchannels),
              },
            }
          : {}),
        ...(config.voice.silenceRepromptMs > 0 && request.silenceHandling !== false
          ? { silence: { repromptAfterMs: config.voice.silenceRepromptMs, repromptText: config.voice.silenceRepromptText, endAfterMs: config.voice.silenceEndMs, goodbyeText: config.voice.silenceGoodbyeText } }
          : {}),
        ...(config.voice.adaptiveEndOfTurn
          ? { turnEnding: { defaultSilenceMs: config.voice.endOfTurnSilenceMs, completeAnswerSilenceMs: config.voice.completeAnswerSilenceMs, incompleteSilenceMs: config.voice.incompleteSilenceMs } }
          : {}),
        ...(config.tts.voice ? { voice: config.tts.voice } : {}),
      },
      {
        inputSampleRate: request.inputSampleRate,
        tenant: who.tenant,
        scope: who.scope,
        maxQueuedTurns: config.realtime.maxQueuedTurns,
        ...(request.beforeTurn ? { beforeTurn: request.beforeTurn } : {}),
        ...(request.agent ? { agent: request.agent } : {}),
        ...(request.conversationId ? { conversationId: request.conversationId } : {}),
        ...(request.turnDetection ? { turnDetection: request.turnDetection } : {}),
        ...(request.overrides ? { overrides: request.overrides } : {}),
        ...(request.endEvenIfGoodbyeInterrupted ? { endEvenIfGoodbyeInterrupted: true } : {}),
        ...(request.holdGreeting ? { holdGreeting: true } : {}),
      },
      who.logger ?? this.deps.logger,
    );
  }

  /** Credential re-checks and typed-turn rate limits for an open connection of a credentialed caller. */
  guard(who: SessionCaller & { caller: Caller }): ConnectionGuard {
    const { access, config } = this.deps;
    const actor = who.label;
    const caller = who.caller;
    return {
      recheckMs: config.realtime.credentialRecheckMs,
      recheck: async () => {
        const result = await access.authenticator.recheck(caller);
        if (result.ok) return { ok: true };
        void access.audit.record({ action: 'session.closed_revoked', outcome: 'success', actor, ip: who.ip, target: `session:${who.connectionId}`, details: { reason: result.code } });
        return { ok: false, code: result.code, message: result.message };
      },
      admitText: async () => {
        if (!config.rateLimit.enabled) return { ok: true };
        const decision = access.rateLimits.consume([{ name: 'caller', key: actor, limit: caller.rateLimit ?? config.rateLimit.requests }]);
        if (!decision) return { ok: true };
        if (decision.allowed) return { ok: true, rate: { limit: decision.bucket.limit, remaining: decision.remaining, resetSeconds: decision.resetSeconds } };
        return { ok: false, code: 'rate_limited', message: `too many requests (${decision.bucket.limit} per ${config.rateLimit.windowSeconds} s, typed turns included); retry in ${decision.resetSeconds} s` };
      },
    };
  }

  private refuseWhileDraining(who: SessionCaller): void {
    if (this.deps.shutdown?.drainingReason === undefined) return;
    throw this.refuse(who, 'server', 0, 'shutting_down', 'the server is shutting down; connect again in a moment');
  }

  private refuse(who: SessionCaller, scope: SessionRefusedError['scope'], limit: number, code: SessionRefusedError['code'], message: string): SessionRefusedError {
    void this.deps.access.audit.record({ action: 'session.refused', outcome: 'failure', actor: who.label, ip: who.ip, details: { scope, limit } });
    return new SessionRefusedError(code, message, scope);
  }
}
