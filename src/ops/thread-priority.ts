import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from 'pino';

const TASKS = '/proc/self/task';
const RECHECK_MS = 1_000;

/** The kernel thread id of the calling thread (the event loop that runs this code). */
export const ownThreadId = (): number => Number(readlinkSync('/proc/thread-self').split('/').at(-1));

/**
 * Keeps the event loop ahead of the engines when the CPU is saturated. Speech recognition,
 * synthesis and the local LLM run on other threads (libuv's pool, sherpa and llama.cpp
 * threads, the flite launcher, whose flite processes inherit its priority). When they use
 * every core, the thread that paces reply audio and answers requests waits its turn and
 * callers hear gaps. Every thread but the event loop's is moved to a higher nice value;
 * threads started later are caught on the next check. Linux only (it needs /proc); lowering
 * one's own priority needs no privilege, and a thread already nicer is left alone.
 */
export class EngineThreadPriority {
  private readonly lowered = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  /** The event loop's thread: the one that built this object and runs its checks. */
  private eventLoop: number | undefined;

  constructor(
    private readonly nice: number,
    private readonly logger: Logger,
  ) {}

  /** Applies the priority now and then every second; false when disabled or not on Linux. */
  start(): boolean {
    if (this.nice === 0) return false;
    if (!existsSync('/proc/thread-self')) {
      this.logger.debug('engine thread priority needs Linux /proc; left alone');
      return false;
    }
    this.lowerNewThreads();
    this.timer = setInterval(() => this.lowerNewThreads(), RECHECK_MS);
    this.timer.unref();
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Lowers threads not seen before; returns how many were changed. */
  lowerNewThreads(): number {
    this.eventLoop ??= ownThreadId();
    const eventLoop = this.eventLoop;
    const threads = readdirSync(TASKS).map(Number);
    const alive = new Set(threads);
    for (const thread of this.lowered) if (!alive.has(thread)) this.lowered.delete(thread);
    let changed = 0;
    for (const thread of threads) {
      if (thread === eventLoop || this.lowered.has(thread)) continue;
      this.lowered.add(thread);
      try {
        if (getPriority(thread) < this.nice) {
          setPriority(thread, this.nice);
          changed += 1;
        }
      } catch {
        // The thread ended between the listing and the call.
      }
    }
    return changed;
  }
}
