import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AgentRegistry } from '../agents/registry.js';
import type { HarkenConfig } from '../config/schema.js';
import type { ConversationService } from '../conversations/service.js';
import type { Readiness } from '../ops/readiness.js';
import { VERSION } from '../version.js';
import { registerErrorHandling } from './error-handler.js';
import { clientErrorHandler, frameworkErrors } from './client-errors.js';
import { RequestLog } from './request-log.js';
import { registerResponseHeaders } from './response-headers.js';
import { agentRoutes } from './routes/agents.js';
import { openAiRoutes } from './routes/openai/openai-routes.js';
import type { TlsFiles } from './tls.js';
import { conversationRoutes } from './routes/conversations.js';
import { healthRoutes } from './routes/health.js';
import { validatorCompiler } from './validation.js';
import { voiceRoutes } from './routes/voice.js';
import type { VoiceEngines } from '../engines/voice-engines.js';
import { registerRealtimeRoute, registerWebSocketSupport, type RealtimeConnections } from '../transports/realtime/realtime-route.js';
import { SessionFactory } from '../transports/session-factory.js';
import { registerTwilioRoutes } from '../transports/twilio/twilio-routes.js';
import type { PhoneCalls } from '../transports/twilio/phone-calls.js';
import type { OutboundCalls } from '../transports/twilio/outbound-calls.js';
import type { CallRecords } from '../calls/call-records.js';
import { callRoutes } from './routes/calls.js';
import { configRoutes } from './routes/config.js';
import { webAppRoutes } from './routes/web-app.js';
import { ConfigService } from '../config/config-service.js';
import { checkStartupSettings } from '../startup-checks.js';
import type { Access } from '../security/access.js';
import type { SetupCode } from '../security/setup-code.js';
import { registerAccessControl } from './access-control.js';
import { adminRoutes } from './routes/admin.js';
import { adminAccountRoutes } from './routes/admin-accounts.js';
import { authRoutes } from './routes/auth.js';
import { liveRoutes } from './routes/live.js';
import type { LiveFeed } from '../ops/live-feed.js';
import type { PrometheusMetrics } from '../ops/prometheus-metrics.js';
import { metricsRoutes } from './routes/metrics.js';
import { operationsRoutes } from './routes/operations.js';
import type { SecurityCounters } from '../ops/security-counters.js';
import type { RunHistory } from '../ops/run-history.js';
import type { MemoryMonitor } from '../ops/memory-monitor.js';
import type { Tracing } from '../ops/tracing.js';
import type { EventLoopWatch } from '../ops/event-loop-watch.js';

export interface AppDependencies {
  readonly config: HarkenConfig;
  /** Certificate and key when the server speaks HTTPS itself (server.tlsCertFile/tlsKeyFile). */
  readonly tls?: TlsFiles;
  readonly logger: Logger;
  readonly readiness: Readiness;
  readonly agents: AgentRegistry;
  readonly conversations: ConversationService;
  readonly callRecords: CallRecords;
  readonly access: Access;
  readonly setupCode: SetupCode;
  /** Sessions in progress and what happens in them (the Live page). */
  readonly live: LiveFeed;
  /** GET /metrics (scope `metrics`). */
  readonly metrics: PrometheusMetrics;
  /** Security events of the last minutes, restarts and memory (GET /v1/admin/health, /v1/admin/resources). */
  readonly security: SecurityCounters;
  readonly runs: RunHistory;
  readonly memory: MemoryMonitor;
  /** Aborted when a shutdown can wait no longer for in-flight speech work (it then answers 503). */
  readonly shutdownSignal?: AbortSignal;
  /** Names the requests in flight when the event loop stalls. */
  readonly loopWatch?: EventLoopWatch;
  /** OTLP traces, when telemetry.otlpEndpoint is set. */
  readonly tracing?: Tracing;
  /** Present when voice is enabled and its engines loaded. */
  readonly voice?: { readonly engines: VoiceEngines; readonly connections: RealtimeConnections; readonly calls: PhoneCalls };
}

/** A caller's request id is reused only if it is short and plain, so it cannot forge log lines. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

const requestIdOf = (request: IncomingMessage): string => {
  const header = request.headers['x-request-id'];
  return typeof header === 'string' && SAFE_REQUEST_ID.test(header) ? header : randomUUID();
};

/** Requests in progress, for the event-loop watchdog's report. */
const trackInFlight = (app: FastifyInstance, watch: EventLoopWatch): void => {
  const done = new WeakMap<object, () => void>();
  app.addHook('onRequest', (request, _reply, next) => {
    // An upgraded socket never answers: sessions are counted in the report instead.
    if (request.headers.upgrade) return next();
    done.set(request, watch.begin(`${request.method} ${request.routeOptions.url ?? 'unmatched'}`));
    next();
  });
  const finish = (request: object) => {
    done.get(request)?.();
    done.delete(request);
  };
  app.addHook('onResponse', (request, _reply, next) => {
    finish(request);
    next();
  });
  app.addHook('onRequestAbort', (request, next) => {
    finish(request);
    next();
  });
};

