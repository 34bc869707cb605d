import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { HarkenConfig } from '../../config/schema.js';
import type { ConversationService } from '../../conversations/service.js';
import type { VoiceEngines } from '../../engines/voice-engines.js';
import { VoiceSession } from '../../session/voice-session.js';
import { CloseCode } from './protocol.js';
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
}

/** GET /v1/realtime — the WebSocket endpoint of realtime protocol v1 (see README). */
export const registerRealtimeRoute = async (app: FastifyInstance, deps: RealtimeRouteDependencies): Promise<void> => {
  const { config } = deps;
  await app.register(websocket, {
    options: { maxPayload: config.realtime.maxFrameBytes, perMessageDeflate: false },
    preClose: (done) => {
      deps.connections.closeAll('server shutting down');
      done();
    },
  });
  app.get(
    '/v1/realtime',
    {
      websocket: true,
      schema: {
        summary: 'Realtime voice conversation (WebSocket, protocol v1)',
        description: 'Upgrade to a WebSocket. First send {"type":"start","sampleRate":16000,"encoding":"pcm_s16le"}, then binary PCM frames. See the README for events and close codes.',
        tags: ['voice'],
      },
    },
    (socket, request) => {
      const logger = deps.logger.child({ reqId: request.id });
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
        (closed) => deps.connections.remove(closed),
      );
      deps.connections.add(connection);
    },
  );
};
