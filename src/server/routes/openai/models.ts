import type { FastifyInstance } from 'fastify';
import type { AgentRegistry } from '../../../agents/registry.js';
import type { VoiceEngines } from '../../../engines/voice-engines.js';
import { SPEECH_MODELS, TRANSCRIPTION_MODELS } from './model-names.js';
import { sendOpenAiError } from './openai-errors.js';

interface ModelEntry {
  readonly id: string;
  readonly object: 'model';
  readonly created: number;
  readonly owned_by: string;
}

/**
 * `GET /v1/models` and `GET /v1/models/:model`, as OpenAI's: the names this server answers to —
 * OpenAI's transcription and speech models (mapped to the configured engines), the engines
 * themselves, and the agents.
 */
export const registerModels = (app: FastifyInstance, options: { engines: VoiceEngines; agents: AgentRegistry }): void => {
  const created = Math.floor(Date.now() / 1000);
  const entry = (id: string, ownedBy: string): ModelEntry => ({ id, object: 'model', created, owned_by: ownedBy });
  const list = (): ModelEntry[] => {
    const entries = [
      ...TRANSCRIPTION_MODELS.map((id) => entry(id, `harken (${options.engines.stt.name})`)),
      ...SPEECH_MODELS.map((id) => entry(id, `harken (${options.engines.tts.name})`)),
      entry(options.engines.stt.name, 'harken'),
      entry(options.engines.tts.name, 'harken'),
      ...options.agents.names().map((name) => entry(name, 'harken agent')),
    ];
    return [...new Map(entries.map((model) => [model.id, model])).values()];
  };

  app.get('/v1/models', { config: { access: 'authenticated' }, schema: { summary: 'Models this server answers to (OpenAI-compatible)', tags: ['openai'] } }, async () => ({ object: 'list', data: list() }));
  app.get<{ Params: { model: string } }>(
    '/v1/models/:model',
    { config: { access: 'authenticated' }, schema: { summary: 'One model (OpenAI-compatible)', tags: ['openai'] } },
    async (request, reply) => list().find((model) => model.id === request.params.model) ?? sendOpenAiError(reply, 404, 'model_not_found', `The model \`${request.params.model}\` does not exist`, 'model'),
  );
};
