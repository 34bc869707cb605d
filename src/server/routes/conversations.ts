import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ConversationService } from '../../conversations/service.js';
import { badRequest } from '../../errors.js';
import type { AuditLog } from '../../security/audit-log.js';
import { tenantScopeOf, type Caller } from '../../security/authenticator.js';
import type { Conversation } from '../../store/conversations.js';
import { conversationCsv } from '../conversation-csv.js';
import { toExpectation, toMessageView, toSummary } from '../views.js';
import {
  ConversationId,
  ConversationSummary,
  ConversationView,
  errorResponses,
  Expectation,
  MessageView,
} from '../schemas.js';

const AgentName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z][A-Za-z0-9_-]*$', description: 'Agent to talk to; defaults to agents.default.' });

/** Opaque paging cursor: the sort key of the last item of a page. */
const encodeCursor = (conversation: Conversation): string =>
  Buffer.from(`${conversation.updatedAt}|${conversation.id}`).toString('base64url');

const decodeCursor = (cursor: string): { updatedAt: string; id: string } => {
  const [updatedAt, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!updatedAt || !id || Number.isNaN(Date.parse(updatedAt))) throw badRequest('invalid_cursor', 'cursor is not one this server issued');
  return { updatedAt, id };
};

/** A query's date-time as ISO 8601 UTC; one the format allows but no clock has (a leap second) is a 400, not a 500. */
const instant = (name: string, value: string): string => {
  const time = new Date(value).getTime();
  if (Number.isNaN(time)) throw badRequest('invalid_request', `querystring.${name} is not a time this server can use`);
  return new Date(time).toISOString();
};

const TenantName = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9][a-z0-9_-]*$' });

/**
 * The text conversation API. Every route is limited to the caller's tenant: another
 * tenant's conversation answers 404, like an unknown one. Admins reach every tenant.
 */
