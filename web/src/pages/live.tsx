import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';

interface LiveSession {
  readonly id: string;
  readonly channel: string;
  readonly actor: string;
  readonly tenant: string;
  readonly agent: string | null;
  readonly conversationId: string | null;
  readonly startedAt: string;
  readonly state: string;
  readonly seconds: number;
}
interface LiveEvent {
  readonly id: number;
  readonly at: string;
  readonly type: string;
  readonly sessionId?: string;
  readonly actor?: string;
  readonly text?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

const EVENT_TYPES = ['session.started', 'session.ended', 'speech_started', 'transcript', 'reply', 'interrupted', 'conversation_ended', 'error', 'audit'] as const;
const KEPT_EVENTS = 200;

const FAMILIES: Record<string, (event: LiveEvent) => boolean> = {
  everything: () => true,
  'sessions starting and ending': (event) => event.type.startsWith('session.'),
  'turns and interruptions': (event) => ['speech_started', 'transcript', 'reply', 'interrupted', 'conversation_ended'].includes(event.type),
  'security (audit log)': (event) => event.type === 'audit',
  errors: (event) => event.type === 'error' || (event.type === 'audit' && event.details?.outcome === 'failure'),
};

const detail = (event: LiveEvent, name: string): string => String(event.details?.[name] ?? '');

/** One line a person reads. */
const describe = (event: LiveEvent): string => {
  switch (event.type) {
    case 'session.started':
      return `${event.actor ?? ''} started a ${detail(event, 'channel')} session${event.details?.agent ? ` with ${detail(event, 'agent')}` : ''} (tenant ${detail(event, 'tenant')})`;
    case 'session.ended':
      return `Session ended after ${detail(event, 'seconds')} s`;
    case 'speech_started':
      return 'The caller started speaking';
    case 'transcript':
      return `Caller: ${event.text ?? ''}`;
    case 'reply':
      if (!event.text) return `Agent: nothing heard (${detail(event, 'status')})`;
      return `Agent: ${event.text}${detail(event, 'status') === 'completed' ? '' : ` (${detail(event, 'status')})`}`;
    case 'interrupted':
      return event.text ? `The caller spoke over the reply after “${event.text}”` : 'The caller spoke over the reply before any of it was heard';
    case 'conversation_ended':
      return `The conversation ended: ${detail(event, 'status')}`;
    case 'error':
      return `Error ${detail(event, 'code')}: ${detail(event, 'message')}`;
    default:
      return `${detail(event, 'action')} (${detail(event, 'outcome')})${event.actor ? ` by ${event.actor}` : ''}${event.details?.target ? ` on ${detail(event, 'target')}` : ''}`;
  }
};

/**
 * Live: the sessions and calls in progress (agent, tenant, how long, listening / hearing /
 * thinking / speaking) and, as it happens, what goes on: sessions starting and ending, what
 * callers say and agents answer, interruptions, errors and security events — over the admin
 * event feed (Server-Sent Events), filtered by kind or followed for one session.
 */
export const LivePage = () => {
  const [sessions, setSessions] = useState<readonly LiveSession[]>([]);
  const [events, setEvents] = useState<readonly LiveEvent[]>([]);
  const [family, setFamily] = useState('everything');
  const [following, setFollowing] = useState<string | undefined>();
  const [connected, setConnected] = useState(false);

  useEffect(() => {
    let stopped = false;
    const refresh = () =>
      api<{ sessions: LiveSession[] }>('GET', '/v1/admin/sessions').then(
        ({ sessions: list }) => !stopped && setSessions(list),
        () => undefined,
      );
    void refresh();
    const feed = new EventSource('/v1/admin/events');
    feed.onopen = () => setConnected(true);
    // EventSource reconnects by itself; a login that ended shows up on the next API call.
    feed.onerror = () => {
      setConnected(false);
      void refresh();
    };
    const onEvent = (message: MessageEvent<string>) => {
      const event = JSON.parse(message.data) as LiveEvent;
      setEvents((current) => [event, ...current].slice(0, KEPT_EVENTS));
      if (event.type !== 'audit') void refresh();
    };
    for (const type of EVENT_TYPES) feed.addEventListener(type, onEvent);
    // Durations and states between events.
    const timer = setInterval(() => void refresh(), 2_000);
    return () => {
      stopped = true;
      feed.close();
      clearInterval(timer);
    };
  }, []);

  const shown = events.filter((event) => (following ? event.sessionId === following : true) && (FAMILIES[family] ?? FAMILIES.everything!)(event));
  return (
    <section aria-labelledby="live-title">
      <h2 id="live-title">Live</h2>
      <p role="status">{connected ? 'Following events as they happen.' : 'Connecting to the event feed…'}</p>
      <table>
        <caption>Sessions and calls in progress</caption>
        <thead>
          <tr>
            <th scope="col">Who</th>
            <th scope="col">Channel</th>
            <th scope="col">Agent</th>
            <th scope="col">Tenant</th>
            <th scope="col">For</th>
            <th scope="col">Now</th>
            <th scope="col">
              <span class="visually-hidden">Follow</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((session) => (
            <tr key={session.id}>
              <td>{session.actor}</td>
              <td>{session.channel}</td>
              <td>{session.agent ?? '–'}</td>
              <td>{session.tenant}</td>
              <td>{session.seconds} s</td>
              <td>{session.state}</td>
              <td>
                <button type="button" class="link" aria-pressed={following === session.id} onClick={() => setFollowing(following === session.id ? undefined : session.id)}>
                  {following === session.id ? 'Stop following' : 'Follow'} <span class="visually-hidden">{session.actor}’s session</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {sessions.length === 0 && <p class="notice">No sessions in progress.</p>}
      <div class="filters">
        <label>
          Show
          <select value={family} onChange={(event) => setFamily((event.target as HTMLSelectElement).value)}>
            {Object.keys(FAMILIES).map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        {following && (
          <button type="button" class="link" onClick={() => setFollowing(undefined)}>
            Show every session
          </button>
        )}
      </div>
      <ol class="events" aria-label="Events, newest first" aria-live="polite">
        {shown.map((event) => (
          <li key={event.id} class={event.type === 'error' || event.details?.outcome === 'failure' ? 'bad' : undefined}>
            <time dateTime={event.at}>{new Date(event.at).toLocaleTimeString()}</time> {describe(event)}
          </li>
        ))}
      </ol>
    </section>
  );
};
