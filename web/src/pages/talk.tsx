import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { closeReason, VoiceCall, type CallEvent } from '../voice/voice-call.js';

interface Agent {
  readonly name: string;
  readonly description: string;
  readonly default: boolean;
}

/** When each step of a turn arrived, in ms of the page's clock, from the server's end of turn on. */
interface Timing {
  readonly endOfTurn: number;
  transcript?: number;
  reply?: number;
  firstAudio?: number;
}

interface Turn {
  readonly id: number;
  you: string;
  youFinal: boolean;
  agent: string;
  interrupted?: string;
  timing?: Timing;
}

type State = 'idle' | 'connecting' | 'listening' | 'hearing' | 'thinking' | 'speaking';

const STATE_TEXT: Record<State, string> = {
  idle: 'Not connected.',
  connecting: 'Connecting…',
  listening: 'Listening.',
  hearing: 'Hearing you…',
  thinking: 'Thinking…',
  speaking: 'Speaking.',
};

const since = (timing: Timing, at: number | undefined): string => (at === undefined ? '…' : `${Math.round(at - timing.endOfTurn)} ms`);

const TimingLine = ({ timing }: { timing: Timing }) => (
  <p class="timing">
    After the end of your turn: transcript {since(timing, timing.transcript)}, reply text {since(timing, timing.reply)}, first reply audio{' '}
    {since(timing, timing.firstAudio)}
  </p>
);

/**
 * Talk: a voice conversation with an agent from the browser. Hands-free (the server hears when a
 * turn ends) or push to talk (hold the button or the space bar; released, the microphone sends
 * silence). Partial and final transcripts, the reply as it streams, barge-in, per-turn timings,
 * and typed turns.
 */
