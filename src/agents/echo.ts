import type { Agent, AgentContext, AgentEvent } from './agent.js';

/** Repeats what it hears: a diagnostic agent for checking the audio and text paths end to end. */
export const echoAgent: Agent = {
  name: 'echo',
  description: 'Repeats every message back; for diagnostics.',
  async *begin(context: AgentContext): AsyncIterable<AgentEvent> {
    yield { type: 'text', text: 'Echo agent ready. Say something and I will repeat it.' };
    yield { type: 'done', state: context.state, data: context.data, status: 'active' };
  },
  async *respond(context: AgentContext, userText: string): AsyncIterable<AgentEvent> {
    yield { type: 'text', text: `You said: ${userText}` };
    yield { type: 'done', state: context.state, data: context.data, status: 'active', expect: { type: 'text' } };
  },
};
