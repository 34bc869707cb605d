import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import type { HarkenConfig } from '../../config/schema.js';
import { FlowError, schemaProblems } from '../dialogue/load-flow.js';
import type { LlmAgentDefinition } from './llm-agent.js';

/** An agent file with `type: llm`: prompt and behaviour per agent; providers and keys stay in the config. */
export const LlmAgentFileSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_-]{0,63}$' }),
    type: Type.Literal('llm'),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    systemPrompt: Type.String({ minLength: 1, maxLength: 20_000 }),
    greeting: Type.Optional(Type.String({ maxLength: 1_000 })),
    temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
    maxTokens: Type.Optional(Type.Integer({ minimum: 16, maximum: 8_192 })),
    tools: Type.Optional(Type.Array(Type.String(), { uniqueItems: true })),
    historyTokenBudget: Type.Optional(Type.Integer({ minimum: 200 })),
    fillerPhrase: Type.Optional(Type.String()),
    failurePhrase: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
export type LlmAgentFile = Static<typeof LlmAgentFileSchema>;

export const isLlmAgentDocument = (document: unknown): boolean =>
  typeof document === 'object' && document !== null && (document as { type?: unknown }).type === 'llm';

export const commaList = (value: string): string[] => value.split(',').map((item) => item.trim()).filter(Boolean);

/** The built-in `assistant`, configured entirely by the llm.* settings. */
export const assistantDefinition = (config: HarkenConfig, model: string): LlmAgentDefinition => ({
  id: 'assistant',
  description: `General voice assistant (${model}).`,
  systemPrompt: config.llm.systemPrompt,
  greeting: config.llm.greeting,
  temperature: config.llm.temperature,
  maxTokens: config.llm.maxTokens,
  tools: commaList(config.llm.tools),
  historyTokenBudget: config.llm.historyTokenBudget,
  fillerAfterMs: config.llm.fillerAfterMs,
  fillerPhrase: config.llm.fillerPhrase,
  failurePhrase: config.llm.failurePhrase,
  maxToolRounds: config.llm.maxToolRounds,
});

/** Validates an `type: llm` agent file; what it leaves out comes from the llm.* settings. */
export const llmDefinitionFromFile = (document: unknown, source: string, config: HarkenConfig, model: string): LlmAgentDefinition => {
  if (!Value.Check(LlmAgentFileSchema, document)) throw new FlowError(source, schemaProblems(LlmAgentFileSchema, document));
  const file = document;
  const defaults = assistantDefinition(config, model);
  return {
    ...defaults,
    id: file.id,
    description: file.description ?? `LLM agent ${file.id}.`,
    systemPrompt: file.systemPrompt,
    greeting: file.greeting ?? '',
    ...(file.temperature !== undefined ? { temperature: file.temperature } : {}),
    ...(file.maxTokens !== undefined ? { maxTokens: file.maxTokens } : {}),
    ...(file.tools !== undefined ? { tools: file.tools } : {}),
    ...(file.historyTokenBudget !== undefined ? { historyTokenBudget: file.historyTokenBudget } : {}),
    ...(file.fillerPhrase !== undefined ? { fillerPhrase: file.fillerPhrase } : {}),
    ...(file.failurePhrase !== undefined ? { failurePhrase: file.failurePhrase } : {}),
  };
};
