import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import twilio from 'twilio';
import type { AgentRegistry } from '../../agents/registry.js';
import { isFinalStatus } from '../../calls/call-status.js';
import type { CallRecords } from '../../calls/call-records.js';
import type { HarkenConfig } from '../../config/schema.js';
import type { Access } from '../../security/access.js';
import type { AuditAction } from '../../security/audit-log.js';
import { ALL_TENANTS } from '../../security/tenants.js';
import { DuplicateCallSidError, type Call } from '../../store/calls.js';
import type { SessionFactory } from '../session-factory.js';
import { callControl } from './call-control.js';
import { CallPolicy } from './call-policy.js';
import { OutboundCalls } from './outbound-calls.js';
import type { PhoneCalls } from './phone-calls.js';
import { readStatusCallback } from './status-callbacks.js';
import { StreamTokens } from './stream-tokens.js';
import { TwilioApi } from './twilio-api.js';
import { ConnectionMonitor } from '../../ops/connection-monitor.js';
import { TwilioConnection } from './twilio-connection.js';
import { checkTwilioSettings } from './twilio-settings.js';
import { rejectTwiml, streamTwiml } from './twiml.js';

export const VOICE_WEBHOOK_PATH = '/v1/twilio/voice';
export const MEDIA_STREAM_PATH = '/v1/twilio/media';
export const STATUS_CALLBACK_PATH = '/v1/twilio/status';

export interface TwilioRouteDependencies {
  readonly config: HarkenConfig;
  readonly access: Access;
  readonly factory: SessionFactory;
  readonly calls: PhoneCalls;
  readonly records: CallRecords;
  readonly agents: AgentRegistry;
  readonly logger: Logger;
  /** Set once the server is shutting down: calls are neither answered nor placed then. */
  readonly shutdown?: { readonly drainingReason: string | undefined };
}

const sendTwiml = (reply: FastifyReply, xml: string): FastifyReply => reply.type('text/xml; charset=utf-8').send(xml);

/** Twilio signs the exact URL it called: ours as configured, never what the Host header claims. */
const publicBase = (config: HarkenConfig): string => config.twilio.publicUrl.replace(/\/+$/, '');

const queryOf = (url: string): string => {
  const index = url.indexOf('?');
  return index < 0 ? '' : url.slice(index);
};

/**
 * Phone calls through Twilio: the number's Voice webhook (`POST /v1/twilio/voice`) answers with
 * `<Connect><Stream>` and a one-time stream token, the media stream (`wss /v1/twilio/media`)
 * carries the call, and `POST /v1/twilio/status` takes status and answering-machine callbacks.
 * All three are checked against `X-Twilio-Signature` (the `twilio` SDK's validation with
 * twilio.authToken); refusals are audited. Returns the outbound dialer for `POST /v1/calls`.
 */
