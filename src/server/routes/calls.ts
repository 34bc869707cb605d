import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { CallRecords } from '../../calls/call-records.js';
import { CALL_STATUSES } from '../../calls/call-status.js';
import { badRequest, HarkenError } from '../../errors.js';
import type { AuditLog } from '../../security/audit-log.js';
import { tenantScopeOf, type Caller } from '../../security/authenticator.js';
import type { Call } from '../../store/calls.js';
import type { OutboundCalls } from '../../transports/twilio/outbound-calls.js';
import { errorResponses } from '../schemas.js';

const CallId = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', description: 'Call id (UUID).' });
const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Integer>>(schema: T) => Type.Union([schema, Type.Null()]);

const CallView = Type.Object({
  id: CallId,
  callSid: Nullable(Type.String()),
  tenant: Type.String(),
  direction: Type.Union([Type.Literal('inbound'), Type.Literal('outbound')]),
  from: Type.String(),
  to: Type.String(),
  agent: Type.String(),
  status: Type.String({ description: `Twilio's call status: ${CALL_STATUSES.join(', ')}.` }),
  answeredBy: Nullable(Type.String({ description: 'Answering-machine detection: human, machine_start, machine_end_beep, fax, unknown…' })),
  conversationId: Nullable(Type.String()),
  endReason: Nullable(Type.String({ description: 'caller_hung_up, agent_ended, transferred, machine, voicemail_left, api_hangup, server_closed, not_placed.' })),
  error: Nullable(Type.String()),
  createdAt: Type.String(),
  answeredAt: Nullable(Type.String()),
  endedAt: Nullable(Type.String()),
  durationS: Nullable(Type.Integer()),
});

const CallEventView = Type.Object({
  at: Type.String(),
  source: Type.String({ description: 'twilio (a callback), stream, api, server.' }),
  status: Nullable(Type.String()),
  answeredBy: Nullable(Type.String()),
  details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});

const E164 = Type.String({ pattern: '^\\+[1-9][0-9]{1,14}$', description: 'E.164 number, e.g. +15550100.' });
const AgentName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z][A-Za-z0-9_-]*$' });
const TenantName = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9][a-z0-9_-]*$' });

const encodeCursor = (call: Call): string => Buffer.from(`${call.createdAt}|${call.id}`).toString('base64url');
const decodeCursor = (cursor: string): { createdAt: string; id: string } => {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt))) throw badRequest('invalid_cursor', 'cursor is not one this server issued');
  return { createdAt, id };
};

const offline = (): HarkenError => new HarkenError(409, 'phone_calls_off', 'phone calls are off on this server (twilio.enabled)');

/**
 * Phone call records (inbound and outbound) and outbound calls: `POST /v1/calls` dials, the
 * list and detail views show status history, `hangup` ends a call. Scope `calls`; limited to
 * the caller's tenant like conversations (admins: every tenant).
 */
export const callRoutes = (records: CallRecords, outbound: OutboundCalls | undefined, audit: AuditLog): FastifyPluginAsyncTypebox =>
  async (app) => {
    const callerOf = (request: { caller?: Caller }): Caller => request.caller as Caller;

    app.post(
      '/v1/calls',
      {
        config: { access: 'calls' },
        schema: {
          summary: 'Place an outbound phone call; the agent speaks when it is answered',
          description: '`to` must match twilio.outboundAllow; `from` must be one of your Twilio numbers (default twilio.callerId). With machine detection the agent waits for Twilio’s verdict and follows twilio.onMachine on an answering machine.',
          tags: ['calls'],
          body: Type.Object(
            {
              to: E164,
              from: Type.Optional(E164),
              agent: Type.Optional(AgentName),
              machineDetection: Type.Optional(Type.Boolean({ description: 'Overrides twilio.machineDetection.' })),
              voicemailMessage: Type.Optional(Type.String({ minLength: 1, maxLength: 1_000, description: 'Left after the beep when twilio.onMachine is voicemail.' })),
            },
            { additionalProperties: false },
          ),
          response: { 201: CallView, ...errorResponses(400, 403, 409, 429, 502) },
        },
      },
      async (request, reply) => {
        if (!outbound) throw offline();
        const caller = callerOf(request);
        const call = await outbound.place({ tenant: caller.tenant }, request.body);
        await audit.record({ action: 'call.placed', outcome: 'success', actor: caller.label, target: `call:${call.id}`, ip: request.ip, details: { to: call.to, from: call.from, agent: call.agent, tenant: call.tenant } });
        return reply.status(201).send(call);
      },
    );

    app.get(
      '/v1/calls',
      {
        config: { access: 'calls' },
        schema: {
          summary: 'List phone calls',
          description: 'Newest first; only the caller’s tenant (admins: every tenant, or the one named by `tenant`).',
          tags: ['calls'],
          querystring: Type.Object(
            {
              limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
              cursor: Type.Optional(Type.String({ maxLength: 200 })),
              tenant: Type.Optional(TenantName),
              status: Type.Optional(Type.String({ maxLength: 20, pattern: '^[a-z-]+$' })),
              direction: Type.Optional(Type.Union([Type.Literal('inbound'), Type.Literal('outbound')])),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ calls: Type.Array(CallView), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errorResponses(400) },
        },
      },
      async (request) => {
        const { limit, cursor, tenant, status, direction } = request.query;
        const page = await records.list(tenantScopeOf(callerOf(request)), {
          limit,
          ...(cursor ? { before: decodeCursor(cursor) } : {}),
          ...(tenant ? { tenant } : {}),
          ...(status ? { status } : {}),
          ...(direction ? { direction } : {}),
        });
        const last = page.at(-1);
        return { calls: page, nextCursor: page.length === limit && last ? encodeCursor(last) : null };
      },
    );

    app.get(
      '/v1/calls/:id',
      {
        config: { access: 'calls' },
        schema: {
          summary: 'Get a phone call with its status history',
          tags: ['calls'],
          params: Type.Object({ id: CallId }),
          response: { 200: Type.Object({ ...CallView.properties, events: Type.Array(CallEventView) }), ...errorResponses(400, 404) },
        },
      },
      async (request) => {
        const { call, events } = await records.get(request.params.id, tenantScopeOf(callerOf(request)));
        return { ...call, events };
      },
    );

    app.post(
      '/v1/calls/:id/hangup',
      {
        config: { access: 'calls' },
        schema: {
          summary: 'Hang up a call (or cancel one still ringing)',
          tags: ['calls'],
          params: Type.Object({ id: CallId }),
          response: { 200: CallView, ...errorResponses(400, 404, 409, 502) },
        },
      },
      async (request) => {
        if (!outbound) throw offline();
        const caller = callerOf(request);
        const call = await outbound.hangUp(request.params.id, tenantScopeOf(caller));
        await audit.record({ action: 'call.hung_up', outcome: 'success', actor: caller.label, target: `call:${call.id}`, ip: request.ip, details: { tenant: call.tenant, status: call.status } });
        return call;
      },
    );
  };
