import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { EngineUnavailableError } from '../engines/engine-errors.js';
import { AsyncQueue } from '../util/async-queue.js';
import { ChatProviderError, type ChatBackend, type ChatEvent, type ChatMessage, type ChatRequest } from './chat-provider.js';

type NodeLlamaCpp = typeof import('node-llama-cpp');
type LlamaModel = import('node-llama-cpp').LlamaModel;
type LlamaContext = import('node-llama-cpp').LlamaContext;
type ChatHistoryItem = import('node-llama-cpp').ChatHistoryItem;

export interface LlamaCppOptions {
  /** A GGUF model file. */
  readonly modelPath: string;
  readonly contextSize: number;
  /** CPU threads; 0 means all CPUs but one. */
  readonly threads: number;
}

const FIX = 'install it with `npm install node-llama-cpp` (prebuilt CPU binaries, no compiler needed)';

const textOf = (message: ChatMessage): string => {
  const content = (message as { content?: unknown }).content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((part) => (typeof part === 'object' && part && 'text' in part ? String(part.text) : '')).join('');
  return '';
};

/** OpenAI-style messages as llama.cpp chat history; tool exchanges become plain text. */
const toHistory = (messages: readonly ChatMessage[]): ChatHistoryItem[] =>
  messages.map((message): ChatHistoryItem => {
    if (message.role === 'system' || message.role === 'developer') return { type: 'system', text: textOf(message) };
    if (message.role === 'assistant') return { type: 'model', response: [textOf(message)] };
    if (message.role === 'tool') return { type: 'user', text: `(tool result) ${textOf(message)}` };
    return { type: 'user', text: textOf(message) };
  });

/**
 * A local GGUF model through node-llama-cpp (an optional dependency): the same streaming
 * interface as a remote provider, generating on llama.cpp's own threads. One request at a
 * time per model (CPU inference gains nothing from interleaving); tools are not offered.
 */
export class LlamaCppBackend implements ChatBackend {
  readonly label: string;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly library: NodeLlamaCpp,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    modelPath: string,
  ) {
    this.label = `${basename(modelPath)}@local`;
  }

  /** Loads the model now, so a bad file or missing library stops the start with one clear line. */
  static async create(options: LlamaCppOptions): Promise<LlamaCppBackend> {
    if (!existsSync(options.modelPath)) {
      throw new EngineUnavailableError('llama.cpp', `GGUF model file ${options.modelPath} does not exist`, 'set llm.localModelPath (HARKEN_LLM_LOCAL_MODEL_PATH) to a .gguf file');
    }
    let library: NodeLlamaCpp;
    try {
      library = await import('node-llama-cpp');
    } catch {
      throw new EngineUnavailableError('llama.cpp', 'the optional package node-llama-cpp is not installed', FIX);
    }
    try {
      const llama = await library.getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: library.LlamaLogLevel.error });
      const model = await llama.loadModel({ modelPath: options.modelPath });
      // llama.cpp's default (4 threads on a 2-CPU VM) spins on every core and starves the event loop that
      // carries other calls' audio; one CPU is left to it. Measured with a tiny model on 2 CPUs: 1 thread
      // 9-31 ms per reply, 2 threads ~300 ms, 4 threads ~2.3 s.
      const threads = options.threads > 0 ? options.threads : Math.max(1, availableParallelism() - 1);
      const context = await model.createContext({ contextSize: options.contextSize, threads });
      return new LlamaCppBackend(library, model, context, options.modelPath);
    } catch (error) {
      throw new EngineUnavailableError('llama.cpp', `cannot load ${options.modelPath}: ${(error as Error).message}`, 'check that the file is a GGUF model llama.cpp supports');
    }
  }

  stream(request: ChatRequest): AsyncGenerator<ChatEvent> {
    const events = new AsyncQueue<ChatEvent>();
    const run = this.queue.catch(() => undefined).then(() => this.generate(request, events));
    this.queue = run;
    run.then(
      () => events.end(),
      (error: unknown) => events.fail(error instanceof ChatProviderError ? error : new ChatProviderError(this.label, (error as Error).message, false, { cause: error })),
    );
    return events[Symbol.asyncIterator]() as AsyncGenerator<ChatEvent>;
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    await this.context.dispose();
    await this.model.dispose();
  }

  private async generate(request: ChatRequest, events: AsyncQueue<ChatEvent>): Promise<void> {
    if (request.signal.aborted) return;
    const sequence = this.context.getSequence();
    const chat = new this.library.LlamaChat({ contextSequence: sequence, autoDisposeSequence: false });
    const before = sequence.tokenMeter.getState();
    let streamed = false;
    try {
      await chat.generateResponse(toHistory(request.messages), {
        signal: request.signal,
        stopOnAbortSignal: true,
        ...(request.maxTokens !== undefined ? { maxTokens: request.maxTokens } : {}),
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        onTextChunk: (text) => {
          if (text === '') return;
          streamed = true;
          events.push({ type: 'text', text });
        },
      });
      const used = this.library.TokenMeter.diff(sequence.tokenMeter.getState(), before);
      events.push({ type: 'usage', promptTokens: used.usedInputTokens, completionTokens: used.usedOutputTokens });
    } catch (error) {
      if (request.signal.aborted) return;
      throw new ChatProviderError(this.label, (error as Error).message, streamed, { cause: error });
    } finally {
      chat.dispose({ disposeSequence: false });
      await sequence.clearHistory();
      sequence.dispose();
    }
  }
}
