import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { PcmAudio } from '../../../audio/pcm.js';
import { decodeWav } from '../../../audio/wav.js';
import { EngineUnavailableError } from '../../engine-errors.js';
import { sampleProcess, StallJudge } from '../../../ops/process-progress.js';

/** An overdue flite process is looked at again this often. */
const HANG_RECHECK_MS = 250;

const FIX = 'install the Debian package flite (./scripts/install-system-deps.sh)';
const CANDIDATES = ['/usr/bin/flite', '/usr/local/bin/flite'];

/** Voices Debian's flite CLI has built in, best first. */
export const FLITE_VOICES = ['slt', 'kal16', 'awb', 'rms', 'kal'] as const;

export const findFlite = (): string => {
  const binary = CANDIDATES.find((path) => existsSync(path));
  if (!binary) throw new EngineUnavailableError('flite', 'the Flite program (/usr/bin/flite) is not installed', FIX);
  return binary;
};

interface FliteRequest {
  readonly id: number;
  readonly text: string;
  readonly voice: string;
  readonly timeoutMs: number;
  /** Flite's duration_stretch: 2 speaks half as fast. */
  readonly durationStretch?: number;
}

type FliteReply = { id: number; wav: Uint8Array } | { id: number; error: string; hung?: boolean } | { id: number; started: number };

/** A flite process that did not finish within its limit: it was killed (a new one may try again). */
export class FliteHungError extends Error {
  constructor(readonly limitMs: number) {
    super(`a flite process did not finish within ${limitMs} ms and was killed`);
    this.name = 'FliteHungError';
  }
}

/**
 * Runs in the launcher thread (serialised with toString, so self-contained): starts one
 * flite process per request, writing to a private temp file (flite cannot write to a pipe),
 * and sends the WAV bytes back. A cancel kills the process at once and removes its file.
 */
function fliteLauncherMain(require: NodeJS.Require, binary: string, tempParent: string | null): void {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const { execFile } = require('node:child_process') as typeof import('node:child_process');
  const { mkdtempSync, readFileSync, rmSync } = require('node:fs') as typeof import('node:fs');
  const { tmpdir } = require('node:os') as typeof import('node:os');
  const { join } = require('node:path') as typeof import('node:path');
  const port = parentPort as import('node:worker_threads').MessagePort;
  const workDir = mkdtempSync(join(tempParent ?? tmpdir(), 'harken-flite-'));
  const running = new Map<number, import('node:child_process').ChildProcess>();
  port.on('message', (request: FliteRequest | { cancel: number; hung?: boolean } | 'close') => {
    if (request === 'close') {
      for (const child of running.values()) child.kill('SIGKILL');
      rmSync(workDir, { recursive: true, force: true });
      port.close();
      return;
    }
    if ('cancel' in request) {
      running.get(request.cancel)?.kill('SIGKILL');
      return;
    }
    const output = join(workDir, `${request.id}.wav`);
    const stretch = request.durationStretch ? ['--setf', `duration_stretch=${request.durationStretch}`] : [];
    // The time limit here is the hard one; the launcher's owner kills a hung process sooner (`cancel` with `hung`).
    const child = execFile(binary, ['-voice', request.voice, ...stretch, '-t', request.text, '-o', output], { timeout: request.timeoutMs, killSignal: 'SIGKILL' }, (error, _stdout, stderr) => {
      running.delete(request.id);
      try {
        // Killed by its time limit (a cancel's kill is never answered: its caller has gone).
        if (error && child.killed) return port.postMessage({ id: request.id, error: 'killed', hung: true });
        if (error) throw new Error(String(stderr).trim().split('\n')[0] || error.message);
        const wav = new Uint8Array(readFileSync(output));
        port.postMessage({ id: request.id, wav }, [wav.buffer]);
      } catch (failure) {
        port.postMessage({ id: request.id, error: (failure as Error).message });
      } finally {
        rmSync(output, { force: true });
      }
    });
    running.set(request.id, child);
    if (child.pid !== undefined) port.postMessage({ id: request.id, started: child.pid });
  });
}

