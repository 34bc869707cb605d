import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { HarkenConfig } from '../../config/schema.js';
import type { ConversationService } from '../../conversations/service.js';
import type { VoiceEngines } from '../../engines/voice-engines.js';
import { VoiceSession } from '../../session/voice-session.js';
import type { Access } from '../../security/access.js';
import { CloseCode, PROTOCOL_V1 } from './protocol.js';
import { RealtimeConnection } from './realtime-connection.js';

/** Live realtime connections, so shutdown can close them and tests can check none leak. */
export class RealtimeConnections {
  private readonly open = new Set<RealtimeConnection>();

  add(connection: RealtimeConnection): void {
    this.open.add(connection);
  }

  remove(connection: RealtimeConnection): void {
    this.open.delete(connection);
  }

  get size(): number {
    return this.open.size;
  }

  closeAll(reason: string): void {
    for (const connection of this.open) connection.close(CloseCode.goingAway, reason);
  }
}

export interface RealtimeRouteDependencies {
  readonly config: HarkenConfig;
  readonly conversations: ConversationService;
  readonly engines: VoiceEngines;
  readonly connections: RealtimeConnections;
  readonly logger: Logger;
  readonly access: Access;
}

/**
 * The WebSocket plugin. Registered before access control, so that its hooks know an upgrade
 * request even when access control answers it (the refused socket is then closed).
 */
export const registerWebSocketSupport = async (app: FastifyInstance, config: HarkenConfig, connections: RealtimeConnections): Promise<void> => {
  await app.register(websocket, {
    options: {
      maxPayload: config.realtime.maxFrameBytes,
      perMessageDeflate: false,
      // Never echo an offered token subprotocol back: answer with the protocol name or nothing.
      handleProtocols: (offered) => (offered.has(PROTOCOL_V1) ? PROTOCOL_V1 : false),
    },
    preClose: (done) => {
      connections.closeAll('server shutting down');
      done();
    },
  });
};

/** GET /v1/realtime — the WebSocket endpoint of realtime protocol v1 (see README). */
export const registerRealtimeRoute = (app: FastifyInstance, deps: RealtimeRouteDependencies): void => {
  const { config } = deps;
  app.get(
    '/v1/realtime',
    {
      websocket: true,
      config: { access: 'realtime' },
      schema: {
        summary: 'Realtime voice conversation (WebSocket, protocol v1)',
        description: 'Upgrade to a WebSocket. First send {"type":"start","sampleRate":16000,"encoding":"pcm_s16le"}, then binary PCM frames. See the README for events and close codes.',
        tags: ['voice'],
      },
    },
    (socket, request) => {
      const logger = deps.logger.child({ reqId: request.id });
      const caller = request.caller;
      const actor = caller?.label ?? 'anonymous';
      const slot = deps.access.sessions.acquire(actor, caller?.maxSessions ?? config.realtime.maxSessionsPerCaller);
      if (!slot.ok) {
        const server = slot.scope === 'server';
        const message = server ? `the server is at its limit of ${slot.limit} concurrent sessions; try again later` : `these credentials already have ${slot.limit} concurrent sessions`;
        socket.send(JSON.stringify({ type: 'error', code: server ? 'server_busy' : 'too_many_sessions', message }));
        socket.close(server ? CloseCode.tryAgainLater : CloseCode.callerSessionLimit, message);
        void deps.access.audit.record({ action: 'session.refused', outcome: 'failure', actor, ip: request.ip, details: { scope: slot.scope, limit: slot.limit } });
        return;
      }
      const startedAt = Date.now();
      void deps.access.audit.record({ action: 'session.started', outcome: 'success', actor, ip: request.ip, target: `session:${request.id}` });
      const connection = new RealtimeConnection(
        socket,
        (start, transport) =>
          new VoiceSession(
            deps.conversations,
            deps.engines,
            transport,
            {
              endOfTurnSilenceMs: config.voice.endOfTurnSilenceMs,
              bargeInMinSpeechMs: config.voice.bargeInMinSpeechMs,
              audioLeadMs: config.realtime.audioLeadMs,
              ...(config.tts.voice ? { voice: config.tts.voice } : {}),
            },
            {
              inputSampleRate: start.sampleRate,
              ...(start.agent ? { agent: start.agent } : {}),
              ...(start.conversationId ? { conversationId: start.conversationId } : {}),
            },
            logger,
          ),
        { idleTimeoutMs: config.realtime.idleTimeoutMs, pingIntervalMs: config.realtime.pingIntervalMs, maxBufferedBytes: config.realtime.maxBufferedBytes },
        logger,
        (closed) => {
          slot.release();
          deps.connections.remove(closed);
          void deps.access.audit.record({ action: 'session.ended', outcome: 'success', actor, ip: request.ip, target: `session:${request.id}`, details: { seconds: Math.round((Date.now() - startedAt) / 1000) } });
        },
      );
      deps.connections.add(connection);
    },
  );
};
