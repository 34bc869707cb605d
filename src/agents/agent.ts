import type { JsonObject, Message } from '../store/conversations.js';

/**
 * What the next user turn is expected to be. Speech recognition uses it to
 * constrain decoding (a yes/no grammar, a date grammar, a list of choices).
 */
export type AnswerExpectation =
  | { readonly type: 'yesno' }
  | { readonly type: 'number'; readonly min?: number; readonly max?: number }
  | { readonly type: 'date' }
  | { readonly type: 'choice'; readonly options: readonly string[] }
  | { readonly type: 'text' };

/**
 * What one session or one response asks of the agent beyond its definition (the OpenAI-compatible
 * endpoint's `session.update` and `response.create`). Agents that cannot honour a field ignore it.
 */
export interface AgentOverrides {
  /** Replaces the agent's own instructions (an LLM agent's system prompt). */
  readonly instructions?: string;
  /** The tools the agent may call, by name (a subset of those the server has). */
  readonly tools?: readonly string[];
  /**
   * Functions the client declared and runs itself (OpenAI realtime `tools`): a call to one ends
   * the turn with a `function_call` event; its output comes back in the next turn's context.
   */
  readonly functions?: readonly ClientFunction[];
  /** Whether the model may, must, or must not call a function (OpenAI's `tool_choice`). */
  readonly toolChoice?: 'auto' | 'none' | 'required' | { readonly type: 'function'; readonly name: string };
}

/** A function declared by the client: JSON Schema parameters, run on the client's side. */
export interface ClientFunction {
  readonly name: string;
  readonly description: string;
  readonly parameters: Record<string, unknown>;
}

/** A client function call the agent made, and (next turn) what the client answered. */
export interface FunctionCall {
  readonly callId: string;
  readonly name: string;
  /** JSON, as the model wrote it. */
  readonly arguments: string;
}

export interface FunctionOutput {
  readonly callId: string;
  readonly output: string;
}

/** Everything an agent may read about the conversation; agents never touch the store. */
export interface AgentContext {
  readonly conversationId: string;
  readonly state: JsonObject;
  readonly data: JsonObject;
  /** Stored turns, oldest first; an interrupted reply holds only what the caller heard. */
  readonly history: readonly (Pick<Message, 'role' | 'text'> & { readonly interrupted?: boolean })[];
  /** Aborted when the caller barges in or disconnects: stop generating at once. */
  readonly signal: AbortSignal;
  readonly overrides?: AgentOverrides;
  /** The client's answers to the function calls that ended the previous turn. */
  readonly functionOutputs?: readonly FunctionOutput[];
}

/** The agent's decision at the end of a turn. */
export interface AgentTurnResult {
  readonly state: JsonObject;
  readonly data: JsonObject;
  /** `active` to keep talking; any other value ends the conversation with that status. */
  readonly status: string;
  readonly expect?: AnswerExpectation;
  /** Stored with the reply (LLM agents: model, time to first token, token usage). */
  readonly metrics?: AgentMetrics;
}

export interface AgentMetrics {
  readonly llmModel?: string;
  readonly llmFirstTokenMs?: number;
  readonly promptTokens?: number;
  readonly completionTokens?: number;
}

/**
 * An agent streams its reply as text deltas and finishes with exactly one `done`.
 * Streaming lets speech synthesis start on the first sentence while the rest is generated.
 */
export type AgentEvent = { readonly type: 'text'; readonly text: string } | ({ readonly type: 'function_call' } & FunctionCall) | ({ readonly type: 'done' } & AgentTurnResult);

export interface Agent {
  readonly name: string;
  readonly description: string;
  /** The agent speaks first (a greeting and first question); may say nothing. */
  begin(context: AgentContext): AsyncIterable<AgentEvent>;
  respond(context: AgentContext, userText: string): AsyncIterable<AgentEvent>;
  /** What the agent will say word for word whatever the caller says (prompts, greetings, fixed phrases): synthesised ahead and kept. */
  prompts?(): readonly string[];
}

export class AgentProtocolError extends Error {
  constructor(agent: string, message: string) {
    super(`agent ${agent}: ${message}`);
    this.name = 'AgentProtocolError';
  }
}

/** Drains an agent's stream into the full reply text and its final result. */
export const collectReply = async (
  agent: string,
  events: AsyncIterable<AgentEvent>,
  onText?: (delta: string) => void,
): Promise<{ text: string; result: AgentTurnResult; calls: FunctionCall[] }> => {
  let text = '';
  const calls: FunctionCall[] = [];
  for await (const event of events) {
    if (event.type === 'text') {
      text += event.text;
      onText?.(event.text);
      continue;
    }
    if (event.type === 'function_call') {
      calls.push({ callId: event.callId, name: event.name, arguments: event.arguments });
      continue;
    }
    const { type: _type, ...result } = event;
    return { text: text.trim(), result, calls };
  }
  throw new AgentProtocolError(agent, 'reply ended without a result');
};
