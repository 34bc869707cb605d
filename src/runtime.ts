import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { performance } from 'node:perf_hooks';
import { SentenceChunker } from './text/sentence-chunker.js';
import type { PromptAudioCache } from './engines/tts/prompt-cache.js';
import { createAgentRegistry, type AgentRegistry } from './agents/registry.js';
import type { HarkenConfig } from './config/schema.js';
import { ConversationService } from './conversations/service.js';
import { LiveFeed } from './ops/live-feed.js';
import { PrometheusMetrics } from './ops/prometheus-metrics.js';
import { AuthFailureWatch } from './security/auth-failure-watch.js';
import { VERSION } from './version.js';
import { Readiness } from './ops/readiness.js';
import { EngineThreadPriority } from './ops/thread-priority.js';
import { buildApp } from './server/app.js';
import { ConversationRepository } from './store/conversations.js';
import { openSqlite, type Database } from './store/database.js';
import { migrateToLatest, type MigrationReport } from './store/migrations.js';
import { createVoiceEngines, type VoiceEngines } from './engines/voice-engines.js';
import { InMemoryEngineMetrics } from './engines/engine-metrics.js';
import { RealtimeConnections } from './transports/realtime/realtime-route.js';
import { PhoneCalls } from './transports/twilio/phone-calls.js';
import { CallRecords } from './calls/call-records.js';
import { CallRepository } from './store/calls.js';
import { checkTwilioSettings } from './transports/twilio/twilio-settings.js';
import { createAccess, type Access } from './security/access.js';
import { SetupCode } from './security/setup-code.js';
import { createLlmRuntime } from './llm/llm-runtime.js';
import { join } from 'node:path';
import { RunHistory } from './ops/run-history.js';
import { cgroupMemoryLimitMb, MemoryMonitor, memoryThresholds, type MemoryState } from './ops/memory-monitor.js';
import { childrenResidentBytes } from './ops/processes.js';
import { loadTls, watchTlsFiles, type TlsWatch } from './server/tls.js';
import { SecurityCounters } from './ops/security-counters.js';
import { Tracing } from './ops/tracing.js';
import { EventLoopWatch } from './ops/event-loop-watch.js';
import { ShuttingDownError } from './server/client-gone.js';
import type { Tool } from './llm/tools.js';

/** Everything one running Harken owns; `close()` releases it in reverse order. */
export interface Harken {
  readonly app: FastifyInstance;
  readonly voice: { readonly engines: VoiceEngines; readonly connections: RealtimeConnections; readonly calls: PhoneCalls } | undefined;
  readonly database: Database;
  readonly readiness: Readiness;
  readonly agents: AgentRegistry;
  readonly migrations: MigrationReport;
  readonly access: Access;
  /** Set when no admin exists yet: the one-time code for POST /v1/auth/setup (print it, never log it). */
  readonly setupCode: string | undefined;
  /** Keeps engine threads below the event loop (server.engineThreadNice). */
  readonly threadPriority: EngineThreadPriority;
  /** This run and the ones before it; `end()` says how this one ends. */
  readonly runs: RunHistory;
  readonly memory: MemoryMonitor;
  /** Re-reads the TLS certificate and key if they changed (SIGHUP); false without TLS or change. */
  reloadTls(): boolean;
  close(): Promise<void>;
}

/** What the process around the server does for it (`harken serve`: drain and exit so the supervisor restarts it). */
export interface HarkenHooks {
  /** Memory went over monitor.memoryCriticalMb: new sessions are already refused. */
  readonly onMemoryCritical?: (detail: string) => void;
}

const AUDIT_PURGE_INTERVAL_MS = 6 * 3_600_000;
const DRAIN_STORE_GRACE_MS = 5_000;

/** The first admin comes from auth.adminUsername/adminPassword, else a one-time setup code. */
const ensureFirstAdmin = async (config: HarkenConfig, access: Access, setup: SetupCode): Promise<string | undefined> => {
  if ((await access.admins.count()) > 0) return undefined;
  if (config.auth.adminUsername && config.auth.adminPassword) {
    const admin = await access.admins.create(config.auth.adminUsername, config.auth.adminPassword);
    await access.audit.record({ action: 'admin.created', outcome: 'success', actor: 'system', target: `admin:${admin.username}`, details: { via: 'environment' } });
    return undefined;
  }
  return setup.issue();
};

