import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ConfigService } from '../../config/config-service.js';
import type { AuditLog } from '../../security/audit-log.js';
import type { Caller } from '../../security/authenticator.js';
import { errorResponses } from '../schemas.js';

const SettingView = Type.Object({
  path: Type.String({ description: 'section.key, as in the config file.' }),
  env: Type.String({ description: 'The environment variable that sets it.' }),
  description: Type.String(),
  type: Type.String({ description: 'string, integer, number, boolean or enum.' }),
  allowed: Type.Optional(Type.Array(Type.Unknown())),
  default: Type.Unknown(),
  secret: Type.Boolean(),
  value: Type.Unknown({ description: 'In effect now; null for secrets.' }),
  isSet: Type.Boolean(),
  source: Type.String({ description: 'default, config file, settings file, environment or command line.' }),
  pending: Type.Optional(Type.Unknown({ description: 'Saved, in effect after a restart (secrets: true).' })),
  pinned: Type.Boolean({ description: 'Set by the environment or the command line: not changeable here.' }),
  editable: Type.Boolean(),
  live: Type.Boolean({ description: 'Changes take effect at once.' }),
});

const Change = Type.Object({ path: Type.String(), from: Type.Unknown(), to: Type.Unknown() });

/**
 * The configuration: `GET /v1/config` reads every setting (no secret values; admin credentials,
 * or anyone when server.configPublic), `PUT /v1/admin/config` changes some (admin login session + CSRF only),
 * validated like a start, audited old → new, saved to the data dir's settings file (0600).
 */
export const configRoutes = (service: ConfigService, audit: AuditLog, configPublic: boolean): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/v1/config',
      {
        // Every URL, number and engine of the server: not for a tenant's key or a realtime token.
        config: { access: configPublic ? 'public' : 'admin' },
        schema: {
          summary: 'Every setting, its value in effect and where it comes from',
          description: 'Secrets are shown as set or not, never their value.',
          tags: ['operations'],
          response: { 200: Type.Object({ settings: Type.Array(SettingView) }) },
        },
      },
      async () => ({ settings: service.view() }),
    );

    app.put(
      '/v1/admin/config',
      {
        config: { access: 'admin', credentialManagement: true },
        schema: {
          summary: 'Change settings (admin login session only)',
          description: 'All or nothing; `null` removes a saved value. Returns what changed, what took effect at once and what waits for a restart.',
          tags: ['admin'],
          body: Type.Object({ settings: Type.Record(Type.String({ maxLength: 80 }), Type.Unknown(), { minProperties: 1, maxProperties: 100 }) }, { additionalProperties: false }),
          response: {
            200: Type.Object({ changed: Type.Array(Change), applied: Type.Array(Type.String()), restartRequired: Type.Array(Type.String()) }),
            ...errorResponses(400, 409),
          },
        },
      },
      async (request) => {
        const caller = request.caller as Caller;
        const result = service.change(request.body.settings);
        await audit.record({ action: 'config.changed', outcome: 'success', actor: caller.label, ip: request.ip, details: { changes: result.changed, restartRequired: result.restartRequired } });
        return result;
      },
    );
  };
