import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { ConversationRow, HarkenDatabase, MessageRow, MessagesTable } from './tables.js';

export type JsonObject = { [key: string]: unknown };

export interface Conversation {
  readonly id: string;
  readonly agent: string;
  /** Who may see it: the tenant of the credential that created it. */
  readonly tenant: string;
  readonly status: string;
  readonly state: JsonObject;
  readonly data: JsonObject;
  readonly version: number;
  readonly messageCount: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** Per-stage timings of one turn; all optional because a typed turn has no speech stages. */
export interface TurnMetrics {
  readonly sttLatencyMs?: number | null;
  readonly agentLatencyMs?: number | null;
  readonly ttsFirstAudioMs?: number | null;
  readonly voiceToVoiceMs?: number | null;
  /** LLM agents: `model@provider` that answered, time to first token, token usage. */
  readonly llmModel?: string | null;
  readonly llmFirstTokenMs?: number | null;
  readonly promptTokens?: number | null;
  readonly completionTokens?: number | null;
  /** Caller turns: the pause that ended the turn, and the rule that chose it (`complete_answer`, `incomplete`, `default`, `fixed`). */
  readonly endOfTurnMs?: number | null;
  readonly endOfTurnRule?: string | null;
}

export interface Message {
  readonly id: string;
  readonly seq: number;
  readonly role: MessagesTable['role'];
  readonly text: string;
  readonly source: MessagesTable['source'];
  readonly interrupted: boolean;
  readonly createdAt: string;
  readonly metrics: TurnMetrics;
}

export interface NewMessage {
  /** Chosen by the caller when it announced the message before storing it (a session's item and reply ids); else a new UUID. */
  readonly id?: string;
  readonly role: MessagesTable['role'];
  readonly text: string;
  readonly source: MessagesTable['source'];
  readonly interrupted?: boolean;
  readonly metrics?: TurnMetrics;
}

export interface ConversationChange {
  readonly status: string;
  readonly state: JsonObject;
  readonly data: JsonObject;
}

/** Another writer changed the conversation between our read and our write. */
export class ConcurrentUpdateError extends Error {
  constructor(readonly conversationId: string) {
    super(`conversation ${conversationId} was changed concurrently`);
    this.name = 'ConcurrentUpdateError';
  }
}

const parseJsonObject = (text: string): JsonObject => {
  const value: unknown = JSON.parse(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : {};
};

const toConversation = (row: ConversationRow): Conversation => ({
  id: row.id,
  agent: row.agent,
  tenant: row.tenant,
  status: row.status,
  state: parseJsonObject(row.state),
  data: parseJsonObject(row.data),
  version: row.version,
  messageCount: row.message_count,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toMessage = (row: MessageRow): Message => ({
  id: row.id,
  seq: row.seq,
  role: row.role,
  text: row.text,
  source: row.source,
  interrupted: row.interrupted === 1,
  createdAt: row.created_at,
  metrics: {
    sttLatencyMs: row.stt_latency_ms,
    agentLatencyMs: row.agent_latency_ms,
    ttsFirstAudioMs: row.tts_first_audio_ms,
    voiceToVoiceMs: row.voice_to_voice_ms,
    llmModel: row.llm_model,
    llmFirstTokenMs: row.llm_first_token_ms,
    promptTokens: row.prompt_tokens,
    completionTokens: row.completion_tokens,
    endOfTurnMs: row.end_of_turn_ms,
    endOfTurnRule: row.end_of_turn_rule,
  },
});

export interface ListOptions {
  readonly limit: number;
  /** Return conversations updated before this cursor (from a previous page). */
  readonly before?: { updatedAt: string; id: string };
  /** Only this tenant's conversations. */
  readonly tenant?: string;
  readonly agent?: string;
  readonly status?: string;
  /** Created at or after / before these instants (ISO 8601). */
  readonly createdFrom?: string;
  readonly createdBefore?: string;
  /** Some message contains this text (case-insensitive for ASCII, as SQLite's LIKE). */
  readonly text?: string;
}

/** A LIKE pattern matching `text` anywhere, its own % and _ taken literally. */
const containsPattern = (text: string): string => `%${text.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;

/** Conversations and their messages. Every write of a turn is one transaction. */
export class ConversationRepository {
  constructor(private readonly db: Kysely<HarkenDatabase>, private readonly now: () => Date = () => new Date()) {}

  async create(input: { agent: string; tenant: string } & ConversationChange, messages: readonly NewMessage[]): Promise<Conversation> {
    const id = randomUUID();
    const timestamp = this.now().toISOString();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('conversations')
        .values({
          id,
          agent: input.agent,
          tenant: input.tenant,
          status: input.status,
          state: JSON.stringify(input.state),
          data: JSON.stringify(input.data),
          version: 0,
          message_count: messages.length,
          created_at: timestamp,
          updated_at: timestamp,
        })
        .execute();
      await this.insertMessages(trx, id, 0, messages, timestamp);
    });
    return (await this.find(id)) as Conversation;
  }

  async find(id: string): Promise<Conversation | undefined> {
    const row = await this.db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toConversation(row) : undefined;
  }

  async messages(conversationId: string): Promise<Message[]> {
    const rows = await this.db
      .selectFrom('messages')
      .selectAll()
      .where('conversation_id', '=', conversationId)
      .orderBy('seq')
      .execute();
    return rows.map(toMessage);
  }

  async list(options: ListOptions): Promise<Conversation[]> {
    let query = this.db.selectFrom('conversations').selectAll();
    if (options.tenant !== undefined) query = query.where('tenant', '=', options.tenant);
    if (options.agent !== undefined) query = query.where('agent', '=', options.agent);
    if (options.status !== undefined) query = query.where('status', '=', options.status);
    if (options.createdFrom !== undefined) query = query.where('created_at', '>=', options.createdFrom);
    if (options.createdBefore !== undefined) query = query.where('created_at', '<', options.createdBefore);
    const text = options.text;
    if (text !== undefined) {
      query = query.where(({ exists, selectFrom }) =>
        exists(selectFrom('messages').select('messages.id').whereRef('messages.conversation_id', '=', 'conversations.id').where(sql<boolean>`messages.text like ${containsPattern(text)} escape '\\'`)),
      );
    }
    const before = options.before;
    if (before) {
      query = query.where((eb) =>
        eb.or([eb('updated_at', '<', before.updatedAt), eb.and([eb('updated_at', '=', before.updatedAt), eb('id', '<', before.id)])]),
      );
    }
    const rows = await query.orderBy('updated_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
    return rows.map(toConversation);
  }

  /** Erases a conversation with its messages and answers; false when there was none. */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('messages').where('conversation_id', '=', id).execute();
      const result = await trx.deleteFrom('conversations').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  /** Erases conversations last updated before the cutoff, with their messages; returns how many. */
  async purgeUpdatedBefore(cutoff: Date): Promise<number> {
    const iso = cutoff.toISOString();
    return this.db.transaction().execute(async (trx) => {
      const old = trx.selectFrom('conversations').select('id').where('updated_at', '<', iso);
      await trx.deleteFrom('messages').where('conversation_id', 'in', old).execute();
      const result = await trx.deleteFrom('conversations').where('updated_at', '<', iso).executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  /**
   * Appends a turn's messages and the agent's new state atomically. `expectedVersion`
   * is the version the caller read; a different current version means another writer won.
   */
  async appendTurn(conversation: Conversation, change: ConversationChange, messages: readonly NewMessage[]): Promise<Conversation> {
    const timestamp = this.now().toISOString();
    await this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('conversations')
        .set({
          status: change.status,
          state: JSON.stringify(change.state),
          data: JSON.stringify(change.data),
          version: conversation.version + 1,
          message_count: conversation.messageCount + messages.length,
          updated_at: timestamp,
        })
        .where('id', '=', conversation.id)
        .where('version', '=', conversation.version)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw new ConcurrentUpdateError(conversation.id);
      await this.insertMessages(trx, conversation.id, conversation.messageCount, messages, timestamp);
    });
    return (await this.find(conversation.id)) as Conversation;
  }

  /**
   * After a spoken reply has played (or been cut off): keep only the text the caller
   * actually heard, flag the interruption, and add the speech timings.
   */
  async recordPlayback(messageId: string, playback: { text: string; interrupted: boolean; metrics: TurnMetrics }): Promise<void> {
    await this.db
      .updateTable('messages')
      .set({
        text: playback.text,
        interrupted: playback.interrupted ? 1 : 0,
        ...(playback.metrics.ttsFirstAudioMs != null ? { tts_first_audio_ms: Math.round(playback.metrics.ttsFirstAudioMs) } : {}),
        ...(playback.metrics.voiceToVoiceMs != null ? { voice_to_voice_ms: Math.round(playback.metrics.voiceToVoiceMs) } : {}),
      })
      .where('id', '=', messageId)
      .where('role', '=', 'assistant')
      .execute();
  }

  private async insertMessages(
    trx: Kysely<HarkenDatabase>,
    conversationId: string,
    previousCount: number,
    messages: readonly NewMessage[],
    timestamp: string,
  ): Promise<void> {
    if (messages.length === 0) return;
    await trx
      .insertInto('messages')
      .values(
        messages.map((message, index) => ({
          id: message.id ?? randomUUID(),
          conversation_id: conversationId,
          seq: previousCount + index + 1,
          role: message.role,
          text: message.text,
          source: message.source,
          created_at: timestamp,
          interrupted: message.interrupted ? 1 : 0,
          stt_latency_ms: message.metrics?.sttLatencyMs ?? null,
          agent_latency_ms: message.metrics?.agentLatencyMs ?? null,
          tts_first_audio_ms: message.metrics?.ttsFirstAudioMs ?? null,
          voice_to_voice_ms: message.metrics?.voiceToVoiceMs ?? null,
          llm_model: message.metrics?.llmModel ?? null,
          llm_first_token_ms: message.metrics?.llmFirstTokenMs ?? null,
          prompt_tokens: message.metrics?.promptTokens ?? null,
          completion_tokens: message.metrics?.completionTokens ?? null,
          end_of_turn_ms: message.metrics?.endOfTurnMs ?? null,
          end_of_turn_rule: message.metrics?.endOfTurnRule ?? null,
        })),
      )
      .execute();
  }
}
