/**
 * Realtime protocol v1, client → server. The first message must be `start`;
 * after it, binary frames carry raw PCM s16le mono at the announced rate.
 */
export interface StartMessage {
  readonly type: 'start';
  readonly sampleRate: number;
  readonly encoding: 'pcm_s16le';
  readonly agent?: string;
  readonly conversationId?: string;
}

export type ClientMessage = StartMessage | { readonly type: 'text'; readonly text: string } | { readonly type: 'interrupt' } | { readonly type: 'stop' };

export const MIN_SAMPLE_RATE = 8_000;
export const MAX_SAMPLE_RATE = 48_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const AGENT = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** Close codes; 4xxx mirror HTTP statuses for application conditions. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  /** The server is at realtime.maxSessions. */
  tryAgainLater: 1013,
  /** The credential the session was opened with was revoked, rotated, logged out or expired. */
  credentialsRevoked: 4401,
  conversationNotFound: 4404,
  idleTimeout: 4408,
  conversationEnded: 4409,
  /** This API key, account or client address already has its maximum of concurrent (or not yet started) sessions. */
  callerSessionLimit: 4429,
} as const;

/** The subprotocol of realtime protocol v1; a client offering subprotocols must include it. */
export const PROTOCOL_V1 = 'harken.v1';

export class ProtocolError extends Error {
  constructor(readonly code: string, message: string, readonly closeCode: number = CloseCode.policyViolation) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const parseJson = (text: string): Record<string, unknown> => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError('invalid_json', 'message is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProtocolError('invalid_message', 'message must be a JSON object');
  return value as Record<string, unknown>;
};

/** Validates the first message; every problem is a ProtocolError naming the field. */
export const parseStart = (text: string): StartMessage => {
  const message = parseJson(text);
  if (message.type !== 'start') throw new ProtocolError('expected_start', 'the first message must be {"type":"start",…}');
  const { sampleRate, encoding = 'pcm_s16le', agent, conversationId } = message;
  if (typeof sampleRate !== 'number' || !Number.isInteger(sampleRate) || sampleRate < MIN_SAMPLE_RATE || sampleRate > MAX_SAMPLE_RATE) {
    throw new ProtocolError('unsupported_sample_rate', `sampleRate must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE}`, CloseCode.unsupportedData);
  }
  if (encoding !== 'pcm_s16le') throw new ProtocolError('unsupported_encoding', 'encoding must be "pcm_s16le"', CloseCode.unsupportedData);
  if (agent !== undefined && (typeof agent !== 'string' || !AGENT.test(agent))) throw new ProtocolError('invalid_agent', 'agent must be an agent name');
  if (conversationId !== undefined && (typeof conversationId !== 'string' || !UUID.test(conversationId))) {
    throw new ProtocolError('invalid_conversation_id', 'conversationId must be a conversation id (UUID)');
  }
  return {
    type: 'start',
    sampleRate,
    encoding: 'pcm_s16le',
    ...(agent !== undefined ? { agent: agent as string } : {}),
    ...(conversationId !== undefined ? { conversationId: conversationId as string } : {}),
  };
};

/** Messages after `start`. */
export const parseClientMessage = (text: string): Exclude<ClientMessage, StartMessage> => {
  const message = parseJson(text);
  switch (message.type) {
    case 'text':
      if (typeof message.text !== 'string' || message.text.trim() === '') throw new ProtocolError('invalid_text', 'text must be a non-empty string');
      return { type: 'text', text: message.text };
    case 'interrupt':
      return { type: 'interrupt' };
    case 'stop':
      return { type: 'stop' };
    case 'start':
      throw new ProtocolError('already_started', 'the session has already started');
    default:
      throw new ProtocolError('unknown_message', `unknown message type ${JSON.stringify(message.type)}`);
  }
};
