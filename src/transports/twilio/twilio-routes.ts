import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import twilio from 'twilio';
import type { HarkenConfig } from '../../config/schema.js';
import type { Access } from '../../security/access.js';
import type { AuditAction } from '../../security/audit-log.js';
import { tenantScope } from '../../security/tenants.js';
import { SessionRefusedError, type SessionFactory } from '../session-factory.js';
import { CallPolicy } from './call-policy.js';
import { StreamTokens } from './stream-tokens.js';
import { checkTwilioSettings } from './twilio-settings.js';
import { TwilioConnection } from './twilio-connection.js';

export const VOICE_WEBHOOK_PATH = '/v1/twilio/voice';
export const MEDIA_STREAM_PATH = '/v1/twilio/media';

/** Calls in progress, so the webhook can refuse new ones at the limit and shutdown can end them. */
export class PhoneCalls {
  private readonly open = new Set<TwilioConnection>();
  /** Calls answered whose stream has not started yet (by stream token): they count toward the limit until it does or the token expires. */
  private readonly reserved = new Map<string, NodeJS.Timeout>();

  get size(): number {
    return this.open.size + this.reserved.size;
  }

  get reservedCount(): number {
    return this.reserved.size;
  }

  reserve(token: string, ttlMs: number): void {
    const timer = setTimeout(() => this.reserved.delete(token), ttlMs);
    timer.unref();
    this.reserved.set(token, timer);
  }

  unreserve(token: string): void {
    clearTimeout(this.reserved.get(token));
    this.reserved.delete(token);
  }

  add(connection: TwilioConnection): void {
    this.open.add(connection);
  }

  remove(connection: TwilioConnection): void {
    this.open.delete(connection);
  }

  /** Ends every call and waits (bounded) until their sessions have stored what they hold. */
  async closeAll(reason: string, waitMs = 5_000): Promise<void> {
    const ending = [...this.open].map((connection) => {
      connection.close(1001, reason);
      return connection.finished;
    });
    await Promise.race([Promise.all(ending), new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
  }
}

export interface TwilioRouteDependencies {
  readonly config: HarkenConfig;
  readonly access: Access;
  readonly factory: SessionFactory;
  readonly calls: PhoneCalls;
  readonly logger: Logger;
}

const twiml = (build: (response: twilio.twiml.VoiceResponse) => void): string => {
  const response = new twilio.twiml.VoiceResponse();
  build(response);
  return response.toString();
};

const sendTwiml = (reply: FastifyReply, xml: string): FastifyReply => reply.type('text/xml; charset=utf-8').send(xml);

/** Twilio signs the exact URL it called: ours as configured, never what the Host header claims. */
const publicBase = (config: HarkenConfig): string => config.twilio.publicUrl.replace(/\/+$/, '');

/**
 * Phone calls through Twilio: the number's Voice webhook (`POST /v1/twilio/voice`) answers with
 * `<Connect><Stream>` and a one-time stream token, and the media stream
 * (`wss /v1/twilio/media`) carries the call. Both are checked against `X-Twilio-Signature`
 * (the `twilio` SDK's validation with twilio.authToken); refusals are audited.
 */
export const registerTwilioRoutes = (app: FastifyInstance, deps: TwilioRouteDependencies): void => {
  const { config, access, calls } = deps;
  checkTwilioSettings(config);
  const policy = new CallPolicy(config);
  const tokens = new StreamTokens(config.twilio.streamTokenTtlMs);
  const webhookUrl = `${publicBase(config)}${VOICE_WEBHOOK_PATH}`;
  const streamUrl = `${publicBase(config).replace(/^http/, 'ws')}${MEDIA_STREAM_PATH}`;

  // The audit log masks the address itself.
  const refuse = (request: FastifyRequest, action: AuditAction, reason: string, details: Record<string, unknown> = {}) => {
    void access.audit.record({ action, outcome: 'failure', actor: 'twilio', ip: request.ip, details: { reason, ...details } });
  };
  const signed = (request: FastifyRequest, url: string, params: Record<string, string>): boolean => {
    const signature = request.headers['x-twilio-signature'];
    return typeof signature === 'string' && twilio.validateRequest(config.twilio.authToken, signature, url, params);
  };

  app.register(async (scope) => {
    // Twilio posts its webhooks form-encoded, and only that is accepted (a JSON body could carry
    // arrays the signature check would flatten); a repeated key is refused rather than guessed.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 65_536 }, (_request, body, done) => {
      const params: Record<string, string> = {};
      for (const [key, value] of new URLSearchParams(body as string)) {
        if (Object.hasOwn(params, key)) {
          done(Object.assign(new Error(`parameter ${key.slice(0, 40)} appears twice`), { statusCode: 400 }), undefined);
          return;
        }
        params[key] = value;
      }
      done(null, params);
    });
    scope.post(
      VOICE_WEBHOOK_PATH,
      // Signed by Twilio, from its shared addresses: the signature is the gate, not per-address rate limits.
      { config: { access: 'public', rateLimitExempt: true }, schema: { summary: 'Twilio Voice webhook: answers a call with a media stream (TwiML)', tags: ['twilio'] } },
      async (request, reply) => {
        const params = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, string>;
        if (!signed(request, webhookUrl, params)) {
          refuse(request, 'twilio.webhook_refused', 'bad_signature');
          return reply.status(403).send({ error: { code: 'invalid_signature', message: 'X-Twilio-Signature does not match this request' } });
        }
        const { CallSid: callSid = '', From: from = '', To: to = '', AccountSid: accountSid = '' } = params;
        if (accountSid !== config.twilio.accountSid || !callSid) {
          refuse(request, 'twilio.webhook_refused', 'wrong_account');
          return reply.status(403).send({ error: { code: 'wrong_account', message: 'this call is not for the configured Twilio account' } });
        }
        const decision = policy.decide(from, to);
        if (!decision.answer) {
          refuse(request, 'twilio.call_rejected', decision.reason, { callSid });
          return sendTwiml(reply, twiml((response) => response.reject({ reason: 'rejected' })));
        }
        // Busy when phone calls are at their limit or the server has no session slot left (realtime
        // clients share it): the caller hears busy instead of an answered call that then goes silent.
        const serverFull = access.sessions.active + calls.reservedCount >= config.realtime.maxSessions;
        if (calls.size >= config.twilio.maxConcurrentCalls || serverFull) {
          refuse(request, 'twilio.call_rejected', 'busy', { callSid, limit: serverFull ? config.realtime.maxSessions : config.twilio.maxConcurrentCalls });
          return sendTwiml(reply, twiml((response) => response.reject({ reason: 'busy' })));
        }
        const token = tokens.issue({ callSid, agent: decision.agent, from, to });
        if (!token) {
          refuse(request, 'twilio.call_rejected', 'replayed', { callSid });
          return sendTwiml(reply, twiml((response) => response.reject({ reason: 'rejected' })));
        }
        calls.reserve(token, config.twilio.streamTokenTtlMs);
        return sendTwiml(
          reply,
          twiml((response) => {
            const stream = response.connect().stream({ url: streamUrl });
            stream.parameter({ name: 'token', value: token });
            stream.parameter({ name: 'agent', value: decision.agent });
          }),
        );
      },
    );
  });

