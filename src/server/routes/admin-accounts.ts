import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { HarkenError, notFound } from '../../errors.js';
import type { Access } from '../../security/access.js';
import { AdminInputError, MIN_PASSWORD_LENGTH } from '../../security/admins.js';
import type { Caller } from '../../security/authenticator.js';
import { newTotpSecret, totpStep } from '../../security/totp.js';
import { errorResponses } from '../schemas.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const AdminView = Type.Object({
  id: Type.String(),
  username: Type.String(),
  createdAt: Type.String(),
  lastLoginAt: Nullable(Type.String()),
  disabledAt: Nullable(Type.String()),
  passwordChangedAt: Nullable(Type.String()),
  totpEnabled: Type.Boolean(),
});
const SessionView = Type.Object({ id: Type.String(), createdAt: Type.String(), expiresAt: Type.String(), lastSeenAt: Nullable(Type.String()), ip: Nullable(Type.String()), current: Type.Boolean() });
const Password = Type.String({ minLength: MIN_PASSWORD_LENGTH, maxLength: 1024 });
const AdminId = Type.Object({ id: Type.String({ format: 'uuid' }) });

const inputError = (error: unknown): never => {
  if (error instanceof AdminInputError) throw new HarkenError(400, 'invalid_request', error.message);
  throw error;
};

/**
 * The admin lifecycle: an admin's own password, sessions and second factor (`/v1/auth/…`),
 * and other admins (`/v1/admin/admins…`). Every change needs a login session (cookie + CSRF).
 */
