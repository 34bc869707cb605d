import { defaultTextMapGetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SessionEvent } from '../session/events.js';

export interface TracingSettings {
  readonly otlpEndpoint: string;
  readonly serviceName: string;
  readonly sampleRatio: number;
}

const propagator = new W3CTraceContextPropagator();

/** OTLP/HTTP wants the traces path; an endpoint given as a base (like OTEL_EXPORTER_OTLP_ENDPOINT) gets it added. */
const tracesUrl = (endpoint: string): string => (endpoint.replace(/\/+$/, '').endsWith('/v1/traces') ? endpoint : `${endpoint.replace(/\/+$/, '')}/v1/traces`);

/** Wall-clock milliseconds with sub-millisecond precision, as span times want them. */
const nowMs = (): number => performance.timeOrigin + performance.now();

/**
 * OpenTelemetry traces over OTLP/HTTP, off unless telemetry.otlpEndpoint is set: a span per HTTP
 * request and, per voice turn, a span with one child per stage. A provider of its own (not the
 * global one), so several servers in a process keep apart. Attributes carry ids, routes, names
 * and outcomes, never what anyone said.
 */
export class Tracing {
  private constructor(
    private readonly provider: BasicTracerProvider,
    readonly tracer: Tracer,
  ) {}

  static create(settings: TracingSettings, version: string): Tracing | undefined {
    if (!settings.otlpEndpoint) return undefined;
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': settings.serviceName, 'service.version': version }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(settings.otlpEndpoint), timeoutMillis: 5_000 }), { scheduledDelayMillis: 1_000, maxQueueSize: 4_096 })],
    });
    return new Tracing(provider, provider.getTracer('harken', version));
  }

  /** The caller's W3C trace context (`traceparent`, `tracestate`), or none. */
  extract(headers: Record<string, string | string[] | undefined>): Context {
    return propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
  }

  /** Exports what is left; call at shutdown. */
  async close(): Promise<void> {
    await this.provider.shutdown().catch(() => undefined);
  }

  /** A server span per HTTP request (WebSocket upgrades excepted: their turns are traced instead), child of the caller's trace. */
  instrument(app: FastifyInstance): void {
    const spans = new WeakMap<FastifyRequest, Span>();
    app.addHook('onRequest', (request, _reply, done) => {
      if (request.headers.upgrade) return done();
      const route = request.routeOptions.url ?? 'unmatched';
      spans.set(
        request,
        this.tracer.startSpan(
          `${request.method} ${route}`,
          { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'http.route': route, 'harken.request_id': request.id } },
          this.extract(request.headers),
        ),
      );
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      const span = spans.get(request);
      if (span) {
        span.setAttribute('http.response.status_code', reply.statusCode);
        if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
      done();
    });
  }

  /** Watches one session's events and turns each turn into spans (see TurnTracer). */
  turns(parent: Context, attributes: Record<string, string>, endOfTurnMs: number): TurnTracer {
    return new TurnTracer(this.tracer, parent, attributes, endOfTurnMs);
  }
}

/** When each stage of the turn in progress happened (ms, wall clock). */
interface TurnMarks {
  lastWordAt?: number;
  endOfTurnAt?: number;
  transcriptAt?: number;
  replyStartedAt?: number;
  firstTextAt?: number;
  firstAudioAt?: number;
}

/**
 * One voice turn as a trace: `voice.turn` from the caller's last word (or a typed turn's start)
 * to the end of the reply, with children `vad.end_of_turn`, `stt`, `agent`, `tts.first_audio`
 * and `playback`. Spans are made when the reply is done, with the times seen on the way.
 */
export class TurnTracer {
  private marks: TurnMarks = {};

  constructor(
    private readonly tracer: Tracer,
    private readonly parent: Context,
    private readonly attributes: Record<string, string>,
    private readonly endOfTurnMs: number,
  ) {}

  observe(event: SessionEvent): void {
    const now = nowMs();
    const marks = this.marks;
    switch (event.type) {
      case 'input_speech_stopped':
        marks.endOfTurnAt = now;
        marks.lastWordAt = now - this.endOfTurnMs;
        return;
      case 'input_transcript':
        if (event.final && event.text) marks.transcriptAt ??= now;
        return;
      case 'reply_started':
        marks.replyStartedAt = now;
        return;
      case 'reply_text_delta':
      case 'reply_text_done':
        marks.firstTextAt ??= now;
        return;
      case 'reply_audio_started':
        marks.firstAudioAt ??= now;
        return;
      case 'reply_done':
        this.finish(event.status, now);
        return;
      default:
        return;
    }
  }

  private finish(status: string, endedAt: number): void {
    const marks = this.marks;
    this.marks = {};
    const startedAt = marks.lastWordAt ?? marks.replyStartedAt ?? endedAt;
    const turn = this.tracer.startSpan('voice.turn', { startTime: startedAt, attributes: { ...this.attributes, 'harken.turn.source': marks.lastWordAt === undefined ? 'text' : 'voice', 'harken.reply.status': status } }, this.parent);
    const inTurn = trace.setSpan(this.parent, turn);
    const stage = (name: string, start: number | undefined, end: number | undefined) => {
      if (start === undefined || end === undefined || end < start) return;
      this.tracer.startSpan(name, { startTime: start }, inTurn).end(end);
    };
    stage('vad.end_of_turn', marks.lastWordAt, marks.endOfTurnAt);
    stage('stt', marks.endOfTurnAt, marks.transcriptAt);
    stage('agent', marks.transcriptAt ?? marks.replyStartedAt, marks.firstTextAt);
    stage('tts.first_audio', marks.firstTextAt, marks.firstAudioAt);
    stage('playback', marks.firstAudioAt, endedAt);
    if (status === 'failed') turn.setStatus({ code: SpanStatusCode.ERROR });
    turn.end(endedAt);
  }
}
