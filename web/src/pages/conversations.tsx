import { useEffect, useState } from 'preact/hooks';
import { TableHead } from '../table-head.js';
import { api, ApiError } from '../api.js';

interface Summary {
  readonly id: string;
  readonly agent: string;
  readonly tenant: string;
  readonly status: string;
  readonly messageCount: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}
interface Metrics {
  readonly sttLatencyMs: number | null;
  readonly agentLatencyMs: number | null;
  readonly ttsFirstAudioMs: number | null;
  readonly voiceToVoiceMs: number | null;
  readonly llmModel: string | null;
  readonly promptTokens: number | null;
  readonly completionTokens: number | null;
}
interface Message {
  readonly id: string;
  readonly seq: number;
  readonly role: string;
  readonly text: string;
  readonly source: string;
  readonly interrupted: boolean;
  readonly createdAt: string;
  readonly metrics: Metrics;
}
interface Detail extends Summary {
  readonly data: Readonly<Record<string, unknown>>;
  readonly messages: readonly Message[];
}
interface Filters {
  readonly q: string;
  readonly agent: string;
  readonly status: string;
  readonly from: string;
  readonly to: string;
}

const PAGE_SIZE = 25;
const when = (iso: string): string => new Date(iso).toLocaleString();
const messageOf = (failure: unknown): string => (failure instanceof ApiError || failure instanceof Error ? failure.message : String(failure));

const queryOf = (filters: Filters, cursor?: string): string => {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (filters.q.trim()) query.set('q', filters.q.trim());
  if (filters.agent) query.set('agent', filters.agent);
  if (filters.status.trim()) query.set('status', filters.status.trim());
  // Dates are the admin's local days.
  if (filters.from) query.set('from', new Date(`${filters.from}T00:00:00`).toISOString());
  if (filters.to) query.set('to', new Date(new Date(`${filters.to}T00:00:00`).getTime() + 86_400_000).toISOString());
  if (cursor) query.set('cursor', cursor);
  return query.toString();
};

/** A turn's timings and token use, where it has any. */
const timingText = (metrics: Metrics): string =>
  [
    metrics.sttLatencyMs !== null ? `transcript ${metrics.sttLatencyMs} ms` : '',
    metrics.agentLatencyMs !== null ? `agent ${metrics.agentLatencyMs} ms` : '',
    metrics.ttsFirstAudioMs !== null ? `first audio ${metrics.ttsFirstAudioMs} ms` : '',
    metrics.voiceToVoiceMs !== null ? `voice to voice ${metrics.voiceToVoiceMs} ms` : '',
    metrics.llmModel ? `${metrics.llmModel}` : '',
    metrics.promptTokens !== null || metrics.completionTokens !== null ? `${metrics.promptTokens ?? 0} + ${metrics.completionTokens ?? 0} tokens` : '',
  ]
    .filter(Boolean)
    .join(', ');

const answerText = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

