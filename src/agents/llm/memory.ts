import type { AgentContext } from '../agent.js';
import type { ChatMessage } from '../../llm/chat-provider.js';

/** Roughly four characters a token for English; good enough to keep a prompt under budget. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4) + 4;

/** What the agent remembers between turns, stored in the conversation's state (so it survives restarts). */
export interface MemoryState {
  /** A summary of the oldest turns, which no longer fit the budget verbatim. */
  readonly summary?: string;
  /** How many history messages the summary covers. */
  readonly summarizedThrough?: number;
}

export const memoryOf = (state: Record<string, unknown>): MemoryState => ({
  ...(typeof state.summary === 'string' ? { summary: state.summary } : {}),
  ...(typeof state.summarizedThrough === 'number' ? { summarizedThrough: state.summarizedThrough } : {}),
});

const asChatMessage = (message: AgentContext['history'][number]): ChatMessage =>
  message.role === 'assistant'
    ? { role: 'assistant', content: message.interrupted ? `${message.text} [the caller interrupted here]` : message.text }
    : { role: 'user', content: message.text };

export interface PromptPlan {
  readonly messages: ChatMessage[];
  /** History messages (oldest first) that fell outside the budget and are not in the summary yet. */
  readonly overflow: AgentContext['history'];
  /** Index into history where the verbatim part starts. */
  readonly verbatimFrom: number;
}

/**
 * The prompt: system prompt, the summary of old turns, as many recent turns as fit the
 * token budget, then the caller's new words. Turns that no longer fit and are not
 * summarised yet are returned as `overflow` for the caller to summarise.
 */
export const planPrompt = (systemPrompt: string, memory: MemoryState, history: AgentContext['history'], userText: string, budgetTokens: number): PromptPlan => {
  const summarized = Math.min(memory.summarizedThrough ?? 0, history.length);
  const system = memory.summary ? `${systemPrompt}\n\nSummary of the conversation so far:\n${memory.summary}` : systemPrompt;
  let used = estimateTokens(system) + estimateTokens(userText);
  let verbatimFrom = history.length;
  while (verbatimFrom > summarized) {
    const cost = estimateTokens((history[verbatimFrom - 1] as { text: string }).text);
    if (used + cost > budgetTokens) break;
    used += cost;
    verbatimFrom -= 1;
  }
  return {
    messages: [{ role: 'system', content: system }, ...history.slice(verbatimFrom).map(asChatMessage), { role: 'user', content: userText }],
    overflow: history.slice(summarized, verbatimFrom),
    verbatimFrom,
  };
};

/** The request that folds overflowing turns into the running summary. */
export const summaryRequest = (previous: string | undefined, overflow: AgentContext['history']): ChatMessage[] => [
  {
    role: 'system',
    content:
      'You maintain the memory of a phone conversation. Merge the earlier summary and the new turns into one short summary ' +
      '(at most 120 words) keeping names, numbers, dates, decisions and open questions. Reply with the summary only.',
  },
  {
    role: 'user',
    content: `${previous ? `Earlier summary:\n${previous}\n\n` : ''}New turns:\n${overflow.map((message) => `${message.role === 'user' ? 'Caller' : 'Agent'}: ${message.text}`).join('\n')}`,
  },
];
