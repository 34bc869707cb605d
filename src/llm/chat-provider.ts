import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';

export type ChatMessage = ChatCompletionMessageParam;
export type ChatTool = ChatCompletionTool;

export interface ToolCall {
  readonly id: string;
  readonly name: string;
  /** The model's JSON arguments, unparsed. */
  readonly arguments: string;
}

/** What one streamed completion produces, in order: text deltas, then tool calls and usage. */
export type ChatEvent =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'tool_calls'; readonly calls: readonly ToolCall[] }
  | { readonly type: 'usage'; readonly promptTokens: number; readonly completionTokens: number };

export interface ChatProviderOptions {
  /** Shown in logs and stored with each reply (`model@host`). */
  readonly label: string;
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly model: string;
  /** Until the first chunk arrives (includes connecting and queueing at the provider). */
  readonly firstTokenTimeoutMs: number;
  /** Longest silence between two chunks once streaming. */
  readonly idleTimeoutMs: number;
  /** Retries of a request that failed before streaming (network, 408, 409, 429, 5xx), with back-off. */
  readonly retries: number;
}

export interface ChatRequest {
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly ChatTool[];
  /** OpenAI's tool_choice; absent: the model decides. */
  readonly toolChoice?: 'auto' | 'none' | 'required' | { readonly type: 'function'; readonly name: string };
  readonly temperature?: number;
  readonly maxTokens?: number;
  readonly signal: AbortSignal;
}

/** Anything that can stream a chat reply: a remote OpenAI-compatible server or a local model. */
export interface ChatBackend {
  /** Shown in logs and stored with each reply (`model@host`). */
  readonly label: string;
  stream(request: ChatRequest): AsyncGenerator<ChatEvent>;
  close?(): Promise<void>;
}

/** The provider failed; `streamed` says whether any text had already been produced. */
export class ChatProviderError extends Error {
  constructor(readonly provider: string, message: string, readonly streamed: boolean, options?: ErrorOptions) {
    super(`${provider}: ${message}`, options);
    this.name = 'ChatProviderError';
  }
}

interface PartialToolCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * One OpenAI-compatible chat completions endpoint (OpenAI, Ollama, vLLM, llama.cpp server,
 * Groq…) through the official SDK, streaming. The SDK retries before the stream starts; the
 * idle timer here catches a stream that stalls or is dropped halfway.
 */
export class ChatProvider implements ChatBackend {
  private readonly client: OpenAI;

  constructor(readonly options: ChatProviderOptions) {
    this.client = new OpenAI({
      baseURL: options.baseUrl,
      // Local servers (Ollama, llama.cpp) take no key; the SDK insists on one.
      apiKey: options.apiKey || 'not-needed',
      maxRetries: options.retries,
      timeout: options.firstTokenTimeoutMs,
    });
  }

  get label(): string {
    return this.options.label;
  }

  async *stream(request: ChatRequest): AsyncGenerator<ChatEvent> {
    const watchdog = new AbortController();
    const onAbort = () => watchdog.abort(request.signal.reason);
    request.signal.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let stalled: string | undefined;
    const arm = (ms: number, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = `${what} after ${ms} ms`;
        watchdog.abort(new Error(stalled));
      }, ms);
    };
    let streamed = false;
    const calls = new Map<number, PartialToolCall>();
    try {
      arm(this.options.firstTokenTimeoutMs, 'no response');
      const stream = await this.client.chat.completions.create(
        {
          model: this.options.model,
          messages: [...request.messages],
          stream: true,
          stream_options: { include_usage: true },
          ...(request.tools && request.tools.length > 0 ? { tools: [...request.tools] } : {}),
          ...(request.tools && request.tools.length > 0 && request.toolChoice
            ? { tool_choice: typeof request.toolChoice === 'string' ? request.toolChoice : { type: 'function' as const, function: { name: request.toolChoice.name } } }
            : {}),
          ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
          ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
        },
        { signal: watchdog.signal },
      );
      for await (const chunk of stream as AsyncIterable<ChatCompletionChunk>) {
        arm(this.options.idleTimeoutMs, 'the stream stalled');
        if (chunk.usage) yield { type: 'usage', promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
        const delta = chunk.choices[0]?.delta;
        if (!delta) continue;
        if (delta.content) {
          streamed = true;
          yield { type: 'text', text: delta.content };
        }
        for (const call of delta.tool_calls ?? []) {
          const entry = calls.get(call.index) ?? { id: '', name: '', arguments: '' };
          if (call.id) entry.id = call.id;
          if (call.function?.name) entry.name += call.function.name;
          if (call.function?.arguments) entry.arguments += call.function.arguments;
          calls.set(call.index, entry);
        }
      }
      // The SDK ends the iteration quietly when aborted: a stall must still count as a failure.
      if (stalled !== undefined && !request.signal.aborted) throw new ChatProviderError(this.label, stalled, streamed);
      if (calls.size > 0) {
        yield { type: 'tool_calls', calls: [...calls.entries()].sort(([a], [b]) => a - b).map(([index, call]) => ({ ...call, id: call.id || `call_${index}` })) };
      }
    } catch (error) {
      if (request.signal.aborted) return;
      if (error instanceof ChatProviderError) throw error;
      const reason = stalled ?? describe(error);
      throw new ChatProviderError(this.label, reason, streamed, { cause: error });
    } finally {
      clearTimeout(timer);
      request.signal.removeEventListener('abort', onAbort);
    }
  }
}

const describe = (error: unknown): string => {
  if (error instanceof OpenAI.APIError && error.status !== undefined) {
    const detail = (error.error as { message?: string } | undefined)?.message ?? error.message;
    if (error.status === 401 || error.status === 403) return `refused our credentials (${error.status}): ${detail}`;
    return `HTTP ${error.status}: ${detail}`;
  }
  if (error instanceof OpenAI.APIConnectionError) return `cannot connect (${(error.cause as Error | undefined)?.message ?? error.message})`;
  return (error as Error).message;
};
