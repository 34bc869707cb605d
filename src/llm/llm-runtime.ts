import type { Logger } from 'pino';
import { ConfigError } from '../config/load.js';
import type { HarkenConfig } from '../config/schema.js';
import { ChatChain } from './chat-chain.js';
import { ChatProvider, type ChatBackend } from './chat-provider.js';
import { LlamaCppBackend } from './llama-cpp-backend.js';
import { ToolRegistry, type Tool } from './tools.js';
import { endCallTool } from './tools/end-call.js';
import { EngineGuard, HEALTH_RECOVERY_MS, UNHEALTHY_AFTER_TIMEOUTS } from '../engines/engine-guard.js';
import { InMemoryEngineMetrics, type EngineMetrics } from '../engines/engine-metrics.js';
import { GuardedChatBackend } from './guarded-chat-backend.js';
import { httpLookupTool } from './tools/http-lookup.js';
import { transferTool } from './tools/transfer.js';

/** What LLM agents share: the provider chain and the tools. */
export interface LlmRuntime {
  readonly chat: ChatChain;
  readonly tools: ToolRegistry;
  readonly logger: Logger;
  /** The first backend, for descriptions. */
  readonly primary: string;
  close(): Promise<void>;
}

const hostOf = (url: string): string => {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
};

/** What a start refuses in the LLM settings beyond their schema. */
export const checkLlmSettings = (config: HarkenConfig): void => {
  if (config.llm.transferTargets) parseTransferTargets(config.llm.transferTargets);
  if (config.llm.lookupUrl && !config.llm.lookupSecret) throw new ConfigError([{ setting: 'llm.lookupSecret', source: 'HARKEN_LLM_LOOKUP_SECRET', message: 'is required with llm.lookupUrl (requests are signed)' }]);
};

export const parseTransferTargets = (value: string): Record<string, string> => {
  const targets: Record<string, string> = {};
  for (const pair of value.split(',').map((item) => item.trim()).filter(Boolean)) {
    const [name, target] = pair.split('=').map((part) => part.trim());
    if (!name || !target) throw new ConfigError([{ setting: 'llm.transferTargets', source: 'HARKEN_LLM_TRANSFER_TARGETS', message: `"${pair}" is not name=number-or-uri` }]);
    targets[name] = target;
  }
  return targets;
};

/**
 * Builds the backend chain — the remote model, its fallback, then a local GGUF model, as
 * configured — and the tools the settings enable. Undefined when no model is configured: no
 * LLM agents then. `extraTools` is the TypeScript API for tools of your own.
 */
export const createLlmRuntime = async (
  config: HarkenConfig,
  logger: Logger,
  extraTools: readonly Tool[] = [],
  metrics: EngineMetrics = new InMemoryEngineMetrics(),
): Promise<LlmRuntime | undefined> => {
  const llm = config.llm;
  if (!llm.model && !llm.localModelPath) return undefined;
  const common = { firstTokenTimeoutMs: llm.firstTokenTimeoutMs, idleTimeoutMs: llm.idleTimeoutMs, retries: llm.retries };
  const providers: ChatBackend[] = [];
  if (llm.model) providers.push(new ChatProvider({ ...common, label: `${llm.model}@${hostOf(llm.baseUrl)}`, baseUrl: llm.baseUrl, apiKey: llm.apiKey, model: llm.model }));
  if (llm.model && llm.fallbackModel) {
    const baseUrl = llm.fallbackBaseUrl || llm.baseUrl;
    providers.push(new ChatProvider({ ...common, label: `${llm.fallbackModel}@${hostOf(baseUrl)}`, baseUrl, apiKey: llm.fallbackApiKey || llm.apiKey, model: llm.fallbackModel }));
  }
  const tools = new ToolRegistry().register(endCallTool);
  if (llm.transferTargets) tools.register(transferTool(parseTransferTargets(llm.transferTargets)));
  checkLlmSettings(config);
  if (llm.lookupUrl) {
    tools.register(httpLookupTool({ url: llm.lookupUrl, secret: llm.lookupSecret, timeoutMs: llm.lookupTimeoutMs }));
  }
  for (const tool of extraTools) tools.register(tool);
  if (llm.localModelPath) providers.push(await LlamaCppBackend.create({ modelPath: llm.localModelPath, contextSize: llm.localContextSize, threads: llm.localThreads }));
  const guarded = providers.map(
    (provider) =>
      new GuardedChatBackend(
        provider,
        new EngineGuard({
          engine: provider.label,
          timeoutMs: llm.replyTimeoutMs,
          perUnitMs: 0,
          retries: 0,
          // The local model answers one request at a time: waiting for it happens here, outside the reply's time limit.
          maxConcurrent: provider instanceof LlamaCppBackend ? 1 : llm.maxConcurrent,
          maxQueued: llm.maxQueued,
          unhealthyAfterTimeouts: UNHEALTHY_AFTER_TIMEOUTS,
          healthRecoveryMs: HEALTH_RECOVERY_MS,
          metrics,
        }),
      ),
  );
  const chat = new ChatChain(guarded, logger);
  return { chat, tools, logger, primary: chat.primary, close: () => chat.close() };
};
