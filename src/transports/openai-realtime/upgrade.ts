import type { IncomingHttpHeaders } from 'node:http';
import { OPENAI_KEY_SUBPROTOCOL_PREFIX } from '../../server/access-control.js';
import type { Dialect } from './session-config.js';

/** Subprotocols OpenAI's clients offer: `realtime` (GA browsers), `openai-beta.realtime-v1` (beta browsers), and the key carrier. */
export const OPENAI_SUBPROTOCOL = 'realtime';
export const OPENAI_BETA_SUBPROTOCOL = 'openai-beta.realtime-v1';

/** OpenAI's realtime model names (and their dated versions): all served by the default agent. */
const REALTIME_MODEL = /^(gpt-realtime|gpt-4o-realtime-preview|gpt-4o-mini-realtime-preview|gpt-realtime-mini|gpt-audio)(-[\w.-]+)?$/;

export const isOpenAiRealtimeModel = (name: string): boolean => REALTIME_MODEL.test(name);

const offeredProtocols = (headers: IncomingHttpHeaders): string[] =>
  String(headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

/**
 * Which protocol a WebSocket upgrade to /v1/realtime asks for: OpenAI's (a `model` query, an
 * `OpenAI-Beta` header, or one of its subprotocols) or Harken's native v1 (none of those).
 * An OpenAI client is beta when it says `realtime=v1` (header or subprotocol), else GA.
 */
export const realtimeProtocolOf = (headers: IncomingHttpHeaders, query: URLSearchParams): { kind: 'native' } | { kind: 'openai'; dialect: Dialect } => {
  const offered = offeredProtocols(headers);
  const betaHeader = String(headers['openai-beta'] ?? '').includes('realtime=v1');
  const betaProtocol = offered.includes(OPENAI_BETA_SUBPROTOCOL);
  const openai =
    query.has('model') || betaHeader || betaProtocol || offered.includes(OPENAI_SUBPROTOCOL) || offered.some((item) => item.startsWith(OPENAI_KEY_SUBPROTOCOL_PREFIX));
  if (!openai) return { kind: 'native' };
  return { kind: 'openai', dialect: betaHeader || betaProtocol ? 'beta' : 'ga' };
};

/** The subprotocol to answer with: the one the client's protocol names, never a credential. */
export const chooseSubprotocol = (offered: Set<string>, nativeProtocol: string): string | false => {
  if (offered.has(nativeProtocol)) return nativeProtocol;
  if (offered.has(OPENAI_SUBPROTOCOL)) return OPENAI_SUBPROTOCOL;
  if (offered.has(OPENAI_BETA_SUBPROTOCOL)) return OPENAI_BETA_SUBPROTOCOL;
  return false;
};