/**
 * Flite called in-process through FFI crashed (SIGSEGV in cart_interpret/feat_val) under the
 * realtime load, so each sentence is a short-lived `flite` process (~35 ms), which also isolates
 * any crash and can be killed on a timeout. Processes are started from a dedicated thread:
 * fork() from a large Node process blocks the calling thread ~12 ms, which on the event loop
 * showed up as audio stalls with 8 concurrent calls.
 */
export class FliteLauncher {
  private readonly pending = new Map<number, { resolve: (audio: PcmAudio) => void; reject: (error: Error) => void; limitMs: number; hangMs: number | undefined; timer?: NodeJS.Timeout }>();
  private nextId = 1;
  private readonly worker: Worker;
  private exitCode: number | undefined;

  /** `tempParent`: where the launcher makes its private directory for WAV files (default: the OS temp dir). */
  constructor(binary: string, tempParent?: string) {
    this.worker = new Worker(`(${fliteLauncherMain.toString()})(require, ${JSON.stringify(binary)}, ${JSON.stringify(tempParent ?? null)})`, { eval: true });
    this.worker.unref();
    this.worker.on('message', (reply: FliteReply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      if ('started' in reply) return this.watch(reply.id, reply.started, waiting);
      this.pending.delete(reply.id);
      clearTimeout(waiting.timer);
      if ('error' in reply) return waiting.reject(reply.hung ? new FliteHungError(waiting.hangMs ?? waiting.limitMs) : new Error(`flite failed: ${reply.error}`));
      try {
        waiting.resolve(decodeWav(reply.wav));
      } catch (error) {
        waiting.reject(new Error(`flite produced unreadable audio: ${(error as Error).message}`));
      }
    });
    this.worker.on('error', (error) => this.failAll(error));
    this.worker.on('exit', (code) => {
      this.exitCode = code;
      this.failAll(new Error(`the flite launcher thread exited (${code})`));
    });
  }

  /** Throws when the launcher thread is gone, so readiness can report it. */
  check(): void {
    if (this.exitCode !== undefined) throw new Error(`the flite launcher thread exited (${this.exitCode})`);
  }

  /**
   * `timeoutMs`: the hard limit, whatever the process is doing. `hangMs`: past it the process is
   * looked at, and killed if it is stopped, asleep without progress, or spinning — not when it is
   * only waiting for a CPU on a busy machine (FliteHungError).
   */
  synthesize(text: string, voice: string, options: { timeoutMs: number; hangMs?: number; durationStretch?: number; signal?: AbortSignal }): Promise<PcmAudio> {
    options.signal?.throwIfAborted();
    const id = this.nextId;
    this.nextId += 1;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(this.pending.get(id)?.timer);
        this.pending.delete(id);
        // Kill the process (its file goes with it), not just this promise.
        this.worker.postMessage({ cancel: id });
        reject(options.signal?.reason instanceof Error ? options.signal.reason : new Error('This operation was aborted'));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: (audio) => {
          options.signal?.removeEventListener('abort', onAbort);
          resolve(audio);
        },
        reject: (error) => {
          options.signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
        limitMs: options.timeoutMs,
        hangMs: options.hangMs,
      });
      this.worker.postMessage({ id, text, voice, timeoutMs: options.timeoutMs, ...(options.durationStretch ? { durationStretch: options.durationStretch } : {}) } satisfies FliteRequest);
    });
  }

  async close(): Promise<void> {
    this.worker.postMessage('close');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await this.worker.terminate();
  }

  /** Judges the process once it is overdue: a hung one is killed (its reply says so), a starved one left to finish. */
  private watch(id: number, pid: number, waiting: { hangMs: number | undefined; limitMs: number; timer?: NodeJS.Timeout }): void {
    if (waiting.hangMs === undefined || waiting.hangMs >= waiting.limitMs) return;
    const startedAt = performance.now();
    const judge = new StallJudge(waiting.hangMs, waiting.limitMs);
    const check = () => {
      if (!this.pending.has(id)) return;
      if (judge.verdict(performance.now() - startedAt, sampleProcess(pid)) === 'wait') {
        waiting.timer = setTimeout(check, HANG_RECHECK_MS);
        return;
      }
      this.worker.postMessage({ cancel: id, hung: true });
    };
    waiting.timer = setTimeout(check, waiting.hangMs);
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
    }
    this.pending.clear();
  }
}
