import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { HarkenError, notFound } from '../../errors.js';
import type { Access } from '../../security/access.js';
import { SCOPES } from '../../security/scopes.js';
import { ServiceAccountNameTaken } from '../../security/service-accounts.js';
import { errorResponses } from '../schemas.js';

const ScopeName = Type.Union(SCOPES.map((scope) => Type.Literal(scope)));
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const Id = Type.String({ pattern: '^[a-z0-9]{12}$', description: 'Public id (the part after hk_ / hksa_).' });

const KeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  status: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('revoked')]),
  createdAt: Type.String(),
  createdBy: Nullable(Type.String()),
  expiresAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
  lastUsedAt: Nullable(Type.String()),
  usageCount: Type.Integer(),
  rateLimit: Nullable(Type.Integer()),
  maxSessions: Nullable(Type.Integer()),
});

const AccountView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  permissions: Type.Array(Type.String()),
  createdAt: Type.String(),
  rotatedAt: Nullable(Type.String()),
  disabledAt: Nullable(Type.String()),
  lastUsedAt: Nullable(Type.String()),
});

const AuditEvent = Type.Object({
  id: Type.Integer(),
  occurredAt: Type.String(),
  action: Type.String(),
  outcome: Type.String(),
  actor: Nullable(Type.String()),
  target: Nullable(Type.String()),
  ip: Nullable(Type.String({ description: 'Masked: IPv4 /24, IPv6 /48.' })),
  details: Nullable(Type.Record(Type.String(), Type.Unknown())),
});