/** Assembles the HTTP API: plugins, routes, error handling, OpenAPI. Starts nothing. */
export const buildApp = async (deps: AppDependencies): Promise<FastifyInstance> => {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps FastifyInstance's default generics.
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: requestIdOf,
    logController: new RequestLog(deps.logger),
    bodyLimit: deps.config.server.bodyLimitBytes,
    trustProxy: deps.config.server.trustProxy,
    return503OnClosing: true,
    // HTTPS (and wss) when a certificate is configured; the header limit applies either way.
    ...(deps.tls ? { https: { ...deps.tls, maxHeaderSize: deps.config.server.maxHeaderBytes } } : { http: { maxHeaderSize: deps.config.server.maxHeaderBytes } }),
    clientErrorHandler: clientErrorHandler(deps.logger),
    frameworkErrors: frameworkErrors as never,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  deps.tracing?.instrument(app);
  if (deps.loopWatch) trackInFlight(app, deps.loopWatch);
  registerErrorHandling(app);
  registerResponseHeaders(app, {
    // The API serves JSON and the docs page; nothing needs inline code or other origins.
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        // Only behind HTTPS: on plain HTTP (a LAN address) it would break every subresource.
        upgradeInsecureRequests: deps.config.server.environment === 'production' ? [] : null,
      },
    },
    hsts: deps.config.server.environment === 'production',
  });
  if (deps.voice) {
    const { connections, calls } = deps.voice;
    await registerWebSocketSupport(app, deps.config, async (reason) => {
      connections.closeAll(reason);
      // Phone calls keep the caller's last words: wait (bounded) until they are stored.
      await calls.closeAll(reason);
    });
  }
  registerAccessControl(app, deps.config, deps.access, (policy) => {
    deps.metrics.limitRefused(policy);
    deps.security.count('limitRefusals');
  });

  if (deps.config.server.docsEnabled) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'Harken API', version: VERSION, description: 'Self-hosted voice AI agent server.' },
        tags: [
          { name: 'conversations', description: 'Text conversations with an agent' },
          { name: 'agents', description: 'Available agents' },
          { name: 'voice', description: 'Speech in and out: transcription, synthesis, voice turns, the realtime WebSocket' },
          { name: 'openai', description: 'OpenAI-compatible speech API: point an OpenAI client at http(s)://host/v1 with a Harken API key' },
          { name: 'operations', description: 'Health and readiness' },
          { name: 'auth', description: 'Logins, tokens and who is calling' },
          { name: 'admin', description: 'API keys, service accounts, audit log (scope admin)' },
          { name: 'calls', description: 'Phone calls: records, outbound calls, hang-up (scope calls)' },
          { name: 'twilio', description: 'Twilio webhooks and the media stream (signed by Twilio)' },
        ],
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', description: 'An API key (hk_…), service account secret (hksa_…) or token from POST /v1/auth/token.' },
            session: { type: 'apiKey', in: 'cookie', name: 'harken_session', description: 'Admin login session; changes also need the x-csrf-token header.' },
          },
        },
        security: [{ bearer: [] }, { session: [] }],
      },
    });
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      transformStaticCSP: (header) => (deps.config.server.environment === 'production' ? header : header.replace(/\s*upgrade-insecure-requests;?/, '')),
    });
  }

  await app.register(webAppRoutes());
  await app.register(healthRoutes(deps.readiness, VERSION));
  await app.register(configRoutes(new ConfigService(deps.config, deps.logger, checkStartupSettings), deps.access.audit, deps.config.server.configPublic));
  await app.register(authRoutes({ config: deps.config, access: deps.access, setupCode: deps.setupCode }));
  await app.register(adminRoutes(deps.access));
  await app.register(adminAccountRoutes(deps.access));
  await app.register(liveRoutes({ live: deps.live, audit: deps.access.audit, authenticator: deps.access.authenticator, runs: deps.runs, version: VERSION, recheckMs: deps.config.realtime.credentialRecheckMs }));
  await app.register(metricsRoutes(deps.metrics));
  await app.register(
    operationsRoutes({
      readiness: deps.readiness,
      memory: deps.memory,
      runs: deps.runs,
      security: deps.security,
      live: deps.live,
      memorySampleMs: deps.config.monitor.memorySampleMs,
      restartAlertPerHour: deps.config.monitor.restartAlertPerHour,
    }),
  );
  await app.register(agentRoutes(deps.agents));
  await app.register(conversationRoutes(deps.conversations, deps.access.audit));
  let outbound: OutboundCalls | undefined;
  if (deps.voice) {
    await app.register(voiceRoutes({ config: deps.config, engines: deps.voice.engines, conversations: deps.conversations, ...(deps.shutdownSignal ? { shutdownSignal: deps.shutdownSignal } : {}) }));
    await app.register(openAiRoutes({ config: deps.config, engines: deps.voice.engines, agents: deps.agents, ...(deps.shutdownSignal ? { shutdownSignal: deps.shutdownSignal } : {}) }));
    // One factory for every transport: slots, audit and ownership are counted in one place.
    const factory = new SessionFactory({ config: deps.config, conversations: deps.conversations, engines: deps.voice.engines, access: deps.access, logger: deps.logger, live: deps.live, shutdown: deps.readiness, ...(deps.tracing ? { tracing: deps.tracing } : {}) });
    registerRealtimeRoute(app, { config: deps.config, factory, engines: deps.voice.engines, agents: deps.agents, connections: deps.voice.connections, logger: deps.logger, ...(deps.tracing ? { tracing: deps.tracing } : {}) });
    if (deps.config.twilio.enabled) {
      outbound = registerTwilioRoutes(app, { config: deps.config, access: deps.access, factory, calls: deps.voice.calls, records: deps.callRecords, agents: deps.agents, logger: deps.logger, shutdown: deps.readiness });
    }
  }
  // Call records stay readable with Twilio off; placing and hanging up need it.
  await app.register(callRoutes(deps.callRecords, outbound, deps.access.audit));
  return app;
};
