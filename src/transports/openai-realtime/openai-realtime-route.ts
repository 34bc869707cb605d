import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import type { AgentRegistry } from '../../agents/registry.js';
import type { HarkenConfig } from '../../config/schema.js';
import type { VoiceEngines } from '../../engines/voice-engines.js';
import { parseVoiceAliases, resolveVoice } from '../../server/routes/openai/model-names.js';
import { CloseCode } from '../realtime/protocol.js';
import { SessionRefusedError, type ConnectionGuard, type SessionCaller, type SessionFactory } from '../session-factory.js';
import { OpenAiRealtimeConnection, SESSION_INPUT_RATE } from './openai-realtime-connection.js';
import type { Dialect, RealtimeSessionConfig, ServerVad } from './session-config.js';
import { isOpenAiRealtimeModel } from './upgrade.js';

export interface OpenAiRealtimeDependencies {
  readonly config: HarkenConfig;
  readonly factory: SessionFactory;
  readonly engines: VoiceEngines;
  readonly agents: AgentRegistry;
  readonly connections: { add(connection: OpenAiRealtimeConnection): void; remove(connection: OpenAiRealtimeConnection): void };
}

/** An error event in OpenAI's shape, for refusals before there is a connection object. */
const refusalEvent = (code: string, message: string, param: string | null = null): string =>
  JSON.stringify({ event_id: `event_refused_${Date.now()}`, type: 'error', error: { type: 'invalid_request_error', code, message, param, event_id: null } });

/** `model` names an agent, or one of OpenAI's realtime models (the default agent). */
const agentFor = (model: string | null, agents: AgentRegistry): { agent: string } | { error: string } => {
  if (model === null || model === '' || isOpenAiRealtimeModel(model)) return { agent: agents.defaultAgent };
  if (agents.get(model)) return { agent: model };
  return { error: `The model \`${model}\` does not exist; use an OpenAI realtime model name (served by the default agent) or an agent: ${agents.names().join(', ')}` };
};

/**
 * Opens a session for a client that asked for OpenAI's Realtime protocol on /v1/realtime: the
 * same slots, audit, ownership and re-checks as a native session (SessionFactory), with the
 * greeting held until the client asks for a response.
 */
export const openOpenAiRealtime = (
  socket: WebSocket,
  request: FastifyRequest,
  dialect: Dialect,
  deps: OpenAiRealtimeDependencies,
  who: SessionCaller,
  guard: ConnectionGuard | undefined,
  logger: Logger,
  closeCodeOfRefusal: (error: SessionRefusedError) => number,
): void => {
  const { config, factory, engines } = deps;
  const model = new URLSearchParams(request.url.split('?')[1] ?? '').get('model');
  const chosen = agentFor(model, deps.agents);
  if ('error' in chosen) {
    socket.send(refusalEvent('model_not_found', chosen.error, 'model'));
    socket.close(CloseCode.policyViolation, 'model not found');
    return;
  }
  const aliases = parseVoiceAliases(config.tts.voiceAliases, engines.tts);
  const vadDefaults: ServerVad = {
    type: 'server_vad',
    threshold: config.vad.threshold,
    prefixPaddingMs: 300,
    silenceDurationMs: config.voice.endOfTurnSilenceMs,
    createResponse: true,
    interruptResponse: true,
  };
  const initial: RealtimeSessionConfig = {
    model: model ?? 'gpt-realtime',
    instructions: '',
    voice: 'alloy',
    inputFormat: 'pcm16',
    outputFormat: 'pcm16',
    turnDetection: vadDefaults,
    transcription: null,
    modalities: dialect === 'beta' ? ['text', 'audio'] : ['audio'],
    tools: [],
    toolChoice: 'auto',
    temperature: 0.8,
    maxOutputTokens: 'inf',
  };
  const connection: OpenAiRealtimeConnection = new OpenAiRealtimeConnection(
    socket,
    (transport) => {
      try {
        return factory.open(
          who,
          { inputSampleRate: SESSION_INPUT_RATE, agent: chosen.agent, holdGreeting: true, silenceHandling: false, falseInterruptionRecovery: false, beforeTurn: () => connection.credentialsStillValid() },
          transport,
        );
      } catch (error) {
        if (error instanceof SessionRefusedError) {
          socket.send(refusalEvent(error.code, error.message));
          socket.close(closeCodeOfRefusal(error), error.message);
        }
        throw error;
      }
    },
    {
      dialect,
      initial,
      vadDefaults,
      vadDetectionLagMs: config.vad.minSpeechMs,
      resolveVoice: (name) => resolveVoice(name, aliases, engines.tts, config.tts.voice || undefined),
      idleTimeoutMs: config.realtime.idleTimeoutMs,
      pingIntervalMs: config.realtime.pingIntervalMs,
      maxBufferedBytes: config.realtime.maxBufferedBytes,
    },
    logger,
    (closed) => deps.connections.remove(closed),
    guard,
    who.monitor,
  );
  deps.connections.add(connection);
};