export const TalkPage = () => {
  const [agents, setAgents] = useState<readonly Agent[]>([]);
  const [agent, setAgent] = useState('');
  const [pushToTalk, setPushToTalk] = useState(false);
  const [talking, setTalking] = useState(false);
  const [state, setState] = useState<State>('idle');
  const [turns, setTurns] = useState<readonly Turn[]>([]);
  const [notice, setNotice] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [typed, setTyped] = useState('');
  const [playedMs, setPlayedMs] = useState(0);
  const call = useRef<VoiceCall | undefined>(undefined);
  /** Set when the page is left or Hang up is pressed while a call is still starting: it is hung up as soon as it exists. */
  const abandoned = useRef(false);
  const nextTurnId = useRef(1);

  useEffect(() => {
    api<{ agents: Agent[] }>('GET', '/v1/agents')
      .then(({ agents: list }) => {
        setAgents(list);
        setAgent(list.find((entry) => entry.default)?.name ?? list[0]?.name ?? '');
      })
      .catch((failure: unknown) => setError(failure instanceof Error ? failure.message : String(failure)));
    return () => {
      abandoned.current = true;
      call.current?.hangUp();
    };
  }, []);

  // How much reply audio has actually played, refreshed while connected.
  useEffect(() => {
    if (state === 'idle') return;
    const timer = setInterval(() => setPlayedMs(Math.round(call.current?.player.playedMs ?? 0)), 200);
    return () => clearInterval(timer);
  }, [state]);

  /** The turn the caller is speaking (transcripts go there) and the one being answered (replies, audio, barge-in). */
  const hearing = useRef<number | undefined>(undefined);
  const answering = useRef<number | undefined>(undefined);

  const newTurn = (turn: Omit<Turn, 'id'>): number => {
    const id = nextTurnId.current++;
    setTurns((current) => [...current, { id, ...turn }]);
    return id;
  };
  const updateTurn = (id: number | undefined, change: (turn: Turn) => void) =>
    setTurns((current) =>
      current.map((turn) => {
        if (turn.id !== id) return turn;
        const changed = { ...turn, ...(turn.timing ? { timing: { ...turn.timing } } : {}) };
        change(changed);
        return changed;
      }),
    );
  /** A reply with no turn of the caller's before it (the agent's greeting) gets one of its own. */
  const replyTurn = (): number => (answering.current ??= newTurn({ you: '', youFinal: true, agent: '' }));

  const onEvent = (event: CallEvent) => {
    const now = performance.now();
    switch (event.type) {
      case 'ready':
        setState('listening');
        setNotice(undefined);
        break;
      case 'speech_started':
        setState('hearing');
        hearing.current = newTurn({ you: '', youFinal: false, agent: '' });
        break;
      case 'speech_stopped':
        setState('thinking');
        updateTurn(hearing.current, (turn) => {
          turn.timing = { endOfTurn: now };
        });
        answering.current = hearing.current;
        break;
      case 'transcript':
        updateTurn(hearing.current, (turn) => {
          turn.you = event.text;
          turn.youFinal = event.final;
          if (event.final && turn.timing) turn.timing.transcript ??= now;
        });
        break;
      case 'reply':
        updateTurn(replyTurn(), (turn) => {
          turn.agent = event.final ? event.text : turn.agent + event.text;
          if (turn.timing) turn.timing.reply ??= now;
        });
        break;
      case 'first_audio':
        setState('speaking');
        updateTurn(replyTurn(), (turn) => {
          if (turn.timing) turn.timing.firstAudio ??= now;
        });
        break;
      case 'audio_end':
        setState('listening');
        break;
      case 'interrupted':
        updateTurn(answering.current, (turn) => {
          turn.interrupted = event.playedText;
        });
        break;
      case 'conversation_ended':
        setNotice(`The agent ended the conversation (${event.status}).`);
        break;
      case 'shutting_down':
        setNotice(`The server is restarting: the agent finishes its answer, then this conversation closes (within ${Math.ceil(event.deadlineMs / 1000)} s). What you said is kept.`);
        break;
      case 'error':
        setError(event.message);
        break;
      case 'closed':
        call.current = undefined;
        setState('idle');
        setTalking(false);
        setNotice(closeReason(event.code, event.reason));
        break;
    }
  };

  const start = async () => {
    setError(undefined);
    setNotice(undefined);
    setTurns([]);
    hearing.current = undefined;
    answering.current = undefined;
    setState('connecting');
    abandoned.current = false;
    try {
      const started = await VoiceCall.start(agent, onEvent);
      if (abandoned.current) return started.hangUp();
      call.current = started;
      started.setMuted(pushToTalk);
    } catch (failure) {
      setState('idle');
      const name = failure instanceof DOMException ? failure.name : '';
      if (name === 'NotAllowedError') setError('The browser refused the microphone. Allow it for this site and try again.');
      else if (name === 'NotFoundError') setError('No microphone was found.');
      else setError(failure instanceof Error ? failure.message : String(failure));
    }
  };

  const talk = (on: boolean) => {
    if (!pushToTalk || !call.current) return;
    setTalking(on);
    call.current.setMuted(!on);
  };

  const sendTyped = (event: Event) => {
    event.preventDefault();
    const text = typed.trim();
    if (!text || !call.current) return;
    call.current.sendText(text);
    answering.current = newTurn({ you: text, youFinal: true, agent: '' });
    setTyped('');
  };

  const connected = state !== 'idle' && state !== 'connecting';
  return (
    <section aria-labelledby="talk-title" class="talk">
      <h2 id="talk-title">Talk</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="filters">
        <label>
          Agent
          <select value={agent} disabled={state !== 'idle'} onChange={(event) => setAgent((event.target as HTMLSelectElement).value)}>
            {agents.map((entry) => (
              <option key={entry.name} value={entry.name} title={entry.description}>
                {entry.name}
              </option>
            ))}
          </select>
        </label>
        <label class="inline">
          <input type="checkbox" checked={pushToTalk} disabled={state !== 'idle'} onChange={(event) => setPushToTalk((event.target as HTMLInputElement).checked)} /> Push to talk
        </label>
        {state === 'idle' ? (
          <button type="button" disabled={!agent} onClick={() => void start()}>
            Start talking
          </button>
        ) : (
          <button
            type="button"
            onClick={() => {
              if (call.current) return call.current.hangUp();
              // Still starting: give up on it.
              abandoned.current = true;
              setState('idle');
            }}
          >
            Hang up
          </button>
        )}
      </div>
      <p role="status" aria-live="polite">
        {STATE_TEXT[state]} {notice}
      </p>
      {pushToTalk && connected && (
        <button
          type="button"
          class={talking ? 'talking' : undefined}
          aria-pressed={talking}
          onPointerDown={() => talk(true)}
          onPointerUp={() => talk(false)}
          onPointerLeave={() => talking && talk(false)}
          onKeyDown={(event) => event.key === ' ' && !event.repeat && talk(true)}
          onKeyUp={(event) => event.key === ' ' && talk(false)}
        >
          {talking ? 'Talking… release to stop' : 'Hold to talk (or the space bar)'}
        </button>
      )}
      <p class="notice">Reply audio played: {playedMs} ms</p>
      <ol class="turns" aria-label="Conversation">
        {turns.map((turn) => (
          <li key={turn.id}>
            {turn.you && (
              <p>
                <strong>You:</strong> <span class={turn.youFinal ? undefined : 'partial'}>{turn.you}</span>
              </p>
            )}
            {turn.agent && (
              <p>
                <strong>Agent:</strong> <span>{turn.agent}</span>
              </p>
            )}
            {turn.interrupted !== undefined && <p class="notice">Interrupted: you were heard over the reply after “{turn.interrupted || '…'}”.</p>}
            {turn.timing && <TimingLine timing={turn.timing} />}
          </li>
        ))}
      </ol>
      <form onSubmit={sendTyped} class="filters">
        <label>
          Type a message
          <input value={typed} disabled={!connected} onInput={(event) => setTyped((event.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" disabled={!connected || !typed.trim()}>
          Send
        </button>
      </form>
    </section>
  );
};
