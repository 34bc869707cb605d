import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EngineError } from '../../engine-errors.js';
import { sampleProcess, StallJudge } from '../../../ops/process-progress.js';
import type { DecodedUtterance, DecoderFiles } from './decoder.js';
import type { Grammar } from './grammars.js';
import type { HostReply, HostRequest, HostResults } from './decoder-protocol.js';

const SAMPLES_PER_MS = 16;
/** Loading a model takes ~0.5 s; one that takes this long is stuck (and is retried by the pool). */
const LOAD_TIMEOUT_MS = 10_000;
/** An overdue request's process is looked at again this often (is it starved, or hung?). */
const RECHECK_MS = 250;
/** However busy the machine, a request this late counts as hung. */
const HARD_LIMIT_MS = 30_000;
/** The end of a decoder's stderr kept for the message when it dies. */
const STDERR_TAIL_BYTES = 2_048;

/** A decoder process that stopped answering (killed) or died: what it was doing is lost. */
export class DecoderLostError extends EngineError {
  constructor(readonly reason: 'hung' | 'crashed', readonly pid: number, message: string) {
    super('pocketsphinx', reason === 'hung' ? 'engine_hung' : 'engine_crashed', true, message);
    this.name = 'DecoderLostError';
  }
}

interface Waiting {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

// Under the test runner this module is TypeScript source: the host is too, loaded through tsx.
const HOST = new URL(import.meta.url.endsWith('.ts') ? './decoder-host.ts' : './decoder-host.js', import.meta.url);
const HOST_EXEC_ARGV = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [];

/**
 * The server's side of one decoder process (decoder-host.ts). Every request has a deadline:
 * `hangTimeoutMs` plus the duration of the audio it carries (PocketSphinx decodes ~3× faster
 * than real time). Past it the process is looked at: one that is merely waiting for a CPU on a
 * busy machine is left to finish; one that is stopped, asleep without progress, or spinning
 * means a decode hung in native code: the process is killed — the only way to end a native
 * call — and every request still open fails with DecoderLostError, as they do when the process
 * dies by itself.
 */
export class DecoderProcess {
  readonly pid: number;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private lostWith: DecoderLostError | undefined;
  private stopping = false;
  private stderrTail = '';
  private readonly exitListeners: Array<() => void> = [];

