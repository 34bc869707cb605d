import { useEffect, useState } from 'preact/hooks';
import { TableHead } from '../table-head.js';
import { api, ApiError } from '../api.js';

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly error?: string;
}
interface Ready {
  readonly status: string;
  readonly checks: readonly Check[];
}
interface Health {
  readonly status: string;
  readonly version: string;
  readonly uptimeSeconds: number;
}
interface Stage {
  readonly engine: string;
  readonly calls: number;
  readonly failures: number;
  readonly timeouts: number;
  readonly cancelled: number;
  readonly busy: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
}
interface Engines {
  readonly vad: string;
  readonly stt: string;
  readonly tts: string;
  readonly healthy: boolean;
  readonly problem?: string;
  readonly sttPool?: { readonly busy: number; readonly idle: number; readonly waiting: number; readonly max: number };
  readonly stages: Readonly<Record<string, Stage>>;
}

interface ProcessInfo {
  readonly version: string;
  readonly node: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly memoryMb: { readonly rss: number; readonly heapUsed: number; readonly heapTotal: number; readonly external: number; readonly helpers: number };
  readonly starts: { readonly last7Days: number; readonly recent: readonly string[]; readonly previousEnd: { readonly reason: string; readonly detail: string | null } | null };
}

/** Readiness (GET /ready answers 503 with the same body while not ready). */
const readiness = async (): Promise<Ready> => {
  const response = await fetch('/ready', { headers: { accept: 'application/json' } });
  return (await response.json()) as Ready;
};

/** How a run ended (GET /v1/admin/process → starts.previousEnd.reason), in words. */
const previousEndWords: Record<string, string> = {
  shutdown: 'a clean shutdown',
  crash: 'a crash',
  memory: 'a restart over the critical memory level',
  unknown: 'vanishing without a shutdown (killed, out of memory, or power lost)',
};

const ms = (value: number | null): string => (value === null ? '–' : `${Math.round(value)} ms`);

/** Health: readiness checks, version and uptime, the engines and their per-stage statistics. */
export const HealthPage = () => {
  const [ready, setReady] = useState<Ready | undefined>();
  const [health, setHealth] = useState<Health | undefined>();
  const [engines, setEngines] = useState<Engines | 'voice off' | undefined>();
  const [processInfo, setProcessInfo] = useState<ProcessInfo | undefined>();
  const [error, setError] = useState<string | undefined>();

  const load = async () => {
    try {
      const [readyNow, healthNow] = await Promise.all([readiness(), api<Health>('GET', '/health')]);
      setReady(readyNow);
      setHealth(healthNow);
      setProcessInfo(await api<ProcessInfo>('GET', '/v1/admin/process'));
      setEngines(await api<Engines>('GET', '/v1/admin/engines').catch((failure: unknown) => (failure instanceof ApiError && failure.status === 404 ? ('voice off' as const) : Promise.reject(failure))));
      setError(undefined);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    }
  };
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 5000);
    return () => clearInterval(timer);
  }, []);

  return (
    <section aria-labelledby="health-title">
      <h2 id="health-title">Health</h2>
      {error && <p class="error" role="alert">{error}</p>}
      {health && (
        <p>
          Harken {health.version}, up {Math.floor(health.uptimeSeconds / 60)} min — <strong class={ready?.status === 'ready' ? 'ok' : 'bad'}>{ready?.status ?? '…'}</strong>
        </p>
      )}
      {processInfo && (
        <>
          <p>
            Memory: {processInfo.memoryMb.rss} MB resident (and {processInfo.memoryMb.helpers} MB in speech engine processes), JavaScript heap {processInfo.memoryMb.heapUsed} of {processInfo.memoryMb.heapTotal} MB, {processInfo.memoryMb.external} MB outside the heap.
          </p>
          <p>
            Started {new Date(processInfo.startedAt).toLocaleString()} (process {processInfo.pid}, Node {processInfo.node}); {processInfo.starts.last7Days}{' '}
            {processInfo.starts.last7Days === 1 ? 'start' : 'starts'} in the last 7 days
            {processInfo.starts.recent.length > 1 && `, the one before at ${new Date(processInfo.starts.recent[1] as string).toLocaleString()}`}
            {processInfo.starts.previousEnd && `; the previous run ended by ${previousEndWords[processInfo.starts.previousEnd.reason] ?? processInfo.starts.previousEnd.reason}`}.
          </p>
        </>
      )}
      {ready && (
        <table>
          <caption>Readiness checks</caption>
          <TableHead columns={['Check', 'State', 'Took']} />
          <tbody>
            {ready.checks.map((check) => (
              <tr key={check.name}>
                <td>{check.name}</td>
                <td class={check.ok ? 'ok' : 'bad'}>{check.ok ? 'ok' : (check.error ?? 'failing')}</td>
                <td>{ms(check.durationMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {engines === 'voice off' && <p>Voice is off (voice.enabled): no speech engines.</p>}
      {engines && engines !== 'voice off' && engines.sttPool && (
        <p>
          Recognisers: {engines.sttPool.busy} of {engines.sttPool.max} busy, {engines.sttPool.idle} idle,{' '}
          <span class={engines.sttPool.waiting > 0 ? 'bad' : undefined}>{engines.sttPool.waiting} utterances waiting for one</span>
        </p>
      )}
      {engines && engines !== 'voice off' && (
        <table>
          <caption>
            Engines: {engines.vad}, {engines.stt}, {engines.tts} — {engines.healthy ? 'healthy' : `unhealthy: ${engines.problem ?? ''}`}
          </caption>
          <TableHead columns={['Stage', 'Calls', 'Failed', 'Timed out', 'Busy', 'p50', 'p95']} />
          <tbody>
            {Object.entries(engines.stages).map(([name, stage]) => (
              <tr key={name}>
                <td>{name}</td>
                <td>{stage.calls}</td>
                <td>{stage.failures}</td>
                <td>{stage.timeouts}</td>
                <td>{stage.busy}</td>
                <td>{ms(stage.p50Ms)}</td>
                <td>{ms(stage.p95Ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
};
