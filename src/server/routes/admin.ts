import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { HarkenError, notFound } from '../../errors.js';
import type { Access } from '../../security/access.js';
import { SCOPES } from '../../security/scopes.js';
import { ServiceAccountNameTaken } from '../../security/service-accounts.js';
import { errorResponses } from '../schemas.js';

const ScopeName = Type.Union(SCOPES.map((scope) => Type.Literal(scope)));
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const Tenant = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9][a-z0-9_-]*$', description: 'Tenant the credential (and every record it creates) belongs to; default `default`.' });
const Id = Type.String({ pattern: '^[a-z0-9]{12}$', description: 'Public id (the part after hk_ / hksa_).' });

const KeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  tenant: Type.String(),
  scopes: Type.Array(Type.String()),
  status: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('revoked')]),
  createdAt: Type.String(),
  createdBy: Nullable(Type.String()),
  expiresAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
  lastUsedAt: Nullable(Type.String()),
  usageCount: Type.Integer(),
  rateLimit: Nullable(Type.Integer()),
  dailyLimit: Nullable(Type.Integer()),
  maxSessions: Nullable(Type.Integer()),
});

const AccountView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  tenant: Type.String(),
  permissions: Type.Array(Type.String()),
  secretVersion: Type.Integer(),
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
    /** Routes that mint, rotate or revoke credentials: an admin login session only. */
    const management = { config: { access: 'admin' as const, credentialManagement: true } };
    const tenantFilter = Type.Object({ tenant: Type.Optional(Tenant) }, { additionalProperties: false });

    app.post(
      '/v1/admin/keys',
      {
        ...management,
        schema: {
          summary: 'Create an API key (the key is in this response only)',
          tags: ['admin'],
          body: Type.Object(
            {
              name: Type.String({ minLength: 1, maxLength: 100 }),
              scopes: Type.Array(ScopeName, { minItems: 1, uniqueItems: true }),
              tenant: Type.Optional(Tenant),
              expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
              rateLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
              dailyLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000, description: 'Requests per UTC day (default rateLimit.dailyRequests).' })),
              maxSessions: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ key: Type.String({ description: 'hk_<id>_<secret>: store it now, it is not shown again.' }), ...KeyView.properties }), ...errorResponses(400, 401, 403) },
        },
      },
      async (request, reply) => {
        const { name, scopes, tenant, expiresAt, rateLimit, dailyLimit, maxSessions } = request.body;
        const expires = expiresAt ? new Date(expiresAt) : undefined;
        if (expires && expires.getTime() <= Date.now()) throw new HarkenError(400, 'invalid_request', 'body.expiresAt must be in the future');
        const created = await access.keys.create({
          name,
          scopes,
          createdBy: request.caller?.label,
          ...(tenant ? { tenant } : {}),
          ...(expires ? { expiresAt: expires } : {}),
          ...(rateLimit ? { rateLimit } : {}),
          ...(dailyLimit ? { dailyLimit } : {}),
          ...(maxSessions ? { maxSessions } : {}),
        });
        await access.audit.record({ action: 'key.created', outcome: 'success', actor: request.caller?.label, target: `key:${created.view.id}`, ip: request.ip, details: { name, scopes, tenant: created.view.tenant } });
        reply.header('cache-control', 'no-store');
        reply.status(201);
        return { key: created.key, ...created.view };
      },
    );

    app.get(
      '/v1/admin/keys',
      { ...options, schema: { summary: 'List API keys (never their secrets)', tags: ['admin'], querystring: tenantFilter, response: { 200: Type.Object({ keys: Type.Array(KeyView) }), ...errorResponses(400, 401, 403) } } },
      async (request) => ({ keys: await access.keys.list(request.query.tenant ? { tenant: request.query.tenant } : {}) }),
    );

    app.delete(
      '/v1/admin/keys/:id',
      {
        ...management,
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
        ...management,
        schema: {
          summary: 'Create a service account (its secret is in this response only)',
          tags: ['admin'],
          body: Type.Object(
            { name: Type.String({ minLength: 1, maxLength: 100 }), permissions: Type.Array(ScopeName, { minItems: 1, uniqueItems: true }), tenant: Type.Optional(Tenant) },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ secret: Type.String(), ...AccountView.properties }), ...errorResponses(400, 401, 403, 409) },
        },
      },
      async (request, reply) => {
        let created;
        try {
          created = await access.accounts.create(request.body.name, request.body.permissions, request.body.tenant);
        } catch (error) {
          if (error instanceof ServiceAccountNameTaken) throw new HarkenError(409, 'name_taken', error.message);
          throw error;
        }
        await access.audit.record({ action: 'service_account.created', outcome: 'success', actor: request.caller?.label, target: `service-account:${created.view.id}`, ip: request.ip, details: { name: created.view.name, permissions: created.view.permissions, tenant: created.view.tenant } });
        reply.header('cache-control', 'no-store');
        reply.status(201);
        return { secret: created.secret, ...created.view };
      },
    );

    app.get(
      '/v1/admin/service-accounts',
      { ...options, schema: { summary: 'List service accounts', tags: ['admin'], querystring: tenantFilter, response: { 200: Type.Object({ serviceAccounts: Type.Array(AccountView) }), ...errorResponses(400, 401, 403) } } },
      async (request) => ({ serviceAccounts: await access.accounts.list(request.query.tenant ? { tenant: request.query.tenant } : {}) }),
    );

    app.post(
      '/v1/admin/service-accounts/:id/rotate',
      {
        ...management,
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
        ...management,
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