/** Live sessions and calls finish the reply under way, bounded: storing what they hold gets a few seconds more. */
/** After in-flight work is cancelled at shutdown, connections still open are closed this much later. */
const FORCE_CLOSE_AFTER_CANCEL_MS = 2_000;

const drainSessions = async (voice: { connections: RealtimeConnections; calls: PhoneCalls }, timeoutMs: number, logger: Logger): Promise<void> => {
  const sessions = voice.connections.size + voice.calls.size;
  if (sessions === 0) return;
  logger.info({ sessions, drainTimeoutMs: timeoutMs }, 'draining live sessions');
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    Promise.all([voice.connections.drainAll(timeoutMs), voice.calls.drainAll(timeoutMs)]).then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs + DRAIN_STORE_GRACE_MS))),
  ]);
  clearTimeout(timer);
  logger.info({ sessions, ms: Date.now() - started, complete: drained }, drained ? 'live sessions drained' : 'live sessions did not all drain in time');
};

/** Logs how the previous run ended and flags a restart loop (log, audit, metric); returns the starts of the last hour. */
const watchRestarts = async (runs: RunHistory, alertPerHour: number, logger: Logger, access: Access, metrics: PrometheusMetrics): Promise<number> => {
  const previous = runs.previous;
  if (previous && previous.endReason !== 'shutdown') {
    logger.warn({ previousRun: previous }, `the previous run ended by ${previous.endReason === 'unknown' ? 'vanishing without a shutdown (killed, out of memory, or power lost)' : previous.endReason}`);
  }
  const restarts = await runs.restartsInLastHour().catch(() => 0);
  metrics.runHistory(restarts, previous?.endReason);
  if (restarts > alertPerHour) {
    logger.warn({ restartsLastHour: restarts, previousEnd: previous?.endReason }, 'restart loop: the server has started more often than monitor.restartAlertPerHour in the last hour');
    await access.audit.record({ action: 'server.restart_loop', outcome: 'failure', actor: 'system', details: { restartsLastHour: restarts, previousEnd: previous?.endReason ?? null } });
  }
  return restarts;
};

/** Memory watch: a warning is logged and audited; critical refuses new sessions and hands over to the process hook. */
const watchMemory = (config: HarkenConfig, logger: Logger, access: Access, metrics: PrometheusMetrics, readiness: Readiness, runs: RunHistory, hooks: HarkenHooks): MemoryMonitor => {
  const thresholds = memoryThresholds({ warnMb: config.monitor.memoryWarnMb, criticalMb: config.monitor.memoryCriticalMb }, (process.memoryUsage().rss + childrenResidentBytes()) / 1_048_576, cgroupMemoryLimitMb());
  metrics.memory('ok', thresholds);
  const monitor = new MemoryMonitor({
    intervalMs: config.monitor.memorySampleMs,
    thresholds,
    onState: (state: MemoryState, sample) => {
      metrics.memory(state);
      if (state === 'ok') {
        logger.info({ rssMb: sample.totalRssMb }, 'memory back below the warning level');
        return;
      }
      const level = state === 'warn' ? thresholds.warnMb : thresholds.criticalMb;
      const detail = `RSS ${sample.totalRssMb} MB ≥ ${level} MB`;
      void access.audit.record({ action: state === 'warn' ? 'server.memory_warning' : 'server.memory_critical', outcome: 'failure', actor: 'system', details: { ...sample, thresholdMb: level } });
      if (state === 'warn') {
        logger.warn({ memory: sample, thresholdMb: level }, 'memory above the warning level');
        return;
      }
      logger.error({ memory: sample, thresholdMb: level }, 'memory above the critical level: refusing new sessions, draining, then exiting for a restart');
      runs.end('memory', detail);
      readiness.drain(`memory critical (${detail})`);
      hooks.onMemoryCritical?.(detail);
    },
  });
  logger.info({ memoryThresholds: thresholds }, 'memory watch set');
  return monitor;
};

