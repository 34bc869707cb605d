import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { HarkenError } from '../../errors.js';
import type { JsonObject } from '../../store/conversations.js';
import { AllProvidersFailedError, type ChatChain } from '../../llm/chat-chain.js';
import { ChatProviderError, type ChatMessage, type ToolCall } from '../../llm/chat-provider.js';
import type { ToolRegistry, ToolResult } from '../../llm/tools.js';
import type { Agent, AgentContext, AgentEvent, AgentMetrics, FunctionCall } from '../agent.js';
import type { ChatTool } from '../../llm/chat-provider.js';
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

/** The client function calls that ended the last turn, kept in the conversation's state until their outputs come. */
const CLIENT_CALLS = 'clientFunctionCalls';

const clientCallsOf = (state: Record<string, unknown>): FunctionCall[] => {
  const calls = state[CLIENT_CALLS];
  if (!Array.isArray(calls)) return [];
  return calls.filter((call): call is FunctionCall => typeof call === 'object' && call !== null && typeof call.callId === 'string' && typeof call.name === 'string' && typeof call.arguments === 'string');
};

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

  prompts(): readonly string[] {
    return [this.definition.greeting, this.definition.fillerPhrase, this.definition.failurePhrase].filter(Boolean);
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
    const messages: ChatMessage[] = this.withFunctionOutputs(plan.messages, context, userText);
    const declarations = this.declarations(toolNames, context);
    const clientNames = new Set((context.overrides?.functions ?? []).map((fn) => fn.name));
    const clientCalls: FunctionCall[] = [];
    const started = performance.now();
    try {
      for (let round = 0; round <= this.definition.maxToolRounds && !context.signal.aborted; round += 1) {
        const calls: ToolCall[] = [];
        let roundText = '';
        const offerTools = round < this.definition.maxToolRounds && declarations.length > 0;
        for await (const event of this.chat.stream(
          {
            messages,
            ...(offerTools ? { tools: declarations } : {}),
            ...(offerTools && context.overrides?.toolChoice && round === 0 ? { toolChoice: context.overrides.toolChoice } : {}),
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
        // The client runs its own functions: the turn ends here and their outputs start the next one.
        const forClient = calls.filter((call) => clientNames.has(call.name) && !toolNames.includes(call.name));
        if (forClient.length > 0) {
          for (const call of forClient) {
            const made: FunctionCall = { callId: call.id, name: call.name, arguments: call.arguments };
            clientCalls.push(made);
            yield { type: 'function_call', ...made };
          }
          break;
        }
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
    const state: JsonObject = { ...context.state, ...memory, [CLIENT_CALLS]: clientCalls.length > 0 ? clientCalls.map((call) => ({ ...call })) : null };
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

  /** The server's tools the agent may use, then the client's functions (a client function cannot shadow a server tool). */
  private declarations(toolNames: readonly string[], context: AgentContext): ChatTool[] {
    const server = toolNames.length > 0 ? this.tools.declarations(toolNames) : [];
    const client = (context.overrides?.functions ?? [])
      .filter((fn) => !toolNames.includes(fn.name))
      .map((fn): ChatTool => ({ type: 'function', function: { name: fn.name, description: fn.description, parameters: fn.parameters } }));
    return [...server, ...client];
  }

  /**
   * After client function calls, the prompt replays them and the client's outputs (in the order
   * the model made them) before the caller's new words, if any. Calls the client left unanswered
   * are answered for it, as the chat API requires an answer to each.
   */
  private withFunctionOutputs(planned: ChatMessage[], context: AgentContext, userText: string): ChatMessage[] {
    const messages = userText === '' ? planned.slice(0, -1) : planned;
    const calls = clientCallsOf(context.state);
    const outputs = context.functionOutputs ?? [];
    if (calls.length === 0 || outputs.length === 0) return messages;
    const exchange: ChatMessage[] = [
      { role: 'assistant', content: null, tool_calls: calls.map((call) => ({ id: call.callId, type: 'function', function: { name: call.name, arguments: call.arguments } })) },
      ...calls.map((call): ChatMessage => ({ role: 'tool', tool_call_id: call.callId, content: outputs.find((output) => output.callId === call.callId)?.output ?? 'The client gave no output for this call.' })),
    ];
    return userText === '' ? [...messages, ...exchange] : [...messages.slice(0, -1), ...exchange, ...messages.slice(-1)];
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