export const registerTwilioRoutes = (app: FastifyInstance, deps: TwilioRouteDependencies): OutboundCalls => {
  const { config, access, calls, records } = deps;
  checkTwilioSettings(config);
  const policy = new CallPolicy(config);
  const tokens = new StreamTokens(config.twilio.streamTokenTtlMs);
  const api = new TwilioApi(config);
  const base = publicBase(config);
  const webhookUrl = `${base}${VOICE_WEBHOOK_PATH}`;
  const streamUrl = `${base.replace(/^http/, 'ws')}${MEDIA_STREAM_PATH}`;
  const statusUrl = `${base}${STATUS_CALLBACK_PATH}`;
  // Busy when phone calls are at their limit or the server has no session slot left (realtime clients share it).
  const serverFull = () => access.sessions.active + calls.reservedCount >= config.realtime.maxSessions;
  const shuttingDown = () => deps.shutdown?.drainingReason !== undefined;
  const outbound = new OutboundCalls({ config, api, tokens, calls, records, agents: deps.agents, policy, streamUrl, statusUrl, serverFull, shuttingDown, logger: deps.logger.child({ component: 'twilio' }) });

  // The audit log masks the address itself.
  const refuse = (request: FastifyRequest, action: AuditAction, reason: string, details: Record<string, unknown> = {}) => {
    void access.audit.record({ action, outcome: 'failure', actor: 'twilio', ip: request.ip, details: { reason, ...details } });
  };
  const signed = (request: FastifyRequest, url: string, params: Record<string, string>): boolean => {
    const signature = request.headers['x-twilio-signature'];
    return typeof signature === 'string' && twilio.validateRequest(config.twilio.authToken, signature, url, params);
  };
  const paramsOf = (request: FastifyRequest): Record<string, string> => (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, string>;

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
        const params = paramsOf(request);
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
          return sendTwiml(reply, rejectTwiml('rejected'));
        }
        const replayed = () => {
          refuse(request, 'twilio.call_rejected', 'replayed', { callSid });
          return sendTwiml(reply, rejectTwiml('rejected'));
        };
        // The same webhook delivered twice at once: the second waits for nothing and gets no token.
        const answering = `answering:${callSid}`;
        if (calls.isReserved(answering)) return replayed();
        if (shuttingDown()) {
          refuse(request, 'twilio.call_rejected', 'shutting_down', { callSid });
          return sendTwiml(reply, rejectTwiml('busy'));
        }
        if (calls.size >= config.twilio.maxConcurrentCalls || serverFull()) {
          refuse(request, 'twilio.call_rejected', 'busy', { callSid, limit: serverFull() ? config.realtime.maxSessions : config.twilio.maxConcurrentCalls });
          return sendTwiml(reply, rejectTwiml('busy'));
        }
        // Counted and held in the same tick as the check, so simultaneous calls cannot all pass it.
        calls.reserve(answering, config.twilio.streamTokenTtlMs);
        try {
          let call: Call;
          try {
            call = await records.create({ tenant: config.twilio.tenant, callSid, direction: 'inbound', from, to, agent: decision.agent, status: 'ringing' });
          } catch (error) {
            if (error instanceof DuplicateCallSidError) return replayed();
            throw error;
          }
          const token = tokens.issue({ callSid, callId: call.id, tenant: config.twilio.tenant, agent: decision.agent, from, to, direction: 'inbound' });
          if (!token) return replayed();
          calls.unreserve(answering);
          calls.reserve(token, config.twilio.streamTokenTtlMs, () => {
            // Answered, but no stream brought the token back in time: the call never reached the agent.
            tokens.revoke(token);
            void records.apply(call.id, { source: 'server', dedupeKey: 'stream:never', status: 'failed', endReason: 'stream_not_started' }).catch((error: unknown) => deps.logger.error({ err: error, callId: call.id }, 'closing the call record failed'));
          });
          return sendTwiml(reply, streamTwiml(streamUrl, token, decision.agent));
        } finally {
          calls.unreserve(answering);
        }
      },
    );

    scope.post(
      STATUS_CALLBACK_PATH,
      { config: { access: 'public', rateLimitExempt: true }, schema: { summary: 'Twilio call status and answering-machine callbacks (signed)', tags: ['twilio'] } },
      async (request, reply) => {
        const params = paramsOf(request);
        if (!signed(request, `${statusUrl}${queryOf(request.url)}`, params)) {
          refuse(request, 'twilio.callback_refused', 'bad_signature');
          return reply.status(403).send({ error: { code: 'invalid_signature', message: 'X-Twilio-Signature does not match this request' } });
        }
        if (params.AccountSid !== config.twilio.accountSid) {
          refuse(request, 'twilio.callback_refused', 'wrong_account');
          return reply.status(403).send({ error: { code: 'wrong_account', message: 'this callback is not for the configured Twilio account' } });
        }
        const callback = readStatusCallback(params);
        if (!callback) return reply.status(400).send({ error: { code: 'invalid_callback', message: 'not a call status or answering-machine callback' } });
        const callId = (request.query as Record<string, unknown>).call;
        let call: Call | undefined;
        if (typeof callId === 'string' && /^[0-9a-f-]{36}$/.test(callId)) call = await records.owned(callId, ALL_TENANTS).catch(() => undefined);
        call ??= await records.findBySid(callback.callSid);
        // Another app's calls on the same account, or a call this server no longer keeps: nothing to do.
        if (!call) return reply.status(204).send();
        if (call.callSid && call.callSid !== callback.callSid) {
          refuse(request, 'twilio.callback_refused', 'other_call', { callSid: callback.callSid });
          return reply.status(400).send({ error: { code: 'other_call', message: 'this callback is for another call' } });
        }
        // The agent may be waiting for the verdict to greet: it is told before the record is written.
        if (callback.answeredBy) calls.machineVerdict(callback.callSid, callback.answeredBy);
        const { call: updated } = await records.apply(call.id, { ...callback.change, ...(call.callSid ? {} : { callSid: callback.callSid }) });
        if (isFinalStatus(updated.status)) outbound.settled(callback.callSid);
        return reply.status(204).send();
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
      const monitor = new ConnectionMonitor({ maxMessagesPerSecond: config.monitor.connectionMaxMessagesPerSecond, maxErrors: config.monitor.connectionMaxErrors }, (rate) =>
        logger.warn({ messagesPerSecond: rate, limit: config.monitor.connectionMaxMessagesPerSecond }, 'twilio stream flagged: message rate over monitor.connectionMaxMessagesPerSecond'),
      );
      new TwilioConnection(
        socket,
        callControl({
          monitor,
          config,
          factory: deps.factory,
          tokens,
          calls,
          records,
          api,
          outbound,
          refuse: (reason, details) => refuse(request, 'twilio.stream_refused', reason, details),
          ip: request.ip,
          connectionId: request.id,
          logger,
        }),
        { startTimeoutMs: config.twilio.streamTokenTtlMs, idleTimeoutMs: config.realtime.idleTimeoutMs, maxBufferedBytes: config.realtime.maxBufferedBytes, dtmfPauseMs: config.twilio.dtmfPauseMs },
        logger,
        monitor,
      );
    },
  );
  return outbound;
};