  app.get(
    MEDIA_STREAM_PATH,
    { websocket: true, config: { access: 'public', rateLimitExempt: true }, schema: { summary: 'Twilio Media Stream of a call (WebSocket; signed by Twilio)', tags: ['twilio'] } },
    (socket, request) => {
      const logger = deps.logger.child({ reqId: request.id, transport: 'twilio' });
      if (!signed(request, streamUrl, {})) {
        refuse(request, 'twilio.stream_refused', 'bad_signature');
        socket.close(1008, 'invalid signature');
        return;
      }
      const connection = new TwilioConnection(
        socket,
        async (start, transport) => {
          const token = start.customParameters.token ?? '';
          const grant = tokens.consume(token, start.callSid);
          // Used or refused, the token no longer holds a place.
          calls.unreserve(token);
          if (!grant || start.accountSid !== config.twilio.accountSid) {
            refuse(request, 'twilio.stream_refused', grant ? 'wrong_account' : 'bad_token', { callSid: start.callSid });
            throw new Error('the stream token is missing, used, expired or for another call');
          }
          try {
            const opened = deps.factory.open(
              {
                label: `twilio:${grant.to}`,
                tenant: config.twilio.tenant,
                scope: tenantScope(config.twilio.tenant),
                maxSessions: config.twilio.maxConcurrentCalls,
                ip: request.ip,
                limitAddress: `twilio-call:${start.callSid}`,
                connectionId: request.id,
                logger,
              },
              { inputSampleRate: 8_000, agent: grant.agent, endEvenIfGoodbyeInterrupted: true, audioLeadMs: config.twilio.audioLeadMs },
              transport,
            );
            // Counted as a call only now: a socket that never brings a valid token holds no place.
            calls.add(connection);
            return opened;
          } catch (error) {
            if (error instanceof SessionRefusedError) refuse(request, 'twilio.stream_refused', error.code, { callSid: start.callSid });
            throw error;
          }
        },
        { startTimeoutMs: config.twilio.streamTokenTtlMs, idleTimeoutMs: config.realtime.idleTimeoutMs, maxBufferedBytes: config.realtime.maxBufferedBytes, dtmfPauseMs: config.twilio.dtmfPauseMs },
        logger,
        (closed) => calls.remove(closed),
      );
    },
  );
};
