import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { startListeningServer } from '../helpers/harness.js';
import { recording } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes?: Array<{ key: string; value: Record<string, unknown> }>;
}

/** An OTLP/HTTP collector: takes POST /v1/traces (JSON, as the exporter sends it) and keeps the decoded spans. */
const startCollector = async (): Promise<{ url: string; spans: OtlpSpan[]; bodies: string[]; close(): Promise<void> }> => {
  const spans: OtlpSpan[] = [];
  const bodies: string[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      if (request.method === 'POST' && request.url === '/v1/traces' && request.headers['content-type']?.startsWith('application/json')) {
        bodies.push(body);
        const decoded = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const resource of decoded.resourceSpans) for (const scope of resource.scopeSpans) spans.push(...scope.spans);
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      response.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, spans, bodies, close: () => new Promise((resolve) => server.close(() => resolve())) };
};

const attribute = (span: OtlpSpan, key: string): unknown => {
  const value = span.attributes?.find((item) => item.key === key)?.value;
  return value ? Object.values(value)[0] : undefined;
};
const ms = (nanos: string): number => Number(BigInt(nanos) / 1_000_000n);

describe('OpenTelemetry traces over OTLP/HTTP', () => {
  const tempDir = useTempDirs();
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('sends a span per request under the caller’s traceparent, and a turn with its stages, without anything said', async () => {
    const collector = await startCollector();
    cleanups.push(() => collector.close());
    const server = await startListeningServer(tempDir(), { HARKEN_TELEMETRY_OTLP_ENDPOINT: collector.url });
    cleanups.push(() => server.harken.close());

    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const response = await fetch(`${server.url}/v1/agents`, { headers: { authorization: `Bearer ${server.apiKey}`, traceparent: `00-${traceId}-${parentId}-01` } });
    expect(response.status).toBe(200);

    const sessionTrace = 'a3ce929d0e0e47364bf92f3577b34da6';
    const client = await RealtimeClient.connect({ url: server.wsUrl, credentials: server.apiKey, sampleRate: 16_000, agent: 'echo', headers: { traceparent: `00-${sessionTrace}-b7ad6b7169203331-01` } });
    cleanups.push(() => client.close());
    await client.waitFor('audio_end');
    const mark = client.events.length;
    await client.streamAudio(recording('goforward.wav').samples);
    await client.streamSilence(1_500);
    const transcript = await client.waitFor('transcript', { after: mark, where: (event) => event.final });
    await client.waitFor('audio_end', { after: mark, timeoutMs: 15_000 });
    await client.streamSilence(1_000);
    await expect.poll(() => collector.spans.filter((span) => span.name === 'voice.turn').length, { timeout: 10_000 }).toBe(2);

    const request = collector.spans.find((span) => span.name === 'GET /v1/agents')!;
    expect(request).toMatchObject({ traceId, parentSpanId: parentId });
    expect(attribute(request, 'http.route')).toBe('/v1/agents');
    expect(Number(attribute(request, 'http.response.status_code'))).toBe(200);

    // The greeting (a reply without a caller turn), then the spoken turn with every stage.
    const [greeting, spoken] = collector.spans.filter((span) => span.name === 'voice.turn').sort((a, b) => ms(a.startTimeUnixNano) - ms(b.startTimeUnixNano));
    expect(attribute(greeting!, 'harken.turn.source')).toBe('text');
    expect(spoken).toMatchObject({ traceId: sessionTrace, parentSpanId: 'b7ad6b7169203331' });
    expect(attribute(spoken!, 'harken.turn.source')).toBe('voice');
    expect(attribute(spoken!, 'harken.reply.status')).toBe('completed');
    expect(attribute(spoken!, 'harken.agent')).toBe('echo');
    const stages = collector.spans.filter((span) => span.parentSpanId === spoken!.spanId);
    expect(stages.map((span) => span.name).sort()).toEqual(['agent', 'playback', 'stt', 'tts.first_audio', 'vad.end_of_turn']);
    // The stages follow one another inside the turn.
    const byName = Object.fromEntries(stages.map((span) => [span.name, span]));
    const order = ['vad.end_of_turn', 'stt', 'agent', 'tts.first_audio', 'playback'];
    for (let index = 1; index < order.length; index += 1) expect(ms(byName[order[index]!]!.startTimeUnixNano)).toBeGreaterThanOrEqual(ms(byName[order[index - 1]!]!.endTimeUnixNano) - 1);
    expect(ms(byName['vad.end_of_turn']!.endTimeUnixNano) - ms(byName['vad.end_of_turn']!.startTimeUnixNano)).toBe(server.config.voice.endOfTurnSilenceMs);
    expect(ms(spoken!.endTimeUnixNano)).toBeGreaterThanOrEqual(ms(byName.playback!.endTimeUnixNano));
    // Nothing the caller said, nothing the agent answered, no credential.
    const sent = collector.bodies.join('\n');
    for (const word of transcript.text.split(/\s+/).filter((word) => word.length > 3)) expect(sent).not.toContain(word);
    expect(sent).not.toContain('You said');
    expect(sent).not.toContain(server.apiKey);
  }, 60_000);
});
