import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { HarkenConfig } from '../../config/schema.js';
import type { VoiceEngines } from '../../engines/voice-engines.js';
import type { Caller } from '../../security/authenticator.js';
import { credentialedCaller, SessionRefusedError, type SessionFactory } from '../session-factory.js';
import { CloseCode, PROTOCOL_V1, ProtocolError } from './protocol.js';
import { RealtimeConnection } from './realtime-connection.js';
import { ConnectionMonitor } from '../../ops/connection-monitor.js';
import type { Tracing } from '../../ops/tracing.js';
import type { AgentRegistry } from '../../agents/registry.js';
import { openOpenAiRealtime } from '../openai-realtime/openai-realtime-route.js';
import { chooseSubprotocol, realtimeProtocolOf } from '../openai-realtime/upgrade.js';
import { inOpenAiShape } from '../../server/routes/openai/openai-errors.js';

/** What shutdown needs of a realtime connection, whichever protocol it speaks. */
interface LiveConnection {
  close(code: number, reason: string): void;
  drain(timeoutMs: number): Promise<void>;
}

/** Live realtime connections (native and OpenAI), so shutdown can close them and tests can check none leak. */
export class RealtimeConnections {
  private readonly open = new Set<LiveConnection>();

  add(connection: LiveConnection): void {
    this.open.add(connection);
  }

  remove(connection: LiveConnection): void {
    this.open.delete(connection);
  }

  get size(): number {
    return this.open.size;
  }

  closeAll(reason: string): void {
    for (const connection of this.open) connection.close(CloseCode.goingAway, reason);
  }

  /** Shutdown: every session finishes the reply under way (at most `timeoutMs`), stores what it holds, and closes 1001. */
  async drainAll(timeoutMs: number): Promise<void> {
    await Promise.all([...this.open].map((connection) => connection.drain(timeoutMs)));
  }
}

export interface RealtimeRouteDependencies {
  readonly config: HarkenConfig;
  readonly factory: SessionFactory;
  readonly engines: VoiceEngines;
  readonly agents: AgentRegistry;
  readonly connections: RealtimeConnections;
  readonly logger: Logger;
  /** Reads the caller's W3C trace context at the upgrade, when tracing is on. */
  readonly tracing?: Tracing;
}

/**
 * The WebSocket plugin. Registered before access control, so that its hooks know an upgrade
 * request even when access control answers it (the refused socket is then closed).
 */
export const registerWebSocketSupport = async (app: FastifyInstance, config: HarkenConfig, closeAll: (reason: string) => Promise<void>): Promise<void> => {
  await app.register(websocket, {
    options: {
      maxPayload: config.realtime.maxFrameBytes,
      perMessageDeflate: false,
      // Never echo an offered token subprotocol back: answer with the protocol name or nothing.
      handleProtocols: (offered) => chooseSubprotocol(offered, PROTOCOL_V1),
    },
    // A client's broken frame (too big, bad UTF-8) is logged once by the connection; only real faults get a stack.
    errorHandler: (error: Error & { code?: string }, socket, request) => {
      if (!error.code?.startsWith('WS_ERR_')) request.log.error({ err: error }, 'realtime handler failed');
      socket.terminate();
    },
    preClose: (done) => {
      void closeAll('server shutting down').finally(() => {
        // Sockets no transport holds yet (not started, refused) are closed too, or closing the server would wait for them.
        for (const client of app.websocketServer.clients) client.close(1001, 'server shutting down');
        done();
      });
    },
  });
};

const closeCodeOfRefusal = (error: SessionRefusedError): number => {
  if (error.code === 'shutting_down') return CloseCode.goingAway;
  return error.scope === 'server' ? CloseCode.tryAgainLater : CloseCode.callerSessionLimit;
};

/** GET /v1/realtime — the WebSocket endpoint of realtime protocol v1 and of OpenAI's Realtime protocol (see README). */
export const registerRealtimeRoute = (app: FastifyInstance, deps: RealtimeRouteDependencies): void => {
  const { config, factory } = deps;
  app.get(
    '/v1/realtime',
    {
      websocket: true,
      config: { access: 'realtime' },
      // An OpenAI client refused at the upgrade (401, 403, 429) reads OpenAI's error shape.
      onSend: async (request, reply, payload) =>
        realtimeProtocolOf(request.headers, new URLSearchParams(request.url.split('?')[1] ?? '')).kind === 'openai' ? inOpenAiShape(reply.statusCode, payload) : payload,
      schema: {
        summary: 'Realtime voice conversation (WebSocket: protocol v1, or OpenAI Realtime)',
        description:
          'Upgrade to a WebSocket. Protocol v1: first send {"type":"start","sampleRate":16000,"encoding":"pcm_s16le"}, then binary PCM frames. OpenAI Realtime (beta or GA events): connect with ?model=…, an OpenAI-Beta header or the "realtime" subprotocol. See the README for events and close codes.',
        tags: ['voice'],
      },
    },
    (socket, request) => {
      const logger = deps.logger.child({ reqId: request.id });
      const caller = request.caller as Caller;
      const monitor = new ConnectionMonitor({ maxMessagesPerSecond: config.monitor.connectionMaxMessagesPerSecond, maxErrors: config.monitor.connectionMaxErrors }, (rate) =>
        logger.warn({ messagesPerSecond: rate, limit: config.monitor.connectionMaxMessagesPerSecond }, 'realtime connection flagged: message rate over monitor.connectionMaxMessagesPerSecond'),
      );
      const who = { ...credentialedCaller(caller, { ip: request.ip, connectionId: request.id, logger }), channel: 'realtime', monitor, ...(deps.tracing ? { traceContext: deps.tracing.extract(request.headers) } : {}) };
      let pending: { release(): void };
      try {
        pending = factory.admitPending(who);
      } catch (error) {
        const refused = error as SessionRefusedError;
        socket.send(JSON.stringify({ type: 'error', code: refused.code, message: refused.message }));
        socket.close(closeCodeOfRefusal(refused), refused.message);
        return;
      }
      const protocol = realtimeProtocolOf(request.headers, new URLSearchParams(request.url.split('?')[1] ?? ''));
      if (protocol.kind === 'openai') {
        pending.release();
        openOpenAiRealtime(socket, request, protocol.dialect, deps, who, factory.guard({ ...who, caller }), logger.child({ protocol: `openai-${protocol.dialect}` }), closeCodeOfRefusal);
        return;
      }
      const connection: RealtimeConnection = new RealtimeConnection(
        socket,
        (start, transport) => {
          pending.release();
          try {
            return factory.open(
              who,
              {
                inputSampleRate: start.sampleRate,
                beforeTurn: () => connection.credentialsStillValid(),
                ...(start.agent ? { agent: start.agent } : {}),
                ...(start.conversationId ? { conversationId: start.conversationId } : {}),
              },
              transport,
            );
          } catch (error) {
            if (error instanceof SessionRefusedError) throw new ProtocolError(error.code, error.message, closeCodeOfRefusal(error));
            throw error;
          }
        },
        {
          idleTimeoutMs: config.realtime.idleTimeoutMs,
          pingIntervalMs: config.realtime.pingIntervalMs,
          maxBufferedBytes: config.realtime.maxBufferedBytes,
          startTimeoutMs: config.realtime.startTimeoutMs,
          outputSampleRate: deps.engines.tts.sampleRate,
        },
        logger,
        (closed) => {
          pending.release();
          deps.connections.remove(closed);
        },
        factory.guard({ ...who, caller }),
        monitor,
      );
      deps.connections.add(connection);
    },
  );
};
