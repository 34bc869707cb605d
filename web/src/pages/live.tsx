import { useEffect, useState } from 'preact/hooks';
import { TableHead } from '../table-head.js';
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

const EVENT_TYPES = ['session.started', 'session.ended', 'speech_started', 'transcript', 'reply', 'timings', 'interrupted', 'conversation_ended', 'error', 'audit'] as const;
const KEPT_EVENTS = 200;

const FEED_TEXT = {
  connecting: 'Connecting to the event feed…',
  open: 'Following events as they happen.',
  closed: 'The event feed is not available (the server may be serving as many as it allows); reload the page to try again.',
} as const;

/** What a session is doing after each kind of event. */
const STATE_AFTER: Readonly<Record<string, string>> = { speech_started: 'hearing', transcript: 'thinking', reply: 'listening', interrupted: 'hearing' };

const FAMILIES: Record<string, (event: LiveEvent) => boolean> = {
  everything: () => true,
  'sessions starting and ending': (event) => event.type.startsWith('session.'),
  'turns and interruptions': (event) => ['speech_started', 'transcript', 'reply', 'timings', 'interrupted', 'conversation_ended'].includes(event.type),
  'security (audit log)': (event) => event.type === 'audit',
  errors: (event) => event.type === 'error' || (event.type === 'audit' && event.details?.outcome === 'failure'),
};

const TIMING_NAMES = [
  ['voiceToVoiceMs', 'voice to voice'],
  ['endOfTurnMs', 'end of turn'],
  ['sttFinalMs', 'transcript'],
  ['llmFirstTokenMs', 'LLM first token'],
  ['ttsFirstAudioMs', 'first audio'],
] as const;

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
    case 'timings':
      return `Turn timings: ${TIMING_NAMES.filter(([field]) => typeof event.details?.[field] === 'number')
        .map(([field, name]) => `${name} ${detail(event, field)} ms`)
        .join(', ')}`;
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
  const [feed, setFeed] = useState<'connecting' | 'open' | 'closed'>('connecting');

  useEffect(() => {
    let stopped = false;
    const refresh = () =>
      api<{ sessions: LiveSession[] }>('GET', '/v1/admin/sessions').then(
        ({ sessions: list }) => !stopped && setSessions(list),
        () => undefined,
      );
    // At most one refresh a second however busy the feed is: the admin's own rate limit is shared by every tab.
    let pending: ReturnType<typeof setTimeout> | undefined;
    const refreshSoon = () => {
      pending ??= setTimeout(() => {
        pending = undefined;
        void refresh();
      }, 1_000);
    };
    void refresh();
    const feed = new EventSource('/v1/admin/events');
    feed.onopen = () => setFeed('open');
    // EventSource reconnects by itself unless the server refused the feed (e.g. feed_busy): then it is closed for good.
    feed.onerror = () => {
      setFeed(feed.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
      refreshSoon();
    };
    const onEvent = (message: MessageEvent<string>) => {
      const event = JSON.parse(message.data) as LiveEvent;
      setEvents((current) => [event, ...current].slice(0, KEPT_EVENTS));
      const state = STATE_AFTER[event.type];
      if (state && event.sessionId) setSessions((current) => current.map((session) => (session.id === event.sessionId ? { ...session, state } : session)));
      // Shown at once from the event itself; the list is read again shortly after to fill in the rest.
      if (event.type === 'session.started' && event.sessionId) {
        const started: LiveSession = { id: event.sessionId, channel: detail(event, 'channel'), actor: event.actor ?? '', tenant: detail(event, 'tenant'), agent: event.details?.agent ? detail(event, 'agent') : null, conversationId: null, startedAt: event.at, state: 'starting', seconds: 0 };
        setSessions((current) => [...current.filter((session) => session.id !== started.id), started]);
      }
      if (event.type === 'session.ended') setSessions((current) => current.filter((session) => session.id !== event.sessionId));
      if (event.type === 'session.started' || event.type === 'session.ended') refreshSoon();
    };
    for (const type of EVENT_TYPES) feed.addEventListener(type, onEvent);
    // Durations tick here; the list itself is read again now and then, in case an event was missed.
    const tick = setInterval(() => setSessions((current) => current.map((session) => ({ ...session, seconds: session.seconds + 1 }))), 1_000);
    const poll = setInterval(() => void refresh(), 15_000);
    return () => {
      stopped = true;
      feed.close();
      clearInterval(tick);
      clearInterval(poll);
      clearTimeout(pending);
    };
  }, []);

  const shown = events.filter((event) => (following ? event.sessionId === following : true) && (FAMILIES[family] ?? FAMILIES.everything!)(event));
  return (
    <section aria-labelledby="live-title">
      <h2 id="live-title">Live</h2>
      <p role="status">{FEED_TEXT[feed]}</p>
      <table>
        <caption>Sessions and calls in progress</caption>
        <TableHead columns={['Who', 'Channel', 'Agent', 'Tenant', 'For', 'Now']} actions="Follow" />
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
          <li key={`${event.at}:${event.id}`} class={event.type === 'error' || event.details?.outcome === 'failure' ? 'bad' : undefined}>
            <time dateTime={event.at}>{new Date(event.at).toLocaleTimeString()}</time> {describe(event)}
          </li>
        ))}
      </ol>
    </section>
  );
};
