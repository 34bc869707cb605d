import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { HarkenConfig } from '../../config/schema.js';
import type { ConversationService } from '../../conversations/service.js';
import type { VoiceEngines } from '../../engines/voice-engines.js';
import { VoiceSession } from '../../session/voice-session.js';
import type { Access } from '../../security/access.js';
import { tenantScopeOf, type Caller } from '../../security/authenticator.js';
import { limitKeyOf } from '../../security/ip-mask.js';
import type { SessionSlot } from '../../security/session-limits.js';
import { CloseCode, PROTOCOL_V1, ProtocolError } from './protocol.js';
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
    // A client's broken frame (too big, bad UTF-8) is logged once by the connection; only real faults get a stack.
    errorHandler: (error: Error & { code?: string }, socket, request) => {
      if (!error.code?.startsWith('WS_ERR_')) request.log.error({ err: error }, 'realtime handler failed');
      socket.terminate();
    },
    preClose: (done) => {
      connections.closeAll('server shutting down');
      done();
    },
  });
};

/** GET /v1/realtime — the WebSocket endpoint of realtime protocol v1 (see README). */
export const registerRealtimeRoute = (app: FastifyInstance, deps: RealtimeRouteDependencies): void => {
  const { config, access } = deps;
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
      const caller = request.caller as Caller;
      const actor = caller.label;
      const address = limitKeyOf(request.ip);
      const refuse = (scope: string, limit: number, code: string, message: string, closeCode: number) => {
        void access.audit.record({ action: 'session.refused', outcome: 'failure', actor, ip: request.ip, details: { scope, limit } });
        return new ProtocolError(code, message, closeCode);
      };

      // Before `start` a socket holds no session slot, only a place among its address's pending ones.
      const pending = access.sessions.admitPending(address);
      if (!pending.ok) {
        const error = refuse('pending', pending.limit, 'too_many_sessions', `this address already has ${pending.limit} connections that have not started`, CloseCode.callerSessionLimit);
        socket.send(JSON.stringify({ type: 'error', code: error.code, message: error.message }));
        socket.close(error.closeCode, error.message);
        return;
      }
      let slot: Extract<SessionSlot, { ok: true }> | undefined;
      let startedAt = 0;
      const connection: RealtimeConnection = new RealtimeConnection(
        socket,
        (start, transport) => {
          pending.release();
          const acquired = access.sessions.acquire(actor, caller.maxSessions ?? access.sessionsPerCaller, address);
          if (!acquired.ok) {
            if (acquired.scope === 'server') throw refuse('server', acquired.limit, 'server_busy', `the server is at its limit of ${acquired.limit} concurrent sessions; try again later`, CloseCode.tryAgainLater);
            const who = acquired.scope === 'caller' ? 'these credentials' : 'this address';
            throw refuse(acquired.scope, acquired.limit, 'too_many_sessions', `${who} already have ${acquired.limit} concurrent sessions`, CloseCode.callerSessionLimit);
          }
          slot = acquired;
          startedAt = Date.now();
          void access.audit.record({ action: 'session.started', outcome: 'success', actor, ip: request.ip, target: `session:${request.id}` });
          return new VoiceSession(
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
              tenant: caller.tenant,
              scope: tenantScopeOf(caller),
              maxQueuedTurns: config.realtime.maxQueuedTurns,
              beforeTurn: () => connection.credentialsStillValid(),
              ...(start.agent ? { agent: start.agent } : {}),
              ...(start.conversationId ? { conversationId: start.conversationId } : {}),
            },
            logger,
          );
        },
        {
          idleTimeoutMs: config.realtime.idleTimeoutMs,
          pingIntervalMs: config.realtime.pingIntervalMs,
          maxBufferedBytes: config.realtime.maxBufferedBytes,
          startTimeoutMs: config.realtime.startTimeoutMs,
        },
        logger,
        (closed) => {
          pending.release();
          deps.connections.remove(closed);
          if (!slot) return;
          slot.release();
          void access.audit.record({ action: 'session.ended', outcome: 'success', actor, ip: request.ip, target: `session:${request.id}`, details: { seconds: Math.round((Date.now() - startedAt) / 1000) } });
        },
        {
          recheckMs: config.realtime.credentialRecheckMs,
          recheck: async () => {
            const result = await access.authenticator.recheck(caller);
            if (result.ok) return { ok: true };
            void access.audit.record({ action: 'session.closed_revoked', outcome: 'success', actor, ip: request.ip, target: `session:${request.id}`, details: { reason: result.code } });
            return { ok: false, code: result.code, message: result.message };
          },
          admitText: async () => {
            if (!config.rateLimit.enabled) return { ok: true };
            const decision = await access.rateLimits.consume([{ name: 'caller', key: actor, limit: caller.rateLimit ?? config.rateLimit.requests }]);
            if (!decision || decision.allowed) return { ok: true };
            return { ok: false, code: 'rate_limited', message: `too many requests (${decision.bucket.limit} per ${config.rateLimit.windowSeconds} s, typed turns included); retry in ${decision.resetSeconds} s` };
          },
        },
      );
      deps.connections.add(connection);
    },
  );
};