const Transcript = ({ id, onClose, onDeleted }: { id: string; onClose: () => void; onDeleted: () => void }) => {
  const [detail, setDetail] = useState<Detail | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [confirming, setConfirming] = useState(false);
  useEffect(() => {
    api<Detail>('GET', `/v1/conversations/${id}`).then(setDetail, (failure: unknown) => setError(messageOf(failure)));
  }, [id]);

  const erase = async () => {
    try {
      await api('DELETE', `/v1/conversations/${id}`);
      onDeleted();
    } catch (failure) {
      setError(messageOf(failure));
    }
  };

  return (
    <section aria-labelledby="transcript-title">
      <h2 id="transcript-title">Conversation {detail ? `with ${detail.agent}, ${when(detail.createdAt)}` : ''}</h2>
      <button type="button" class="link" onClick={onClose}>
        Back to the list
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {detail && (
        <>
          <p>
            Status <strong>{detail.status}</strong>, tenant {detail.tenant}, {detail.messageCount} messages.{' '}
            <a href={`/v1/conversations/${id}/export?format=json`} download>
              Export JSON
            </a>{' '}
            <a href={`/v1/conversations/${id}/export?format=csv`} download>
              Export CSV
            </a>
          </p>
          {Object.keys(detail.data).length > 0 && (
            <table>
              <caption>Answers</caption>
              <tbody>
                {Object.entries(detail.data).map(([name, value]) => (
                  <tr key={name}>
                    <th scope="row">{name}</th>
                    <td>{answerText(value)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <ol class="turns" aria-label="Transcript">
            {detail.messages.map((message) => (
              <li key={message.id}>
                <p>
                  <strong>{message.role === 'user' ? 'Caller' : message.role === 'assistant' ? 'Agent' : message.role}</strong>{' '}
                  <span class="notice">
                    ({message.source}, {new Date(message.createdAt).toLocaleTimeString()})
                  </span>
                  : <span>{message.text}</span>
                  {message.interrupted && <span class="bad"> — cut off here: the caller spoke over the rest</span>}
                </p>
                {timingText(message.metrics) && <p class="timing">{timingText(message.metrics)}</p>}
              </li>
            ))}
          </ol>
          {confirming ? (
            <p>
              Erase this conversation, its messages and answers for good?{' '}
              <button type="button" class="danger" onClick={() => void erase()}>
                Erase it
              </button>{' '}
              <button type="button" class="link" onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </p>
          ) : (
            <button type="button" class="link" onClick={() => setConfirming(true)}>
              Delete this conversation
            </button>
          )}
        </>
      )}
    </section>
  );
};

/**
 * Conversations: stored conversations, searched by text and filtered by agent, status and day,
 * a page at a time; one opens as its transcript with the questionnaire's answers, where replies
 * were cut, per-turn timings and token use, exports and delete.
 */
export const ConversationsPage = () => {
  const empty: Filters = { q: '', agent: '', status: '', from: '', to: '' };
  const [draft, setDraft] = useState<Filters>(empty);
  const [filters, setFilters] = useState<Filters>(empty);
  const [agents, setAgents] = useState<readonly string[]>([]);
  const [rows, setRows] = useState<readonly Summary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [open, setOpen] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();

  const load = async (more?: string) => {
    try {
      const page = await api<{ conversations: Summary[]; nextCursor: string | null }>('GET', `/v1/conversations?${queryOf(filters, more)}`);
      setRows((current) => (more ? [...current, ...page.conversations] : page.conversations));
      setCursor(page.nextCursor);
      setError(undefined);
    } catch (failure) {
      setError(messageOf(failure));
    }
  };
  useEffect(() => void load(), [filters]);
  useEffect(() => {
    api<{ agents: Array<{ name: string }> }>('GET', '/v1/agents').then(({ agents: list }) => setAgents(list.map((agent) => agent.name)), () => undefined);
  }, []);

  if (open)
    return (
      <Transcript
        id={open}
        onClose={() => setOpen(undefined)}
        onDeleted={() => {
          setOpen(undefined);
          setNotice('The conversation was erased.');
          void load();
        }}
      />
    );

  const field = (name: keyof Filters) => (event: Event) => setDraft({ ...draft, [name]: (event.target as HTMLInputElement).value });
  return (
    <section aria-labelledby="conversations-title">
      <h2 id="conversations-title">Conversations</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <p role="status" aria-live="polite">
        {notice}
      </p>
      <form
        class="filters"
        onSubmit={(event) => {
          event.preventDefault();
          setNotice(undefined);
          setFilters(draft);
        }}
      >
        <label>
          Said in it
          <input type="search" maxLength={100} value={draft.q} onInput={field('q')} />
        </label>
        <label>
          Agent
          <select value={draft.agent} onChange={field('agent')}>
            <option value="">any</option>
            {agents.map((agent) => (
              <option key={agent} value={agent}>
                {agent}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <input list="conversation-statuses" value={draft.status} onInput={field('status')} />
          <datalist id="conversation-statuses">
            {['active', 'completed', 'declined', 'needs_staff', 'abandoned', 'transferred', 'voicemail'].map((status) => (
              <option key={status} value={status} />
            ))}
          </datalist>
        </label>
        <label>
          From (day)
          <input type="date" value={draft.from} onInput={field('from')} />
        </label>
        <label>
          To (day)
          <input type="date" value={draft.to} onInput={field('to')} />
        </label>
        <button type="submit">Search</button>
      </form>
      <table>
        <caption>Stored conversations, most recent first</caption>
        <TableHead columns={['Last change', 'Agent', 'Tenant', 'Status', 'Messages']} actions="Open" />
        <tbody>
          {rows.map((row) => (
            <tr key={row.id}>
              <td>{when(row.updatedAt)}</td>
              <td>{row.agent}</td>
              <td>{row.tenant}</td>
              <td>{row.status}</td>
              <td>{row.messageCount}</td>
              <td>
                <button type="button" class="link" onClick={() => setOpen(row.id)}>
                  Open <span class="visually-hidden">the {row.agent} conversation of {when(row.updatedAt)}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && <p class="notice">No conversations match.</p>}
      {cursor && (
        <button type="button" onClick={() => void load(cursor)}>
          Older conversations
        </button>
      )}
    </section>
  );
};
