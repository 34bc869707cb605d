import type { Tool } from '../tools.js';

/** Lets the model end the conversation once the caller is done (the goodbye is spoken first). */
export const endCallTool: Tool = {
  name: 'end_call',
  description: 'End the call when the caller says goodbye or the conversation is complete. Say goodbye in your reply as well.',
  parameters: {
    type: 'object',
    properties: { reason: { type: 'string', description: 'Why the call ends, e.g. "caller said goodbye".' } },
    additionalProperties: false,
  },
  async run(args) {
    return { content: 'The call will end after your reply.', endConversation: 'completed', data: { endReason: typeof args.reason === 'string' ? args.reason : 'ended by agent' } };
  },
};
