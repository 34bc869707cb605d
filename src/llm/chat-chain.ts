import type { Logger } from 'pino';
import { ChatProviderError, type ChatBackend, type ChatEvent, type ChatRequest } from './chat-provider.js';

/** Every provider failed before producing anything. */
export class AllProvidersFailedError extends Error {
  constructor(readonly failures: readonly string[]) {
    super(`every chat provider failed: ${failures.join('; ')}`);
    this.name = 'AllProvidersFailedError';
  }
}

/**
 * The configured providers in order: a request goes to the next one when a provider fails
 * before streaming anything. Once text has been streamed (and perhaps spoken) there is no
 * switching: a failure then propagates as a ChatProviderError with `streamed` set.
 */
export class ChatChain {
  constructor(private readonly providers: readonly ChatBackend[], private readonly logger: Logger) {
    if (providers.length === 0) throw new Error('a chat chain needs at least one provider');
  }

  get primary(): string {
    return (this.providers[0] as ChatBackend).label;
  }

  async close(): Promise<void> {
    await Promise.all(this.providers.map((provider) => provider.close?.()));
  }

  /** Streams from the first provider that answers; `onProvider` learns which one did. */
  async *stream(request: ChatRequest, onProvider?: (label: string) => void): AsyncGenerator<ChatEvent> {
    const failures: string[] = [];
    for (const provider of this.providers) {
      let produced = false;
      try {
        for await (const event of provider.stream(request)) {
          if (!produced) {
            produced = true;
            onProvider?.(provider.label);
          }
          yield event;
        }
        if (!produced) onProvider?.(provider.label);
        return;
      } catch (error) {
        if (!(error instanceof ChatProviderError) || error.streamed || produced) throw error;
        failures.push(error.message);
        this.logger.warn({ provider: provider.label, reason: error.message }, 'chat provider failed; trying the next');
      }
    }
    throw new AllProvidersFailedError(failures);
  }
}
