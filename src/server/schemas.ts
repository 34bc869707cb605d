import { Type, type Static } from 'typebox';

/** Shapes shared by several routes; also the OpenAPI components. */
export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code, e.g. not_found, invalid_request.' }),
      message: Type.String({ description: 'Human-readable explanation.' }),
    }),
  },
  { description: 'Every error has this shape.' },
);

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, ErrorResponse])) as Record<number, typeof ErrorResponse>;

export const ConversationId = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'Conversation id (UUID).',
});

const NullableInteger = Type.Union([Type.Integer(), Type.Null()]);

export const MessageView = Type.Object({
  id: Type.String(),
  seq: Type.Integer({ description: 'Position in the conversation, from 1.' }),
  role: Type.Union([Type.Literal('user'), Type.Literal('assistant')]),
  text: Type.String(),
  source: Type.Union([Type.Literal('text'), Type.Literal('voice')]),
  interrupted: Type.Boolean({ description: 'The reply was cut short by the caller; text is what was actually played.' }),
  createdAt: Type.String({ format: 'date-time' }),
  metrics: Type.Object({
    sttLatencyMs: NullableInteger,
    agentLatencyMs: NullableInteger,
    ttsFirstAudioMs: NullableInteger,
    voiceToVoiceMs: NullableInteger,
    llmModel: Type.Union([Type.String(), Type.Null()], { description: 'LLM replies: the model@provider that answered.' }),
    llmFirstTokenMs: NullableInteger,
    promptTokens: NullableInteger,
    completionTokens: NullableInteger,
  }),
});

export const Expectation = Type.Union(
  [
    Type.Object({
      type: Type.String({ description: 'yesno, number, date, choice or text.' }),
      options: Type.Optional(Type.Array(Type.String())),
      min: Type.Optional(Type.Number()),
      max: Type.Optional(Type.Number()),
    }),
    Type.Null(),
  ],
  { description: 'What the agent expects next (for clients and speech recognition), or null.' },
);

export const ConversationSummary = Type.Object({
  id: ConversationId,
  agent: Type.String(),
  tenant: Type.String({ description: 'The tenant of the credential that started it; only that tenant and admins can reach it.' }),
  status: Type.String({ description: '`active`, or how the conversation ended (e.g. completed, declined).' }),
  messageCount: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

export const ConversationView = Type.Object({
  ...ConversationSummary.properties,
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'Structured answers collected by the agent.' }),
  messages: Type.Array(MessageView),
});

export type MessageViewType = Static<typeof MessageView>;
