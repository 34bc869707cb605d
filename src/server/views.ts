import type { Static } from 'typebox';
import type { AnswerExpectation } from '../agents/agent.js';
import type { Conversation, Message } from '../store/conversations.js';
import type { Expectation } from './schemas.js';

/** Store records → API shapes, shared by every route that returns them. */
export const toSummary = (conversation: Conversation) => ({
  id: conversation.id,
  agent: conversation.agent,
  tenant: conversation.tenant,
  status: conversation.status,
  messageCount: conversation.messageCount,
  createdAt: conversation.createdAt,
  updatedAt: conversation.updatedAt,
});

export const toMessageView = (message: Message) => ({
  ...message,
  metrics: {
    sttLatencyMs: message.metrics.sttLatencyMs ?? null,
    agentLatencyMs: message.metrics.agentLatencyMs ?? null,
    ttsFirstAudioMs: message.metrics.ttsFirstAudioMs ?? null,
    voiceToVoiceMs: message.metrics.voiceToVoiceMs ?? null,
    llmModel: message.metrics.llmModel ?? null,
    llmFirstTokenMs: message.metrics.llmFirstTokenMs ?? null,
    promptTokens: message.metrics.promptTokens ?? null,
    completionTokens: message.metrics.completionTokens ?? null,
  },
});

export const toExpectation = (expect: AnswerExpectation | undefined): Static<typeof Expectation> => {
  if (!expect) return null;
  return expect.type === 'choice' ? { type: expect.type, options: [...expect.options] } : { ...expect };
};
