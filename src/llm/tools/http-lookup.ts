import { createHmac } from 'node:crypto';
import type { Tool } from '../tools.js';

export interface HttpLookupOptions {
  readonly url: string;
  /** Signs each request: header `x-harken-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
  readonly secret: string;
  readonly timeoutMs: number;
  readonly description?: string;
}

/** The signature scheme the receiving service checks (timestamp + body, so replays can be refused). */
export const signLookup = (secret: string, body: string, timestampSeconds: number): string =>
  `t=${timestampSeconds},v1=${createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex')}`;

/**
 * Looks something up in the operator's own system (an appointment, an order) with a signed
 * POST {query, conversationId}; the JSON or text answer goes back to the model.
 */
export const httpLookupTool = (options: HttpLookupOptions): Tool => ({
  name: 'lookup',
  description: options.description ?? 'Look up information in the organisation’s records (appointments, opening hours, orders). Pass a short query.',
  parameters: {
    type: 'object',
    properties: { query: { type: 'string', description: 'What to look up.' } },
    required: ['query'],
    additionalProperties: false,
  },
  async run(args, context) {
    const body = JSON.stringify({ query: String(args.query ?? ''), conversationId: context.conversationId });
    const signature = signLookup(options.secret, body, Math.floor(Date.now() / 1000));
    const signal = AbortSignal.any([context.signal, AbortSignal.timeout(options.timeoutMs)]);
    try {
      const response = await fetch(options.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-harken-signature': signature }, body, signal });
      const text = (await response.text()).slice(0, 4_000);
      if (!response.ok) return { content: `The lookup failed (HTTP ${response.status}). Tell the caller you could not find it right now.` };
      return { content: text };
    } catch (error) {
      if (context.signal.aborted) throw error;
      return { content: `The lookup did not answer (${(error as Error).message}). Tell the caller you could not find it right now.` };
    }
  },
});
