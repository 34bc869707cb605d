import { useEffect, useState } from 'preact/hooks';
import { TableHead } from '../table-head.js';
import { api } from '../api.js';

interface AuditEvent {
  readonly id: number;
  readonly occurredAt: string;
  readonly action: string;
  readonly outcome: 'success' | 'failure';
  readonly actor: string;
  readonly target: string | null;
  readonly ip: string | null;
  readonly details: Readonly<Record<string, unknown>> | null;
}
interface AuditPage {
  readonly events: readonly AuditEvent[];
  readonly nextCursor: number | null;
}
interface Filters {
  readonly action: string;
  readonly actor: string;
  readonly outcome: '' | 'success' | 'failure';
}

const PAGE_SIZE = 50;

const queryOf = (filters: Filters, cursor?: number): string => {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (filters.action.trim()) query.set('action', filters.action.trim());
  if (filters.actor.trim()) query.set('actor', filters.actor.trim());
  if (filters.outcome) query.set('outcome', filters.outcome);
  if (cursor !== undefined) query.set('cursor', String(cursor));
  return query.toString();
};

const detailsText = (details: AuditEvent['details']): string => (details ? Object.entries(details).map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`).join(', ') : '');

/** Audit: the audit log, newest first, filtered by action (exact or a family such as `auth.*`), actor and outcome, a page at a time. */
export const AuditPage = () => {
  const [draft, setDraft] = useState<Filters>({ action: '', actor: '', outcome: '' });
  const [filters, setFilters] = useState<Filters>(draft);
  const [events, setEvents] = useState<readonly AuditEvent[]>([]);
  const [nextCursor, setNextCursor] = useState<number | null>(null);
  const [error, setError] = useState<string | undefined>();
  const [loading, setLoading] = useState(false);

  const load = async (applied: Filters, cursor?: number) => {
    setLoading(true);
    try {
      const page = await api<AuditPage>('GET', `/v1/admin/audit?${queryOf(applied, cursor)}`);
      setEvents((shown) => (cursor === undefined ? page.events : [...shown, ...page.events]));
      setNextCursor(page.nextCursor);
      setError(undefined);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void load(filters);
  }, [filters]);

  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      <form
        class="filters"
        aria-label="Filter the audit log"
        onSubmit={(event) => {
          event.preventDefault();
          setFilters({ ...draft });
        }}
      >
        <label>
          Action
          <input value={draft.action} placeholder="auth.* or key.created" onInput={(event) => setDraft({ ...draft, action: event.currentTarget.value })} />
        </label>
        <label>
          Actor
          <input value={draft.actor} placeholder="admin:alice, key:…" onInput={(event) => setDraft({ ...draft, actor: event.currentTarget.value })} />
        </label>
        <label>
          Outcome
          <select value={draft.outcome} onChange={(event) => setDraft({ ...draft, outcome: event.currentTarget.value as Filters['outcome'] })}>
            <option value="">any</option>
            <option value="success">success</option>
            <option value="failure">failure</option>
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      <table>
        <caption>Audit events ({events.length} shown)</caption>
        <TableHead columns={['When', 'Action', 'Outcome', 'Actor', 'Target', 'Address', 'Details']} />
        <tbody>
          {events.map((event) => (
            <tr key={event.id}>
              <td>
                <time dateTime={event.occurredAt}>{new Date(event.occurredAt).toLocaleString()}</time>
              </td>
              <td>{event.action}</td>
              <td class={event.outcome === 'success' ? 'ok' : 'bad'}>{event.outcome}</td>
              <td>{event.actor}</td>
              <td>{event.target ?? ''}</td>
              <td>{event.ip ?? ''}</td>
              <td>{detailsText(event.details)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!loading && events.length === 0 && !error && <p class="notice">No events match.</p>}
      {nextCursor !== null && (
        <button type="button" disabled={loading} onClick={() => void load(filters, nextCursor)}>
          Older events
        </button>
      )}
    </section>
  );
};