export const adminAccountRoutes = (access: Access): FastifyPluginAsyncTypebox =>
  async (app) => {
    const self = { config: { access: 'admin' as const, credentialManagement: true, beforeTotpEnrolment: true } };
    const others = { config: { access: 'admin' as const, credentialManagement: true } };
    const me = (caller: Caller | undefined) => {
      if (caller?.kind !== 'admin' || caller.source.kind !== 'admin-session') throw new HarkenError(403, 'session_required', 'this needs an admin login session');
      return { adminId: caller.id, sessionId: caller.source.id, label: caller.label };
    };

    app.post(
      '/v1/auth/password',
      {
        ...self,
        schema: {
          summary: 'Change your password (the current one is required); your other sessions end',
          tags: ['auth'],
          body: Type.Object({ currentPassword: Type.String({ minLength: 1, maxLength: 1024 }), newPassword: Password }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses(400, 401, 403) },
        },
      },
      async (request, reply) => {
        const { adminId, sessionId, label } = me(request.caller);
        if (!(await access.admins.passwordMatches(adminId, request.body.currentPassword))) {
          await access.audit.record({ action: 'admin.password_changed', outcome: 'failure', actor: label, ip: request.ip, details: { reason: 'wrong_current_password' } });
          throw new HarkenError(401, 'invalid_credentials', 'the current password is wrong');
        }
        await access.admins.setPassword(adminId, request.body.newPassword, sessionId).catch(inputError);
        await access.audit.record({ action: 'admin.password_changed', outcome: 'success', actor: label, target: label, ip: request.ip });
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/v1/auth/sessions',
      {
        ...self,
        schema: { summary: 'Your open login sessions', tags: ['auth'], response: { 200: Type.Object({ sessions: Type.Array(SessionView) }), ...errorResponses(401, 403) } },
      },
      async (request) => {
        const { adminId, sessionId } = me(request.caller);
        return { sessions: (await access.admins.sessions(adminId)).map((session) => ({ ...session, current: session.id === sessionId })) };
      },
    );

    app.delete(
      '/v1/auth/sessions',
      {
        ...self,
        schema: {
          summary: 'Log out everywhere: end all your sessions (tokens made from them die too)',
          tags: ['auth'],
          querystring: Type.Object({ keepCurrent: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ ended: Type.Integer() }), ...errorResponses(401, 403) },
        },
      },
      async (request) => {
        const { adminId, sessionId, label } = me(request.caller);
        const ended = await access.admins.revokeSessions(adminId, request.query.keepCurrent ? { except: sessionId } : {});
        await access.audit.record({ action: 'admin.sessions_revoked', outcome: 'success', actor: label, target: label, ip: request.ip, details: { ended } });
        return { ended };
      },
    );

    app.delete(
      '/v1/auth/sessions/:id',
      {
        ...self,
        schema: { summary: 'End one of your sessions', tags: ['auth'], params: AdminId, response: { 200: Type.Object({ ended: Type.Integer() }), ...errorResponses(401, 403, 404) } },
      },
      async (request) => {
        const { adminId, label } = me(request.caller);
        const ended = await access.admins.revokeSessions(adminId, { sessionId: request.params.id });
        if (ended === 0) throw notFound('session');
        await access.audit.record({ action: 'admin.sessions_revoked', outcome: 'success', actor: label, target: `session:${request.params.id}`, ip: request.ip, details: { ended } });
        return { ended };
      },
    );

    app.post(
      '/v1/auth/totp',
      {
        ...self,
        schema: {
          summary: 'Start TOTP enrolment: a secret and otpauth:// URI for an authenticator app (confirm with a code)',
          tags: ['auth'],
          response: { 201: Type.Object({ secret: Type.String(), otpauthUri: Type.String() }), ...errorResponses(401, 403, 409) },
        },
      },
      async (request, reply) => {
        const { adminId } = me(request.caller);
        const admin = await access.admins.get(adminId);
        if (admin?.totpEnabled) throw new HarkenError(409, 'totp_enabled', 'a second factor is already enrolled; remove it first to enrol another');
        const enrolment = newTotpSecret(admin?.username ?? 'admin');
        await access.admins.setTotp(adminId, enrolment.secret, false);
        reply.header('cache-control', 'no-store');
        return reply.status(201).send({ secret: enrolment.secret, otpauthUri: enrolment.uri });
      },
    );

    app.post(
      '/v1/auth/totp/confirm',
      {
        ...self,
        schema: {
          summary: 'Finish TOTP enrolment with a current code; returns one-time recovery codes (shown once)',
          tags: ['auth'],
          body: Type.Object({ code: Type.String({ minLength: 6, maxLength: 12 }) }, { additionalProperties: false }),
          response: { 200: Type.Object({ recoveryCodes: Type.Array(Type.String()) }), ...errorResponses(400, 401, 403, 409) },
        },
      },
      async (request, reply) => {
        const { adminId, label } = me(request.caller);
        const secret = await access.admins.pendingTotpSecret(adminId);
        if (!secret) throw new HarkenError(409, 'no_enrolment', 'start with POST /v1/auth/totp');
        const step = totpStep(secret, request.body.code);
        if (step === undefined) throw new HarkenError(400, 'invalid_second_factor', 'that code is not the current one; check the device clock and try the next code');
        await access.admins.setTotp(adminId, secret, true);
        await access.admins.acceptTotpStep(adminId, step);
        const recoveryCodes = await access.admins.issueRecoveryCodes(adminId);
        await access.audit.record({ action: 'admin.totp_enabled', outcome: 'success', actor: label, target: label, ip: request.ip });
        reply.header('cache-control', 'no-store');
        return { recoveryCodes };
      },
    );

    app.delete(
      '/v1/auth/totp',
      {
        ...self,
        schema: {
          summary: 'Remove your second factor (your password is required)',
          tags: ['auth'],
          body: Type.Object({ password: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses(400, 401, 403) },
        },
      },
      async (request, reply) => {
        const { adminId, label } = me(request.caller);
        if (!(await access.admins.passwordMatches(adminId, request.body.password))) throw new HarkenError(401, 'invalid_credentials', 'the password is wrong');
        await access.admins.setTotp(adminId, null, false);
        await access.audit.record({ action: 'admin.totp_disabled', outcome: 'success', actor: label, target: label, ip: request.ip });
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/v1/admin/admins',
      { config: { access: 'admin' }, schema: { summary: 'Admin accounts', tags: ['admin'], response: { 200: Type.Object({ admins: Type.Array(AdminView) }), ...errorResponses(401, 403) } } },
      async () => ({ admins: await access.admins.list() }),
    );

    app.post(
      '/v1/admin/admins',
      {
        ...others,
        schema: {
          summary: 'Create another admin',
          tags: ['admin'],
          body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 63 }), password: Password }, { additionalProperties: false }),
          response: { 201: AdminView, ...errorResponses(400, 401, 403) },
        },
      },
      async (request, reply) => {
        const created = await access.admins.create(request.body.username, request.body.password).catch(inputError);
        await access.audit.record({ action: 'admin.created', outcome: 'success', actor: request.caller?.label, target: `admin:${created.username}`, ip: request.ip, details: { via: 'api' } });
        return reply.status(201).send(created);
      },
    );

    app.patch(
      '/v1/admin/admins/:id',
      {
        ...others,
        schema: {
          summary: 'Disable or enable an admin (disabling ends every session at once)',
          tags: ['admin'],
          params: AdminId,
          body: Type.Object({ disabled: Type.Boolean() }, { additionalProperties: false }),
          response: { 200: AdminView, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const target = await access.admins.get(request.params.id);
        if (!target) throw notFound('admin');
        if (request.body.disabled && !target.disabledAt && (await access.admins.enabledCount()) <= 1) throw new HarkenError(409, 'last_admin', 'the last enabled admin cannot be disabled');
        const updated = (await access.admins.setDisabled(target.id, request.body.disabled)) as NonNullable<Awaited<ReturnType<typeof access.admins.get>>>;
        await access.audit.record({ action: 'admin.updated', outcome: 'success', actor: request.caller?.label, target: `admin:${updated.username}`, ip: request.ip, details: { disabled: request.body.disabled } });
        return updated;
      },
    );

    app.post(
      '/v1/admin/admins/:id/password',
      {
        ...others,
        schema: {
          summary: 'Reset another admin’s password (their sessions end)',
          tags: ['admin'],
          params: AdminId,
          body: Type.Object({ password: Password }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request, reply) => {
        const target = await access.admins.get(request.params.id);
        if (!target) throw notFound('admin');
        await access.admins.setPassword(target.id, request.body.password).catch(inputError);
        await access.audit.record({ action: 'admin.password_changed', outcome: 'success', actor: request.caller?.label, target: `admin:${target.username}`, ip: request.ip, details: { via: 'reset' } });
        return reply.status(204).send(null);
      },
    );

    app.delete(
      '/v1/admin/admins/:id/sessions',
      {
        ...others,
        schema: { summary: 'End every session of an admin', tags: ['admin'], params: AdminId, response: { 200: Type.Object({ ended: Type.Integer() }), ...errorResponses(401, 403, 404) } },
      },
      async (request) => {
        const target = await access.admins.get(request.params.id);
        if (!target) throw notFound('admin');
        const ended = await access.admins.revokeSessions(target.id);
        await access.audit.record({ action: 'admin.sessions_revoked', outcome: 'success', actor: request.caller?.label, target: `admin:${target.username}`, ip: request.ip, details: { ended } });
        return { ended };
      },
    );

    app.delete(
      '/v1/admin/admins/:id',
      {
        ...others,
        schema: { summary: 'Delete an admin', tags: ['admin'], params: AdminId, response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 409) } },
      },
      async (request, reply) => {
        const target = await access.admins.get(request.params.id);
        if (!target) throw notFound('admin');
        if (!target.disabledAt && (await access.admins.enabledCount()) <= 1) throw new HarkenError(409, 'last_admin', 'the last enabled admin cannot be deleted');
        await access.admins.delete(target.id);
        await access.audit.record({ action: 'admin.deleted', outcome: 'success', actor: request.caller?.label, target: `admin:${target.username}`, ip: request.ip });
        return reply.status(204).send(null);
      },
    );
  };