  private constructor(private readonly child: ChildProcess, private readonly hangTimeoutMs: number) {
    this.pid = child.pid ?? 0;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES);
    });
    child.on('message', (reply: HostReply) => this.answer(reply));
    child.on('exit', (code, signal) => {
      if (!this.stopping && !this.lostWith) {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const last = this.stderrTail.trim().split('\n').at(-1);
        this.lose(new DecoderLostError('crashed', this.pid, `the PocketSphinx decoder process ${this.pid} ${how}${last ? `: ${last}` : ''}`));
      }
      this.stopping = true;
      for (const listener of this.exitListeners.splice(0)) listener();
    });
    // A send to a process that just died fails here; the exit handler reports it.
    child.on('error', () => undefined);
    // Decoder processes never keep the server (or a test run) alive by themselves.
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
  }

  /** Starts a process and loads the model in it; `signal` kills it while it loads (the pool closing). */
  static async start(files: DecoderFiles, options: { hangTimeoutMs: number; nice?: number; signal?: AbortSignal }): Promise<DecoderProcess> {
    options.signal?.throwIfAborted();
    const child = fork(fileURLToPath(HOST), [], {
      execArgv: HOST_EXEC_ARGV,
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // Nothing of the server's environment (secrets among it) is needed to decode audio.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HARKEN_DECODER_PARENT: String(process.pid), HARKEN_DECODER_NICE: String(options.nice ?? 0) },
    });
    const decoder = new DecoderProcess(child, options.hangTimeoutMs);
    try {
      await decoder.request({ op: 'load', files }, LOAD_TIMEOUT_MS);
      return decoder;
    } catch (error) {
      decoder.kill();
      throw error;
    }
  }

  /** False once the process has been killed or has died. */
  get alive(): boolean {
    return !this.stopping && !this.lostWith;
  }

  /** Called once when the process is gone (killed, crashed or stopped). */
  onExit(listener: () => void): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) listener();
    else this.exitListeners.push(listener);
  }

  /** Selects the grammar (or the language model) and starts an utterance; false when the grammar was unusable. */
  begin(grammar: Grammar | undefined): Promise<boolean> {
    return this.request<'begin'>({ op: 'begin', grammar }, this.hangTimeoutMs);
  }

  process(samples: Int16Array): Promise<null> {
    // A copy of just these samples: a view would carry its whole underlying buffer across.
    return this.request<'process'>({ op: 'process', samples: samples.slice() }, this.hangTimeoutMs + samples.length / SAMPLES_PER_MS);
  }

  hypothesis(): Promise<string> {
    return this.request<'hypothesis'>({ op: 'hypothesis' }, this.hangTimeoutMs);
  }

  /** Ends the utterance; its final search pass grows with its length (`utteranceMs`). */
  end(utteranceMs: number): Promise<DecodedUtterance> {
    return this.request<'end'>({ op: 'end' }, this.hangTimeoutMs + utteranceMs / 2);
  }

  decodeWhole(samples: Int16Array): Promise<DecodedUtterance> {
    return this.request<'decodeWhole'>({ op: 'decodeWhole', samples }, this.hangTimeoutMs + samples.length / SAMPLES_PER_MS);
  }

  /** Ends the process at once: the kernel takes back its memory, whatever it was doing. */
  kill(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.child.kill('SIGKILL');
    this.lose(new DecoderLostError('crashed', this.pid, `the PocketSphinx decoder process ${this.pid} was stopped`));
  }

  private request<Op extends HostRequest['op']>(request: DistributiveOmit<Extract<HostRequest, { op: Op }>, 'id'>, limitMs: number): Promise<HostResults[Op]> {
    if (this.lostWith) return Promise.reject(this.lostWith);
    if (this.stopping) return Promise.reject(new DecoderLostError('crashed', this.pid, `the PocketSphinx decoder process ${this.pid} was stopped`));
    const id = this.nextId;
    this.nextId += 1;
    return new Promise((resolve, reject) => {
      const startedAt = performance.now();
      const judge = new StallJudge(limitMs, Math.max(HARD_LIMIT_MS, limitMs * 20));
      const waiting: Waiting = { resolve: resolve as (value: unknown) => void, reject, timer: undefined as unknown as NodeJS.Timeout };
      // Overdue: killed only when the process is not merely waiting for a CPU on a busy machine.
      const check = () => {
        const sample = sampleProcess(this.pid);
        if (judge.verdict(performance.now() - startedAt, sample) === 'wait') {
          waiting.timer = setTimeout(check, RECHECK_MS);
          return;
        }
        const how = sample ? ` (state ${sample.state})` : '';
        this.lose(new DecoderLostError('hung', this.pid, `the PocketSphinx decoder process ${this.pid} did not answer "${request.op}" within ${Math.round(performance.now() - startedAt)} ms${how}; it was killed`));
        this.stopping = true;
        this.child.kill('SIGKILL');
      };
      waiting.timer = setTimeout(check, limitMs);
      this.waiting.set(id, waiting);
      this.child.send({ ...request, id } as HostRequest);
    });
  }

  private answer(reply: HostReply): void {
    const waiting = this.waiting.get(reply.id);
    if (!waiting) return;
    this.waiting.delete(reply.id);
    clearTimeout(waiting.timer);
    if (reply.ok) waiting.resolve(reply.value);
    else waiting.reject(new Error(reply.error));
  }

  private lose(error: DecoderLostError): void {
    this.lostWith ??= error;
    for (const waiting of this.waiting.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(this.lostWith);
    }
    this.waiting.clear();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
