import type { Message } from '../store/conversations.js';

const COLUMNS = ['seq', 'created_at', 'role', 'source', 'interrupted', 'text', 'stt_latency_ms', 'agent_latency_ms', 'tts_first_audio_ms', 'voice_to_voice_ms', 'llm_model', 'prompt_tokens', 'completion_tokens'] as const;

/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break. A text that a
 * spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading apostrophe: what a
 * caller said must never execute on the machine of whoever opens the export (OWASP CSV injection).
 */
const cell = (value: string | number | boolean | null | undefined): string => {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

/** A conversation's messages, one row each, with the turn's timings and token usage. */
export const conversationCsv = (messages: readonly Message[]): string => {
  const rows = messages.map((message) =>
    [
      message.seq,
      message.createdAt,
      message.role,
      message.source,
      message.interrupted,
      message.text,
      message.metrics.sttLatencyMs,
      message.metrics.agentLatencyMs,
      message.metrics.ttsFirstAudioMs,
      message.metrics.voiceToVoiceMs,
      message.metrics.llmModel,
      message.metrics.promptTokens,
      message.metrics.completionTokens,
    ]
      .map(cell)
      .join(','),
  );
  return `${[COLUMNS.join(','), ...rows].join('\r\n')}\r\n`;
};
