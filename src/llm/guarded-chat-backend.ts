import type { EngineGuard } from '../engines/engine-guard.js';
import { EngineError } from '../engines/engine-errors.js';
import { ChatProviderError, type ChatBackend, type ChatEvent, type ChatRequest } from './chat-provider.js';

/**
 * A chat provider behind the engine guard: a bounded number of replies at once with a bounded
 * queue, a time limit on the whole reply that cancels it, counters and latency histograms
 * (stage `llm.reply`). A refusal or time-out before any output is a provider failure, so the
 * chain falls back to its next provider.
 */
export class GuardedChatBackend implements ChatBackend {
  constructor(private readonly inner: ChatBackend, readonly guard: EngineGuard) {}

  get label(): string {
    return this.inner.label;
  }

  async *stream(request: ChatRequest): AsyncGenerator<ChatEvent> {
    let produced = false;
    try {
      for await (const event of this.guard.stream('llm.reply', { units: 0, what: 'a reply', signal: request.signal }, (signal) => this.inner.stream({ ...request, signal }))) {
        produced = true;
        yield event;
      }
    } catch (error) {
      if (error instanceof EngineError && !request.signal.aborted) throw new ChatProviderError(this.inner.label, error.message, produced, { cause: error });
      throw error;
    }
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}