export const conversationRoutes = (service: ConversationService, audit: AuditLog): FastifyPluginAsyncTypebox =>
  async (app) => {
    const callerOf = (request: { caller?: Caller }): Caller => request.caller as Caller;

    app.post(
      '/v1/conversations',
      {
        config: { access: 'conversations' },
        // A bodiless POST means "all defaults"; validate it as an empty object.
        preValidation: async (request) => {
          request.body ??= {};
        },
        schema: {
          summary: 'Start a conversation',
          description: 'Creates a conversation with an agent. The agent may speak first (the reply), e.g. the intake greeting and first question.',
          tags: ['conversations'],
          body: Type.Object({ agent: Type.Optional(AgentName) }, { additionalProperties: false, description: 'Optional; an empty request starts the default agent.' }),
          response: {
            201: Type.Object({ ...ConversationSummary.properties, reply: Type.Union([MessageView, Type.Null()]), expect: Expectation }),
            ...errorResponses(400, 413, 415),
          },
        },
      },
      async (request, reply) => {
        const outcome = await service.start(request.body?.agent, callerOf(request).tenant);
        return reply.status(201).send({
          ...toSummary(outcome.conversation),
          reply: outcome.reply ? toMessageView(outcome.reply) : null,
          expect: toExpectation(outcome.expect),
        });
      },
    );

    app.get(
      '/v1/conversations',
      {
        config: { access: 'conversations' },
        schema: {
          summary: 'List conversations',
          description: 'Most recently updated first, only the caller’s tenant (admins: every tenant, or the one named by `tenant`), filtered by agent, status, creation time and text. Pass nextCursor back as cursor for the next page.',
          tags: ['conversations'],
          querystring: Type.Object(
            {
              limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
              cursor: Type.Optional(Type.String({ maxLength: 200 })),
              tenant: Type.Optional(TenantName),
              agent: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
              status: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
              from: Type.Optional(Type.String({ format: 'date-time', description: 'Created at or after (ISO 8601).' })),
              to: Type.Optional(Type.String({ format: 'date-time', description: 'Created before (ISO 8601).' })),
              q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Some message contains this text (case-insensitive).' })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ conversations: Type.Array(ConversationSummary), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
            ...errorResponses(400),
          },
        },
      },
      async (request) => {
        const { limit, cursor, tenant, agent, status, from, to, q } = request.query;
        const page = await service.list(tenantScopeOf(callerOf(request)), {
          limit,
          ...(cursor ? { before: decodeCursor(cursor) } : {}),
          ...(tenant ? { tenant } : {}),
          ...(agent ? { agent } : {}),
          ...(status ? { status } : {}),
          ...(from ? { createdFrom: instant('from', from) } : {}),
          ...(to ? { createdBefore: instant('to', to) } : {}),
          ...(q ? { text: q } : {}),
        });
        const last = page.at(-1);
        return { conversations: page.map(toSummary), nextCursor: page.length === limit && last ? encodeCursor(last) : null };
      },
    );

    app.get(
      '/v1/conversations/:id',
      {
        config: { access: 'conversations' },
        schema: {
          summary: 'Get a conversation with all its messages',
          tags: ['conversations'],
          params: Type.Object({ id: ConversationId }),
          response: { 200: ConversationView, ...errorResponses(400, 404) },
        },
      },
      async (request) => {
        const { conversation, messages } = await service.get(request.params.id, tenantScopeOf(callerOf(request)));
        return { ...toSummary(conversation), data: conversation.data, messages: messages.map(toMessageView) };
      },
    );

    app.get(
      '/v1/conversations/:id/export',
      {
        config: { access: 'conversations' },
        schema: {
          summary: 'Download a conversation as JSON or CSV (one row per message)',
          description: 'Audited as conversation.exported. A file download (Content-Disposition: attachment); CSV cells that a spreadsheet would run as a formula are quoted with a leading apostrophe.',
          tags: ['conversations'],
          params: Type.Object({ id: ConversationId }),
          querystring: Type.Object({ format: Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' }) }, { additionalProperties: false }),
          produces: ['application/json', 'text/csv'],
          response: { 200: Type.String({ description: 'The file.' }), ...errorResponses(400, 404) },
        },
      },
      async (request, reply) => {
        const caller = callerOf(request);
        const { conversation, messages } = await service.get(request.params.id, tenantScopeOf(caller));
        const { format } = request.query;
        await audit.record({ action: 'conversation.exported', outcome: 'success', actor: caller.label, target: `conversation:${conversation.id}`, ip: request.ip, details: { tenant: conversation.tenant, format } });
        const body =
          format === 'csv'
            ? conversationCsv(messages)
            : `${JSON.stringify({ ...toSummary(conversation), data: conversation.data, messages: messages.map(toMessageView) }, null, 2)}\n`;
        return reply
          .header('content-disposition', `attachment; filename="conversation-${conversation.id}.${format}"`)
          .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
          .send(body);
      },
    );

    app.post(
      '/v1/conversations/:id/messages',
      {
        config: { access: 'conversations' },
        schema: {
          summary: 'Send a message and get the agent’s reply',
          tags: ['conversations'],
          params: Type.Object({ id: ConversationId }),
          body: Type.Object({ text: Type.String({ minLength: 1, description: 'What the user says.' }) }, { additionalProperties: false }),
          response: {
            200: Type.Object({
              reply: Type.Union([MessageView, Type.Null()]),
              conversation: Type.Object({ ...ConversationSummary.properties, data: ConversationView.properties.data }),
              expect: Expectation,
            }),
            ...errorResponses(400, 404, 409, 413, 415),
          },
        },
      },
      async (request) => {
        const outcome = await service.send(request.params.id, { text: request.body.text }, { scope: tenantScopeOf(callerOf(request)) });
        return {
          reply: outcome.reply ? toMessageView(outcome.reply) : null,
          conversation: { ...toSummary(outcome.conversation), data: outcome.conversation.data },
          expect: toExpectation(outcome.expect),
        };
      },
    );

    app.delete(
      '/v1/conversations/:id',
      {
        config: { access: 'conversations' },
        schema: {
          summary: 'Erase a conversation with its messages and answers',
          description: 'Audited. Only the caller’s tenant (admins: any).',
          tags: ['conversations'],
          params: Type.Object({ id: ConversationId }),
          response: { 204: Type.Null(), ...errorResponses(400, 404) },
        },
      },
      async (request, reply) => {
        const caller = callerOf(request);
        const erased = await service.delete(request.params.id, tenantScopeOf(caller));
        await audit.record({ action: 'conversation.deleted', outcome: 'success', actor: caller.label, target: `conversation:${erased.id}`, ip: request.ip, details: { tenant: erased.tenant, messages: erased.messageCount } });
        return reply.status(204).send(null);
      },
    );
  };