export const openDatabase = (config: HarkenConfig): Database =>
  openSqlite({ path: config.store.sqlitePath, busyTimeoutMs: config.store.busyTimeoutMs });

/** The agents' fixed phrases and the apology, sentence by sentence as the session speaks them, into the prompt cache. */
const warmPrompts = (cache: PromptAudioCache, agents: AgentRegistry, config: HarkenConfig, signal: AbortSignal, logger: Logger): Promise<void> => {
  const sentences = new Set<string>();
  for (const text of [...agents.prompts(), config.voice.apologyText]) {
    const chunker = new SentenceChunker();
    for (const sentence of [...chunker.push(text), ...chunker.flush()]) sentences.add(sentence);
  }
  cache.register(sentences);
  if (!config.tts.promptWarmup) return Promise.resolve();
  const started = performance.now();
  return cache.warm([...sentences], { ...(config.tts.voice ? { voice: config.tts.voice } : {}), signal }).then((made) => {
    if (!signal.aborted) logger.info({ sentences: made, ms: Math.round(performance.now() - started) }, 'prompt audio cached');
  });
};

/** Wires the store, agents and HTTP app from a validated config. Migrations run here, before serving. */
/** What code embedding Harken can add: tools for LLM agents (see llm/tools.ts). */
export interface HarkenExtensions {
  readonly tools?: readonly Tool[];
}

