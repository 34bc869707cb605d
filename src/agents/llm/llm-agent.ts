import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { HarkenError } from '../../errors.js';
import type { JsonObject } from '../../store/conversations.js';
import { AllProvidersFailedError, type ChatChain } from '../../llm/chat-chain.js';
import { ChatProviderError, type ChatMessage, type ToolCall } from '../../llm/chat-provider.js';
import type { ToolRegistry, ToolResult } from '../../llm/tools.js';
import type { Agent, AgentContext, AgentEvent, AgentMetrics } from '../agent.js';
import { memoryOf, planPrompt, summaryRequest, type MemoryState } from './memory.js';

export interface LlmAgentDefinition {
  readonly id: string;
  readonly description: string;
  readonly systemPrompt: string;
  /** Spoken when a conversation starts; empty lets the caller speak first. */
  readonly greeting: string;
  readonly temperature: number;
  readonly maxTokens: number;
  readonly tools: readonly string[];
  readonly historyTokenBudget: number;
  /** Said when a tool takes longer than this, so the caller does not hear dead air. */
  readonly fillerAfterMs: number;
  readonly fillerPhrase: string;
  /** Said when no provider can answer. */
  readonly failurePhrase: string;
  readonly maxToolRounds: number;
}

/** Mutable record of one turn, turned into the agent's `done` event. */
interface TurnLog {
  text: string;
  model?: string;
  firstTokenMs?: number;
  promptTokens: number;
  completionTokens: number;
  endConversation?: string;
  data: Record<string, unknown>;
}

