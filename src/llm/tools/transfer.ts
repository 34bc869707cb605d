import type { Tool } from '../tools.js';

/**
 * Hands the caller to a person. Harken records where to and ends the conversation with
 * status `transferred`; the telephony transport (Twilio) performs the actual transfer.
 */
export const transferTool = (targets: Readonly<Record<string, string>>): Tool => ({
  name: 'transfer',
  description: `Transfer the caller to a person. Destinations: ${Object.keys(targets).join(', ')}. Tell the caller you are transferring them.`,
  parameters: {
    type: 'object',
    properties: {
      destination: { type: 'string', enum: Object.keys(targets), description: 'Where to transfer the caller.' },
      reason: { type: 'string' },
    },
    required: ['destination'],
    additionalProperties: false,
  },
  async run(args) {
    const destination = String(args.destination ?? '');
    const target = targets[destination];
    if (!target) return { content: `Unknown destination "${destination}". Choose one of: ${Object.keys(targets).join(', ')}.` };
    return { content: `Transferring to ${destination} after your reply.`, endConversation: 'transferred', data: { transferTo: destination, transferTarget: target } };
  },
});
