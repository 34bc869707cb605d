import { performance } from 'node:perf_hooks';
import { collectReply, type Agent, type AgentOverrides, type AgentTurnResult, type AnswerExpectation, type FunctionCall, type FunctionOutput } from '../agents/agent.js';
import type { AgentRegistry } from '../agents/registry.js';
import { badRequest, conflict, HarkenError, notFound } from '../errors.js';
import {
  ConcurrentUpdateError,
  type Conversation,
  type ConversationRepository,
  type ListOptions,
  type Message,
  type NewMessage,
  type TurnMetrics,
} from '../store/conversations.js';
import { scopeAllows, type TenantScope } from '../security/tenants.js';
import { KeyedMutex } from './keyed-mutex.js';

export const ACTIVE = 'active';

export interface ConversationLimits {
  readonly maxMessageChars: number;
  readonly maxMessages: number;
}

export interface TurnOutcome {
  readonly conversation: Conversation;
  readonly reply: Message | undefined;
  readonly expect: AnswerExpectation | undefined;
  /** Client functions the agent called: the client runs them and answers in the next turn. */
  readonly functionCalls?: readonly FunctionCall[];
}

export interface UserTurn {
  /** Ids announced to the transport before the turn is stored (the session's item and reply ids). */
  readonly id?: string;
  readonly replyId?: string;
  readonly text: string;
  readonly source?: NewMessage['source'];
  /** Timings measured by the transport (speech stages); the agent stage is measured here. */
  readonly metrics?: TurnMetrics;
  /**
   * Already stored with recordUtterance (id `id`): a voice session keeps the caller's words
   * before it announces them, so a crash after the announcement loses nothing. Only the reply is added.
   */
  readonly stored?: boolean;
  /**
   * The client's outputs of the functions the previous turn called. With them `text` may be
   * empty: the agent goes on from the outputs, and no user message is stored.
   */
  readonly functionOutputs?: readonly FunctionOutput[];
}

/**
 * Runs conversations: asks the agent, persists each turn atomically with the
 * agent's new state, and keeps turns of one conversation strictly in order.
 */
export class ConversationService {
  private readonly turns = new KeyedMutex();

  constructor(
    private readonly repository: ConversationRepository,
    private readonly agents: AgentRegistry,
    private readonly limits: ConversationLimits,
  ) {}

  /** Starts a conversation owned by `tenant`. */
  async start(agentName: string | undefined, tenant: string): Promise<TurnOutcome> {
    const agent = this.agentNamed(agentName ?? this.agents.defaultAgent);
    const started = performance.now();
    const { text, result } = await collectReply(agent.name, agent.begin({ conversationId: '', state: {}, data: {}, history: [], signal: new AbortController().signal }));
    const greeting = this.assistantMessage(text, performance.now() - started, 'text', result.metrics);
    const conversation = await this.repository.create({ agent: agent.name, tenant, ...this.change(result) }, greeting ? [greeting] : []);
    const messages = await this.repository.messages(conversation.id);
    return { conversation, reply: messages.at(-1), expect: result.expect };
  }

  /**
   * A conversation that is one message and already over (a voicemail left by an outbound call):
   * the agent is named but not asked, and the conversation ends with `status`.
   */
  async startWithMessage(agentName: string | undefined, tenant: string, text: string, status: string): Promise<TurnOutcome> {
    const agent = this.agentNamed(agentName ?? this.agents.defaultAgent);
    const message = this.checkedText(text);
    const conversation = await this.repository.create({ agent: agent.name, tenant, status, state: {}, data: {} }, [{ role: 'assistant', text: message, source: 'voice' }]);
    const messages = await this.repository.messages(conversation.id);
    return { conversation, reply: messages.at(-1), expect: undefined };
  }

  /** Another tenant's conversation is answered exactly like one that does not exist. */
  async get(id: string, scope: TenantScope): Promise<{ conversation: Conversation; messages: Message[] }> {
    const conversation = await this.owned(id, scope);
    return { conversation, messages: await this.repository.messages(id) };
  }

  /** `tenant` filters further; a caller bound to one tenant never sees another's. */
  async list(scope: TenantScope, options: ListOptions): Promise<Conversation[]> {
    const tenant = 'tenant' in scope ? scope.tenant : options.tenant;
    if ('tenant' in scope && options.tenant !== undefined && options.tenant !== scope.tenant) return [];
    return this.repository.list({ ...options, tenant });
  }

  /** Erases the conversation, its messages and its answers. */
  async delete(id: string, scope: TenantScope): Promise<Conversation> {
    return this.turns.run(id, async () => {
      const conversation = await this.owned(id, scope);
      await this.repository.delete(id);
      return conversation;
    });
  }

  async purgeOlderThan(days: number, now = new Date()): Promise<number> {
    return this.repository.purgeUpdatedBefore(new Date(now.getTime() - days * 86_400_000));
  }