/** Administration: API keys, service accounts and the audit log. Every route needs `admin`. */
export const adminRoutes = (access: Access): FastifyPluginAsyncTypebox =>
  async (app) => {
    const options = { config: { access: 'admin' as const } };

    app.post(
      '/v1/admin/keys',
      {
        ...options,
        schema: {
          summary: 'Create an API key (the key is in this response only)',
          tags: ['admin'],
          body: Type.Object(
            {
              name: Type.String({ minLength: 1, maxLength: 100 }),
              scopes: Type.Array(ScopeName, { minItems: 1, uniqueItems: true }),
              expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
              rateLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
              maxSessions: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ key: Type.String({ description: 'hk_<id>_<secret>: store it now, it is not shown again.' }), ...KeyView.properties }), ...errorResponses(400, 401, 403) },
        },
      },
      async (request, reply) => {
        const { name, scopes, expiresAt, rateLimit, maxSessions } = request.body;
        const expires = expiresAt ? new Date(expiresAt) : undefined;
        if (expires && expires.getTime() <= Date.now()) throw new HarkenError(400, 'invalid_request', 'body.expiresAt must be in the future');
        const created = await access.keys.create({
          name,
          scopes,
          createdBy: request.caller?.label,
          ...(expires ? { expiresAt: expires } : {}),
          ...(rateLimit ? { rateLimit } : {}),
          ...(maxSessions ? { maxSessions } : {}),
        });
        await access.audit.record({ action: 'key.created', outcome: 'success', actor: request.caller?.label, target: `key:${created.view.id}`, ip: request.ip, details: { name, scopes } });
        reply.header('cache-control', 'no-store');
        reply.status(201);
        return { key: created.key, ...created.view };
      },
    );

    app.get(
      '/v1/admin/keys',
      { ...options, schema: { summary: 'List API keys (never their secrets)', tags: ['admin'], response: { 200: Type.Object({ keys: Type.Array(KeyView) }), ...errorResponses(401, 403) } } },
      async () => ({ keys: await access.keys.list() }),
    );

    app.delete(
      '/v1/admin/keys/:id',
      {
        ...options,
        schema: { summary: 'Revoke an API key (at once, including tokens made from it)', tags: ['admin'], params: Type.Object({ id: Id }), response: { 200: KeyView, ...errorResponses(401, 403, 404) } },
      },
      async (request) => {
        const revoked = await access.keys.revoke(request.params.id);
        if (!revoked) throw notFound(`API key ${request.params.id}`);
        await access.audit.record({ action: 'key.revoked', outcome: 'success', actor: request.caller?.label, target: `key:${revoked.id}`, ip: request.ip });
        return revoked;
      },
    );

    app.post(
      '/v1/admin/service-accounts',
      {
        ...options,
        schema: {
          summary: 'Create a service account (its secret is in this response only)',
          tags: ['admin'],
          body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }), permissions: Type.Array(ScopeName, { minItems: 1, uniqueItems: true }) }, { additionalProperties: false }),
          response: { 201: Type.Object({ secret: Type.String(), ...AccountView.properties }), ...errorResponses(400, 401, 403, 409) },
        },
      },
      async (request, reply) => {
        let created;
        try {
          created = await access.accounts.create(request.body.name, request.body.permissions);
        } catch (error) {
          if (error instanceof ServiceAccountNameTaken) throw new HarkenError(409, 'name_taken', error.message);
          throw error;
        }
        await access.audit.record({ action: 'service_account.created', outcome: 'success', actor: request.caller?.label, target: `service-account:${created.view.id}`, ip: request.ip, details: { name: created.view.name, permissions: created.view.permissions } });
        reply.header('cache-control', 'no-store');
        reply.status(201);
        return { secret: created.secret, ...created.view };
      },
    );

    app.get(
      '/v1/admin/service-accounts',
      { ...options, schema: { summary: 'List service accounts', tags: ['admin'], response: { 200: Type.Object({ serviceAccounts: Type.Array(AccountView) }), ...errorResponses(401, 403) } } },
      async () => ({ serviceAccounts: await access.accounts.list() }),
    );

    app.post(
      '/v1/admin/service-accounts/:id/rotate',
      {
        ...options,
        schema: {
          summary: 'Give a service account a new secret (the old one stops working at once)',
          tags: ['admin'],
          params: Type.Object({ id: Id }),
          response: { 200: Type.Object({ secret: Type.String(), ...AccountView.properties }), ...errorResponses(401, 403, 404) },
        },
      },
      async (request, reply) => {
        const rotated = await access.accounts.rotate(request.params.id);
        if (!rotated) throw notFound(`service account ${request.params.id}`);
        await access.audit.record({ action: 'service_account.rotated', outcome: 'success', actor: request.caller?.label, target: `service-account:${rotated.view.id}`, ip: request.ip });
        reply.header('cache-control', 'no-store');
        return { secret: rotated.secret, ...rotated.view };
      },
    );

    app.delete(
      '/v1/admin/service-accounts/:id',
      {
        ...options,
        schema: { summary: 'Disable a service account', tags: ['admin'], params: Type.Object({ id: Id }), response: { 200: AccountView, ...errorResponses(401, 403, 404) } },
      },
      async (request) => {
        const disabled = await access.accounts.disable(request.params.id);
        if (!disabled) throw notFound(`service account ${request.params.id}`);
        await access.audit.record({ action: 'service_account.disabled', outcome: 'success', actor: request.caller?.label, target: `service-account:${disabled.id}`, ip: request.ip });
        return disabled;
      },
    );

    app.get(
      '/v1/admin/audit',
      {
        ...options,
        schema: {
          summary: 'Audit events, newest first',
          tags: ['admin'],
          querystring: Type.Object(
            {
              action: Type.Optional(Type.String({ maxLength: 100, description: 'Exact action, or a family such as `auth.*`.' })),
              actor: Type.Optional(Type.String({ maxLength: 200 })),
              outcome: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('failure')])),
              since: Type.Optional(Type.String({ format: 'date-time' })),
              until: Type.Optional(Type.String({ format: 'date-time' })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
              cursor: Type.Optional(Type.Integer({ minimum: 1, description: 'nextCursor of the previous page.' })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ events: Type.Array(AuditEvent), nextCursor: Nullable(Type.Integer()) }), ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => {
        const { action, actor, outcome, since, until, limit, cursor } = request.query;
        return access.audit.query({
          limit: limit ?? 100,
          ...(action ? { action } : {}),
          ...(actor ? { actor } : {}),
          ...(outcome ? { outcome } : {}),
          ...(since ? { since: new Date(since).toISOString() } : {}),
          ...(until ? { until: new Date(until).toISOString() } : {}),
          ...(cursor ? { before: cursor } : {}),
        });
      },
    );
  };
