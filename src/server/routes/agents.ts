import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AgentRegistry } from '../../agents/registry.js';

export const agentRoutes = (registry: AgentRegistry): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/v1/agents',
      {
        config: { access: 'conversations' },
        schema: {
          summary: 'List the agents conversations can use',
          tags: ['agents'],
          response: {
            200: Type.Object({
              agents: Type.Array(Type.Object({ name: Type.String(), description: Type.String(), default: Type.Boolean() })),
            }),
          },
        },
      },
      async () => ({
        agents: registry.list().map((agent) => ({ name: agent.name, description: agent.description, default: agent.name === registry.defaultAgent })),
      }),
    );
  };