  /**
   * Sends the user's turn to the conversation's agent and stores both sides of the exchange.
   * `onText` receives the reply as the agent produces it, so speech can start before it ends.
   */
  async send(
    id: string,
    turn: UserTurn,
    options: { scope: TenantScope; signal?: AbortSignal; onText?: (delta: string) => void; overrides?: AgentOverrides },
  ): Promise<TurnOutcome> {
    const signal = options.signal ?? new AbortController().signal;
    const outputs = turn.functionOutputs ?? [];
    const text = outputs.length > 0 && turn.text.trim() === '' ? '' : this.checkedText(turn.text);
    const storesUser = !turn.stored && text !== '';
    return this.turns.run(id, async () => {
      const { conversation, messages: stored } = await this.openForTurn(id, options.scope, storesUser ? 2 : 1);
      // The agent gets the turn as `text`, not twice.
      const messages = turn.stored ? stored.filter((message) => message.id !== turn.id) : stored;
      const agent = this.agents.get(conversation.agent);
      if (!agent) {
        throw conflict('agent_unavailable', `this conversation's agent "${conversation.agent}" is no longer configured on this server`);
      }
      const started = performance.now();
      const { text: replyText, result, calls } = await collectReply(
        agent.name,
        agent.respond(
          {
            conversationId: id,
            state: conversation.state,
            data: conversation.data,
            history: messages,
            signal,
            ...(options.overrides ? { overrides: options.overrides } : {}),
            ...(outputs.length > 0 ? { functionOutputs: outputs } : {}),
          },
          text,
        ),
        options.onText,
      );
      const userMessage = this.userMessage(turn, text);
      const reply = this.assistantMessage(replyText, performance.now() - started, turn.source ?? 'text', { ...turn.metrics, ...result.metrics }, turn.replyId);
      try {
        const added = storesUser ? [userMessage] : [];
        const updated = await this.repository.appendTurn(conversation, this.change(result), reply ? [...added, reply] : added);
        const stored = await this.repository.messages(id);
        return { conversation: updated, reply: reply ? stored.at(-1) : undefined, expect: result.expect, ...(calls.length > 0 ? { functionCalls: calls } : {}) };
      } catch (error) {
        if (error instanceof ConcurrentUpdateError) {
          throw conflict('conversation_busy', 'another turn of this conversation was stored at the same time; retry');
        }
        throw error;
      }
    });
  }

  /**
   * Ends a conversation the agent did not end (the caller stopped answering): `text` is stored as
   * the agent's last words, the status set, and the reason kept in its data (`endReason`).
   */
  async endWithMessage(id: string, text: string, status: string, reason: string, scope: TenantScope): Promise<TurnOutcome> {
    const message = this.checkedText(text);
    return this.turns.run(id, async () => {
      const { conversation } = await this.openForTurn(id, scope, 1);
      const updated = await this.repository.appendTurn(conversation, { status, state: conversation.state, data: { ...conversation.data, endReason: reason } }, [{ role: 'assistant', text: message, source: 'voice' }]);
      const messages = await this.repository.messages(id);
      return { conversation: updated, reply: messages.at(-1), expect: undefined };
    });
  }

  /**
   * Stores what the caller said without asking the agent: their last words when they hang up
   * before the reply, so nothing said is lost. The agent's state is left as it was.
   */
  async recordUtterance(id: string, turn: UserTurn, scope: TenantScope): Promise<void> {
    const text = this.checkedText(turn.text);
    await this.turns.run(id, async () => {
      const { conversation } = await this.openForTurn(id, scope, 1);
      await this.repository.appendTurn(conversation, { status: conversation.status, state: conversation.state, data: conversation.data }, [this.userMessage(turn, text)]);
    });
  }

  async recordPlayback(messageId: string, playback: { text: string; interrupted: boolean; metrics: TurnMetrics }): Promise<void> {
    await this.repository.recordPlayback(messageId, playback);
  }

  private checkedText(raw: string): string {
    const text = raw.trim();
    if (text.length === 0) throw badRequest('empty_message', 'text must contain something other than whitespace');
    if (text.length > this.limits.maxMessageChars) {
      throw badRequest('message_too_long', `text is longer than ${this.limits.maxMessageChars} characters`);
    }
    return text;
  }

  /** The conversation, when it can take `adding` more messages. */
  private async openForTurn(id: string, scope: TenantScope, adding: number): Promise<{ conversation: Conversation; messages: Message[] }> {
    const found = await this.get(id, scope);
    if (found.conversation.status !== ACTIVE) {
      throw conflict('conversation_ended', `conversation has ended (status ${found.conversation.status}); start a new one`);
    }
    if (found.conversation.messageCount + adding > this.limits.maxMessages) {
      throw conflict('conversation_full', `conversation reached its limit of ${this.limits.maxMessages} messages; start a new one`);
    }
    return found;
  }

  private userMessage(turn: UserTurn, text: string): NewMessage {
    const metrics = turn.metrics;
    return {
      ...(turn.id ? { id: turn.id } : {}),
      role: 'user',
      text,
      source: turn.source ?? 'text',
      metrics: { sttLatencyMs: metrics?.sttLatencyMs ?? null, ...(metrics?.endOfTurnMs != null ? { endOfTurnMs: metrics.endOfTurnMs, endOfTurnRule: metrics.endOfTurnRule ?? null } : {}) },
    };
  }

  private async owned(id: string, scope: TenantScope): Promise<Conversation> {
    const conversation = await this.repository.find(id);
    if (!conversation || !scopeAllows(scope, conversation.tenant)) throw notFound('conversation');
    return conversation;
  }

  private agentNamed(name: string): Agent {
    const agent = this.agents.get(name);
    if (!agent) {
      throw new HarkenError(400, 'unknown_agent', `no agent named "${name}"; available: ${this.agents.names().join(', ')}`);
    }
    return agent;
  }

  private change(result: AgentTurnResult): { status: string; state: AgentTurnResult['state']; data: AgentTurnResult['data'] } {
    return { status: result.status, state: result.state, data: result.data };
  }

  private assistantMessage(text: string, agentMs: number, source: NewMessage['source'], metrics?: TurnMetrics, id?: string): NewMessage | undefined {
    if (text.length === 0) return undefined;
    return { ...(id ? { id } : {}), role: 'assistant', text, source, metrics: { ...metrics, sttLatencyMs: null, agentLatencyMs: Math.round(agentMs) } };
  }
}