export const createHarken = async (config: HarkenConfig, logger: Logger, now?: () => Date, extensions: HarkenExtensions = {}, hooks: HarkenHooks = {}): Promise<Harken> => {
  checkTwilioSettings(config);
  // One set of engine metrics for speech engines and the LLM chain (GET /v1/admin/engines).
  // What happens in sessions, for the Live page and the Prometheus metrics.
  const live = new LiveFeed(now);
  const metrics = new PrometheusMetrics(live);
  const engineMetrics = new InMemoryEngineMetrics(metrics);
  const llmRuntime = await createLlmRuntime(config, logger.child({ component: 'llm' }), extensions.tools, engineMetrics);
  let agents: AgentRegistry;
  try {
    agents = createAgentRegistry({
      defaultAgent: config.agents.default,
      flowsDir: config.agents.flowsDir || undefined,
      ...(now ? { now } : {}),
      ...(llmRuntime ? { llm: { runtime: llmRuntime, config } } : {}),
    });
  } catch (error) {
    await llmRuntime?.close();
    throw error;
  }
  // Before anything heavy: a certificate that cannot be read stops the start with one line.
  const tls = loadTls(config);
  const database = openDatabase(config);
  const threadPriority = new EngineThreadPriority(config.server.engineThreadNice, logger);
  let engines: VoiceEngines | undefined;
  let purgeTimer: NodeJS.Timeout | undefined;
  let memory: MemoryMonitor | undefined;
  let tracing: Tracing | undefined;
  let loopWatch: EventLoopWatch | undefined;
  // In-flight speech work (HTTP synthesis, transcription) gets part of the shutdown time, then is cancelled.
  const stopWork = new AbortController();
  const stopWarmup = new AbortController();
  let warming: Promise<void> | undefined;
  try {
    engines = config.voice.enabled ? await createVoiceEngines(config, { metrics: engineMetrics, logger: logger.child({ component: 'engines' }) }) : undefined;
    const voice = engines ? { engines, connections: new RealtimeConnections(), calls: new PhoneCalls() } : undefined;
    // Stopped first thing on close, or when the start fails later on (a port in use): it must not keep the process alive.
    warming = engines?.promptCache ? warmPrompts(engines.promptCache, agents, config, stopWarmup.signal, logger) : undefined;
    threadPriority.start();
    const migrations = await migrateToLatest(database.kysely);
    const access = createAccess(config, database, logger, now);
    access.audit.tap((event) => live.audit(event));
    const failureWatch = new AuthFailureWatch({ threshold: config.auth.failureAlertThreshold, windowMinutes: config.auth.failureAlertWindowMinutes }, (alert) => {
      logger.warn({ alert }, 'security alert: repeated authentication failures');
      metrics.securityAlert(alert.kind);
      void access.audit.record({ action: 'security.auth_failures', outcome: 'failure', actor: 'system', target: alert.subject, details: { kind: alert.kind, failures: alert.failures, windowMinutes: alert.windowMinutes } });
    });
    access.audit.tap((event) => failureWatch.observe(event));
    const setup = new SetupCode();
    const setupCode = await ensureFirstAdmin(config, access, setup);
    const conversations = new ConversationService(new ConversationRepository(database.kysely, now), agents, config.conversations);
    const callRecords = new CallRecords(new CallRepository(database.kysely, now));
    const purgeOld = async () => {
      const purged = await access.audit.purge(config.audit.retentionDays);
      await access.admins.purgeSessions();
      await access.quotas.purge();
      if (purged > 0) logger.info({ purged, retentionDays: config.audit.retentionDays }, 'old audit events deleted');
      const days = config.store.conversationRetentionDays;
      if (days > 0) {
        const erased = await conversations.purgeOlderThan(days, now?.() ?? new Date());
        if (erased > 0) {
          logger.info({ erased, retentionDays: days }, 'old conversations deleted');
          await access.audit.record({ action: 'conversations.purged', outcome: 'success', actor: 'system', details: { conversations: erased, retentionDays: days } });
        }
        // Call records hold phone numbers: kept no longer than the conversations.
        const calls = await callRecords.purgeOlderThan(days, now?.() ?? new Date());
        if (calls > 0) await access.audit.record({ action: 'calls.purged', outcome: 'success', actor: 'system', details: { calls, retentionDays: days } });
      }
    };
    await purgeOld();
    purgeTimer = setInterval(() => void purgeOld().catch((error: unknown) => logger.error({ err: error }, 'retention purge failed')), AUDIT_PURGE_INTERVAL_MS);
    purgeTimer.unref();
    const readiness = new Readiness();
    const runs = await RunHistory.begin({ file: join(config.data.dir, 'server.run'), kysely: database.kysely, version: VERSION, logger, ...(now ? { now } : {}) });
    const restarts = await watchRestarts(runs, config.monitor.restartAlertPerHour, logger, access, metrics);
    readiness.addWarning('restarts', () =>
      restarts > config.monitor.restartAlertPerHour ? `${restarts} starts in the last hour (more than monitor.restartAlertPerHour ${config.monitor.restartAlertPerHour}); the previous run ended: ${runs.previous?.endReason ?? 'unknown'}` : undefined,
    );
    memory = watchMemory(config, logger, access, metrics, readiness, runs, hooks);
    const watchedMemory = memory;
    readiness.addWarning('memory', () => {
      const latest = watchedMemory.history().at(-1);
      return watchedMemory.state === 'ok' || !latest ? undefined : `RSS ${latest.totalRssMb} MB is above the ${watchedMemory.state === 'warn' ? 'warning' : 'critical'} level (${watchedMemory.state === 'warn' ? watchedMemory.thresholds.warnMb : watchedMemory.thresholds.criticalMb} MB)`;
    });
    const security = new SecurityCounters(config.auth.failureAlertWindowMinutes);
    access.audit.tap((event) => security.observe(event));
    readiness.add('database', () => database.ping());
    readiness.add('storage', () => database.probeWrite(config.store.minFreeDiskMb));
    readiness.add('agents', () => {
      if (!agents.get(config.agents.default)) throw new Error(`default agent ${config.agents.default} is not loaded`);
    });
    if (engines) {
      const stallMs = config.monitor.audioStallMs;
      readiness.add('audio', () => {
        const stalls = live.audioStalls(stallMs);
        if (stalls.replyStalled > 0) throw new Error(`${stalls.replyStalled} session(s) have a reply that has not moved on for more than ${stallMs} ms (monitor.audioStallMs)`);
        // One quiet client is the client's business; all of them at once is ours.
        if (stalls.listening > 0 && stalls.inputStalled === stalls.listening) throw new Error(`none of the ${stalls.listening} session(s) streaming audio has received any for more than ${stallMs} ms`);
      });
      const loaded = engines;
      const healthy = (check: (() => void) | undefined) => {
        try {
          check?.();
          return true;
        } catch {
          return false;
        }
      };
      metrics.watchEngines(() => [
        { role: 'vad', engine: loaded.vad.name, healthy: healthy(() => loaded.vad.check()) },
        { role: 'stt', engine: loaded.stt.name, healthy: healthy(loaded.stt.check?.bind(loaded.stt)) },
        { role: 'tts', engine: loaded.tts.name, healthy: healthy(loaded.tts.check?.bind(loaded.tts)) },
      ]);
      readiness.addWarning('engines', () => {
        const standing = [loaded.standIns?.stt?.(), loaded.standIns?.tts?.()].filter((standIn) => standIn?.reason !== undefined);
        return standing.length === 0 ? undefined : standing.map((standIn) => `${standIn!.fallback} is answering for ${standIn!.primary} (${standIn!.reason})`).join('; ');
      });
      readiness.add(`engines (${loaded.vad.name}, ${loaded.stt.name}, ${loaded.tts.name})`, () => {
        loaded.vad.check();
        loaded.stt.check?.();
        loaded.tts.check?.();
      });
    }
    tracing = Tracing.create(config.telemetry, VERSION);
    loopWatch = new EventLoopWatch({ thresholdMs: config.monitor.eventLoopStallMs, sessions: () => live.list().length }, (report) => {
      logger.warn({ eventLoopStall: report }, 'the event loop stalled: audio and requests waited');
      metrics.eventLoopStall(report.stallMs);
    });
    const app = await buildApp({ config, ...(tls ? { tls } : {}), logger, readiness, agents, conversations, callRecords, access, setupCode: setup, live, metrics, security, runs, memory, ...(tracing ? { tracing } : {}), loopWatch, shutdownSignal: stopWork.signal, ...(voice ? { voice } : {}) });
    // Restarts show on the Health page (GET /v1/admin/process).
    await access.audit.record({ action: 'server.started', outcome: 'success', actor: 'system', details: { version: VERSION, pid: process.pid } });
    watchedMemory.start();
    loopWatch.start();
    const watchedLoop = loopWatch;
    // Renewed certificates are picked up without a restart.
    const tlsWatch: TlsWatch | undefined = tls ? watchTlsFiles(app.server as unknown as { setSecureContext(options: typeof tls): void }, config, logger) : undefined;
    return {
      app,
      voice,
      database,
      readiness,
      agents,
      migrations,
      access,
      setupCode,
      threadPriority,
      runs,
      memory,
      reloadTls: () => tlsWatch?.reload() ?? false,
      async close() {
        stopWarmup.abort();
        tlsWatch?.stop();
        clearInterval(purgeTimer);
        threadPriority.stop();
        watchedMemory.stop();
        watchedLoop.stop();
        readiness.drain('shutting down');
        if (voice) await drainSessions(voice, config.server.drainTimeoutMs, logger);
        let forceClose: NodeJS.Timeout | undefined;
        const workGrace = setTimeout(() => {
          // Speech work still running is cancelled now; what holds the shutdown up is named for the operator.
          logger.warn({ inFlight: watchedLoop.inFlightNow() }, 'shutdown: cancelling speech work still in flight');
          stopWork.abort(new ShuttingDownError());
          // A moment for the cancelled requests to answer 503, then any connection still open (a client that
          // never finishes, a socket stuck half-closed) is cut, so the shutdown ends within its time.
          forceClose = setTimeout(() => (app.server as { closeAllConnections?: () => void }).closeAllConnections?.(), FORCE_CLOSE_AFTER_CANCEL_MS);
        }, Math.max(0, config.server.shutdownTimeoutMs / 2));
        await app.close();
        clearTimeout(workGrace);
        clearTimeout(forceClose);
        await access.close();
        await warming;
        await voice?.engines.close();
        await llmRuntime?.close();
        await tracing?.close();
        runs.end('shutdown');
        await runs.close();
        await database.close();
      },
    };
  } catch (error) {
    stopWarmup.abort();
    await warming;
    clearInterval(purgeTimer);
    memory?.stop();
    loopWatch?.stop();
    await tracing?.close();
    threadPriority.stop();
    await engines?.close();
    await llmRuntime?.close();
    await database.close();
    throw error;
  }
};