const parseArguments = (raw: string): Record<string, unknown> | undefined => {
  try {
    const parsed: unknown = JSON.parse(raw || '{}');
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * An agent backed by an OpenAI-compatible chat model: streams its words (so speech starts on
 * the first sentence), calls tools, remembers the conversation through the database (the
 * history plus a running summary kept in the conversation's state), and falls back to the
 * next provider, and finally to a spoken apology, when providers fail.
 */
export class LlmAgent implements Agent {
  readonly name: string;
  readonly description: string;

  constructor(
    private readonly definition: LlmAgentDefinition,
    private readonly chat: ChatChain,
    private readonly tools: ToolRegistry,
    private readonly logger: Logger,
  ) {
    this.name = definition.id;
    this.description = definition.description;
    tools.declarations(definition.tools);
  }

  async *begin(context: AgentContext): AsyncIterable<AgentEvent> {
    if (this.definition.greeting) yield { type: 'text', text: this.definition.greeting };
    yield { type: 'done', state: context.state, data: context.data, status: 'active', expect: { type: 'text' } };
  }

  async *respond(context: AgentContext, userText: string): AsyncIterable<AgentEvent> {
    const turn: TurnLog = { text: '', promptTokens: 0, completionTokens: 0, data: {} };
    const systemPrompt = context.overrides?.instructions ?? this.definition.systemPrompt;
    const toolNames = this.toolsFor(context);
    const memory = await this.remember(context, userText, systemPrompt);
    const plan = planPrompt(systemPrompt, memory, context.history, userText, this.definition.historyTokenBudget);
    const messages: ChatMessage[] = plan.messages;
    const started = performance.now();
    try {
      for (let round = 0; round <= this.definition.maxToolRounds && !context.signal.aborted; round += 1) {
        const calls: ToolCall[] = [];
        let roundText = '';
        const offerTools = round < this.definition.maxToolRounds && toolNames.length > 0;
        for await (const event of this.chat.stream(
          {
            messages,
            ...(offerTools ? { tools: this.tools.declarations(toolNames) } : {}),
            temperature: this.definition.temperature,
            maxTokens: this.definition.maxTokens,
            signal: context.signal,
          },
          (label) => {
            turn.model ??= label;
          },
        )) {
          if (event.type === 'text') {
            turn.firstTokenMs ??= performance.now() - started;
            roundText += event.text;
            turn.text += event.text;
            yield { type: 'text', text: event.text };
          } else if (event.type === 'tool_calls') {
            calls.push(...event.calls);
          } else {
            turn.promptTokens += event.promptTokens;
            turn.completionTokens += event.completionTokens;
          }
        }
        if (calls.length === 0 || context.signal.aborted) break;
        messages.push({
          role: 'assistant',
          content: roundText || null,
          tool_calls: calls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })),
        });
        for (const call of calls) {
          const result = yield* this.runTool(call, context, turn, toolNames);
          messages.push({ role: 'tool', tool_call_id: call.id, content: result.content });
        }
      }
    } catch (error) {
      if (!context.signal.aborted) {
        const partial = error instanceof ChatProviderError && error.streamed;
        this.logger.error({ agent: this.name, err: error, partial, failures: error instanceof AllProvidersFailedError ? error.failures : undefined }, 'LLM reply failed');
        const apology = `${turn.text && !/\s$/.test(turn.text) ? ' ' : ''}${this.definition.failurePhrase}`;
        turn.text += apology;
        yield { type: 'text', text: apology };
      }
    }
    const state: JsonObject = { ...context.state, ...memory };
    const metrics: AgentMetrics = {
      ...(turn.model ? { llmModel: turn.model } : {}),
      ...(turn.firstTokenMs !== undefined ? { llmFirstTokenMs: Math.round(turn.firstTokenMs) } : {}),
      ...(turn.promptTokens + turn.completionTokens > 0 ? { promptTokens: turn.promptTokens, completionTokens: turn.completionTokens } : {}),
    };
    yield {
      type: 'done',
      state,
      data: { ...context.data, ...(turn.data as JsonObject) },
      status: turn.endConversation ?? 'active',
      expect: { type: 'text' },
      metrics,
    };
  }

  /** Runs one tool call; says the filler phrase if it is slow. Bad calls become an error message for the model. */
  private async *runTool(call: ToolCall, context: AgentContext, turn: TurnLog, allowed: readonly string[]): AsyncGenerator<AgentEvent, ToolResult> {
    const tool = allowed.includes(call.name) ? this.tools.get(call.name) : undefined;
    const args = parseArguments(call.arguments);
    if (!tool) return { content: `There is no tool named "${call.name}".` };
    if (!args) return { content: `The arguments were not a JSON object: ${call.arguments.slice(0, 200)}` };
    const running = tool.run(args, { conversationId: context.conversationId, signal: context.signal }).then(
      (result) => ({ result }),
      (error: unknown) => ({ error: error as Error }),
    );
    const slow = await Promise.race([running.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), this.definition.fillerAfterMs).unref())]);
    if (slow && !context.signal.aborted) {
      const filler = `${turn.text && !/\s$/.test(turn.text) ? ' ' : ''}${this.definition.fillerPhrase} `;
      turn.text += filler;
      yield { type: 'text', text: filler };
    }
    const outcome = await running;
    if ('error' in outcome) {
      if (context.signal.aborted) return { content: 'The caller interrupted.' };
      this.logger.warn({ agent: this.name, tool: call.name, err: outcome.error }, 'tool failed');
      return { content: `The tool failed: ${outcome.error.message}` };
    }
    if (outcome.result.endConversation) turn.endConversation = outcome.result.endConversation;
    Object.assign(turn.data, outcome.result.data ?? {});
    return outcome.result;
  }

  /** The session's own tool list when it set one: a subset of this agent's tools (a client cannot grant itself more). */
  private toolsFor(context: AgentContext): readonly string[] {
    const names = context.overrides?.tools;
    if (!names) return this.definition.tools;
    const refused = names.filter((name) => !this.definition.tools.includes(name));
    if (refused.length > 0) {
      throw new HarkenError(400, 'unknown_tool', `agent ${this.name} has no tool ${refused.join(', ')}; it has: ${this.definition.tools.join(', ') || 'none'}`);
    }
    return names;
  }

  /** Folds turns that no longer fit the prompt into the running summary (one extra, short LLM call). */
  private async remember(context: AgentContext, userText: string, systemPrompt: string): Promise<MemoryState> {
    const memory = memoryOf(context.state);
    const plan = planPrompt(systemPrompt, memory, context.history, userText, this.definition.historyTokenBudget);
    if (plan.overflow.length === 0) return memory;
    let summary = '';
    try {
      for await (const event of this.chat.stream({ messages: summaryRequest(memory.summary, plan.overflow), temperature: 0, maxTokens: 300, signal: context.signal })) {
        if (event.type === 'text') summary += event.text;
      }
    } catch (error) {
      // Without a new summary the oldest turns are simply left out this time.
      this.logger.warn({ agent: this.name, err: error }, 'could not summarise older turns');
      return memory;
    }
    return summary.trim() ? { summary: summary.trim(), summarizedThrough: plan.verbatimFrom } : memory;
  }
}
