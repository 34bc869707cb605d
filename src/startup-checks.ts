import { ConfigError } from './config/load.js';
import type { HarkenConfig } from './config/schema.js';
import { checkLlmSettings } from './llm/llm-runtime.js';
import { CallPolicy } from './transports/twilio/call-policy.js';
import { OutboundCalls } from './transports/twilio/outbound-calls.js';
import { checkTwilioSettings } from './transports/twilio/twilio-settings.js';

/**
 * The checks a start makes on settings beyond their schema (Twilio URLs and numbers, outbound
 * patterns, LLM tools), in one place, so that a change through the settings API is refused
 * when the next start would refuse it, instead of leaving a server that cannot start again.
 * Throws ConfigError.
 */
export const checkStartupSettings = (config: HarkenConfig): void => {
  const { memoryWarnMb, memoryCriticalMb } = config.monitor;
  if (memoryWarnMb > 0 && memoryCriticalMb > 0 && memoryWarnMb >= memoryCriticalMb) {
    throw new ConfigError([{ setting: 'monitor.memoryWarnMb', source: 'settings', message: `must be below monitor.memoryCriticalMb (${memoryCriticalMb})` }]);
  }
  // A start checks the LLM settings only when a model is configured (no model: no LLM agents).
  if (config.llm.model || config.llm.localModelPath) checkLlmSettings(config);
  if (!config.twilio.enabled) return;
  checkTwilioSettings(config);
  new CallPolicy(config);
  OutboundCalls.allowedPatterns(config);
};
