import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DURATION_BUCKETS_MS, type CallOutcome, type EngineMetrics } from '../engines/engine-metrics.js';
import type { LiveEvent, LiveFeed } from './live-feed.js';

const TURN_STAGES = [
  ['endOfTurnMs', 'end_of_turn'],
  ['sttFinalMs', 'stt_final'],
  ['llmFirstTokenMs', 'llm_first_token'],
  ['ttsFirstAudioMs', 'tts_first_audio'],
  ['voiceToVoiceMs', 'voice_to_voice'],
] as const;

/**
 * The server's metrics in Prometheus' exposition format (GET /metrics): the engine guard's
 * per-stage calls, durations and retries; sessions by channel (active and started);
 * interruptions; refused credentials by reason and requests refused by limits; and the
 * process' own (memory, CPU, event-loop lag, GC, handles) from prom-client. A registry of its
 * own per server, so several servers in one process (tests) do not share counters.
 */
export class PrometheusMetrics implements EngineMetrics {
  readonly registry = new Registry();
  private readonly engineCalls = new Counter({
    name: 'harken_engine_calls_total',
    help: 'Guarded engine calls (one per attempt) by stage, engine and how they ended (ok, failure, timeout, cancelled, busy).',
    labelNames: ['stage', 'engine', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly engineDuration = new Histogram({
    name: 'harken_engine_call_duration_seconds',
    help: 'How long guarded engine calls took, by stage and engine (busy refusals excluded).',
    labelNames: ['stage', 'engine'] as const,
    buckets: DURATION_BUCKETS_MS.map((ms) => ms / 1000),
    registers: [this.registry],
  });
  private readonly engineRetries = new Counter({ name: 'harken_engine_retries_total', help: 'Retries of remote engine calls, by stage and engine.', labelNames: ['stage', 'engine'] as const, registers: [this.registry] });
  private readonly sessionsStarted = new Counter({ name: 'harken_sessions_started_total', help: 'Voice sessions and phone calls started, by channel (realtime, phone).', labelNames: ['channel'] as const, registers: [this.registry] });
  private readonly interruptions = new Counter({ name: 'harken_interruptions_total', help: 'Replies the caller spoke over (barge-in).', registers: [this.registry] });
  private readonly turns = new Counter({ name: 'harken_replies_total', help: 'Agent replies finished in voice sessions, by how they ended.', labelNames: ['status'] as const, registers: [this.registry] });
  private readonly authFailures = new Counter({ name: 'harken_auth_failures_total', help: 'Requests refused for their credentials, by reason.', labelNames: ['reason'] as const, registers: [this.registry] });
  private readonly securityAlerts = new Counter({ name: 'harken_security_alerts_total', help: 'Repeated authentication failures flagged (auth.failureAlertThreshold), by kind: address or account.', labelNames: ['kind'] as const, registers: [this.registry] });
  private readonly turnStages = new Histogram({
    name: 'harken_turn_stage_seconds',
    help: 'Per voice turn: end_of_turn (the silence that ended it), stt_final (end of turn to final transcript), llm_first_token, tts_first_audio, voice_to_voice (caller’s last word to first reply audio).',
    labelNames: ['stage'] as const,
    buckets: [0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.5, 2, 3, 5, 10],
    registers: [this.registry],
  });
  private readonly stalls = new Histogram({ name: 'harken_event_loop_stall_seconds', help: 'Event-loop stalls over monitor.eventLoopStallMs, by length.', buckets: [0.25, 0.5, 1, 2, 5, 10, 30], registers: [this.registry] });
  private readonly restarts = new Gauge({ name: 'harken_restarts_last_hour', help: 'Starts of this server (same data directory) in the hour before this one.', registers: [this.registry] });
  private readonly previousEnd = new Gauge({ name: 'harken_previous_run_end', help: 'How the run before this one ended: 1 for its reason (shutdown, crash, memory, unknown).', labelNames: ['reason'] as const, registers: [this.registry] });
  private readonly memoryState = new Gauge({ name: 'harken_memory_state', help: 'RSS against monitor.memoryWarnMb / memoryCriticalMb: 0 ok, 1 warn, 2 critical.', registers: [this.registry] });
  private readonly memoryThreshold = new Gauge({ name: 'harken_memory_threshold_bytes', help: 'The RSS thresholds in force, by level (warn, critical).', labelNames: ['level'] as const, registers: [this.registry] });
  private readonly refusals = new Counter({ name: 'harken_limit_refusals_total', help: 'Requests refused by a rate limit or the daily quota, by the policy that refused.', labelNames: ['policy'] as const, registers: [this.registry] });

  constructor(live: LiveFeed) {
    collectDefaultMetrics({ register: this.registry, prefix: 'harken_' });
    new Gauge({
      name: 'harken_sessions_active',
      help: 'Voice sessions and phone calls in progress, by channel.',
      labelNames: ['channel'] as const,
      registers: [this.registry],
      collect() {
        // Both channels always present (0 when idle), so a dashboard's series never vanish.
        this.reset();
        this.set({ channel: 'realtime' }, 0);
        this.set({ channel: 'phone' }, 0);
        for (const session of live.list()) this.inc({ channel: session.channel });
      },
    });
    live.subscribe((event) => this.count(event));
  }

  recordCall(stage: string, engine: string, outcome: CallOutcome, durationMs?: number): void {
    this.engineCalls.inc({ stage, engine, outcome });
    if (durationMs !== undefined) this.engineDuration.observe({ stage, engine }, durationMs / 1000);
  }

  recordRetry(stage: string, engine: string): void {
    this.engineRetries.inc({ stage, engine });
  }

  securityAlert(kind: string): void {
    this.securityAlerts.inc({ kind });
  }

  eventLoopStall(ms: number): void {
    this.stalls.observe(ms / 1000);
  }

  /** Engine health, read at each scrape: 1 while an engine (role vad, stt, tts) can serve. */
  watchEngines(probe: () => ReadonlyArray<{ readonly role: string; readonly engine: string; readonly healthy: boolean }>): void {
    new Gauge({
      name: 'harken_engine_healthy',
      help: 'Whether each speech engine can serve now (1) or counts as hung or gone (0), by role and engine.',
      labelNames: ['role', 'engine'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { role, engine, healthy } of probe()) this.set({ role, engine }, healthy ? 1 : 0);
      },
    });
  }

  runHistory(restartsLastHour: number, previousEnd: string | undefined): void {
    this.restarts.set(restartsLastHour);
    if (previousEnd) this.previousEnd.set({ reason: previousEnd }, 1);
  }

  memory(state: 'ok' | 'warn' | 'critical', thresholds?: { warnMb: number; criticalMb: number }): void {
    this.memoryState.set(state === 'ok' ? 0 : state === 'warn' ? 1 : 2);
    if (thresholds) {
      this.memoryThreshold.set({ level: 'warn' }, thresholds.warnMb * 1_048_576);
      this.memoryThreshold.set({ level: 'critical' }, thresholds.criticalMb * 1_048_576);
    }
  }

  /** A request refused by `policy` (`ip`, `caller`, `route:…`, `daily`). */
  limitRefused(policy: string): void {
    this.refusals.inc({ policy: policy.startsWith('route:') ? 'route' : policy });
  }

  private observeTurn(timings: Readonly<Record<string, unknown>>): void {
    for (const [field, stage] of TURN_STAGES) {
      const ms = timings[field];
      if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) this.turnStages.observe({ stage }, ms / 1000);
    }
  }

  private count(event: LiveEvent): void {
    if (event.type === 'session.started') this.sessionsStarted.inc({ channel: String(event.details?.channel ?? 'voice') });
    else if (event.type === 'interrupted') this.interruptions.inc();
    else if (event.type === 'timings') this.observeTurn(event.details ?? {});
    else if (event.type === 'reply') this.turns.inc({ status: String(event.details?.status ?? 'completed') });
    else if (event.type === 'audit' && event.details?.action === 'auth.denied') this.authFailures.inc({ reason: String(event.details.reason ?? 'unknown') });
  }
}
