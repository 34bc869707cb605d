import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PcmAudio } from '../../../audio/pcm.js';
import { decodeWav } from '../../../audio/wav.js';
import { EngineUnavailableError } from '../../engine-errors.js';

const FIX = 'install the Debian package flite (./scripts/install-system-deps.sh)';
const CANDIDATES = ['/usr/bin/flite', '/usr/local/bin/flite'];

/** Voices Debian's flite CLI has built in, best first. */
export const FLITE_VOICES = ['slt', 'kal16', 'awb', 'rms', 'kal'] as const;

export const findFlite = (): string => {
  const binary = CANDIDATES.find((path) => existsSync(path));
  if (!binary) throw new EngineUnavailableError('flite', 'the Flite program (/usr/bin/flite) is not installed', FIX);
  return binary;
};

/**
 * One synthesis in a child process. Flite called in-process through FFI crashed
 * (SIGSEGV in cart_interpret/feat_val) under the realtime load; a process per sentence
 * costs ~35 ms, isolates any crash, runs off the event loop and can be killed on a timeout.
 */
export const synthesizeWithFlite = async (
  binary: string,
  text: string,
  voice: string,
  options: { timeoutMs: number; workDir: string; signal?: AbortSignal },
): Promise<PcmAudio> => {
  // flite cannot write to a pipe or socket (it fopen()s its output), so it writes a private temp file.
  const output = join(options.workDir, `${randomUUID()}.wav`);
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        binary,
        ['-voice', voice, '-t', text, '-o', output],
        { encoding: 'utf8', timeout: options.timeoutMs, ...(options.signal ? { signal: options.signal } : {}) },
        (error, _stdout, stderr) => {
          if (!error) return resolve();
          const detail = stderr.trim().split('\n')[0];
          reject(new Error(`flite failed: ${detail || error.message}`, { cause: error }));
        },
      );
    });
    const bytes = await readFile(output);
    try {
      return decodeWav(bytes);
    } catch (decodeError) {
      throw new Error(`flite produced unreadable audio: ${(decodeError as Error).message}`);
    }
  } finally {
    await rm(output, { force: true });
  }
};
