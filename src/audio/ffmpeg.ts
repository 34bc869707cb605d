import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { int16FromBytes, int16ToBytes, type PcmAudio } from './pcm.js';
import { UnsupportedAudioError } from './wav.js';

const CANDIDATES = ['/usr/bin/ffmpeg', '/usr/local/bin/ffmpeg'];
export const FFMPEG_FIX = 'install the Debian package ffmpeg (./scripts/install-system-deps.sh)';

/** The ffmpeg program, or undefined when it is not installed (only WAV and raw PCM are read then). */
export const findFfmpeg = (): string | undefined => CANDIDATES.find((path) => existsSync(path));

let encoders: Map<string, Set<string>> | undefined;

/** The audio encoders this ffmpeg build has (Debian's has libmp3lame, libopus, aac, flac), asked once. */
export const ffmpegHasEncoder = (binary: string, encoder: string): boolean => {
  encoders ??= new Map();
  let known = encoders.get(binary);
  if (!known) {
    const listing = spawnSync(binary, ['-hide_banner', '-encoders'], { encoding: 'utf8', timeout: 10_000 });
    // Lines such as " A....D libmp3lame           libmp3lame MP3 (MPEG audio layer 3)".
    known = new Set((listing.stdout ?? '').split('\n').map((line) => /^\s*A\S*\s+(\S+)/.exec(line)?.[1]).filter((name): name is string => Boolean(name)));
    encoders.set(binary, known);
  }
  return known.has(encoder);
};

/** What an ffmpeg run may not exceed: its output, its time; and who can stop it. */
export interface FfmpegBounds {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** A decoded upload longer than the caller may send. */
export class AudioTooLongError extends Error {
  constructor(readonly maxMs: number) {
    super(`audio is longer than ${maxMs / 1000} s`);
    this.name = 'AudioTooLongError';
  }
}

const firstLine = (text: string): string => text.trim().split('\n').at(-1)?.trim() ?? '';

/** Kills the process on abort or when its time is up; the returned function stops watching. */
const bound = (child: ChildProcess, bounds: FfmpegBounds, onStop: (reason: Error) => void): (() => void) => {
  const stop = (reason: Error) => {
    child.kill('SIGKILL');
    onStop(reason);
  };
  const timer = setTimeout(() => stop(new Error(`ffmpeg did not finish within ${bounds.timeoutMs} ms`)), bounds.timeoutMs);
  const onAbort = () => stop(bounds.signal?.reason instanceof Error ? bounds.signal.reason : new Error('This operation was aborted'));
  bounds.signal?.addEventListener('abort', onAbort, { once: true });
  return () => {
    clearTimeout(timer);
    bounds.signal?.removeEventListener('abort', onAbort);
  };
};

/**
 * Decodes any container and codec ffmpeg reads (mp3, m4a, ogg/opus, webm, flac…) to mono s16 at
 * `sampleRate`. Bounded: the input is the caller's upload (already size-limited), the output stops
 * at `maxMs` of audio (the process is killed: AudioTooLongError), the run at `timeoutMs`, and an
 * abort kills it. What ffmpeg cannot read is UnsupportedAudioError with its reason.
 */
export const decodeWithFfmpeg = (binary: string, input: Uint8Array, options: FfmpegBounds & { sampleRate: number; maxMs: number }): Promise<PcmAudio> =>
  new Promise((resolve, reject) => {
    options.signal?.throwIfAborted();
    const child = spawn(binary, ['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', 'pipe:0', '-vn', '-ac', '1', '-ar', String(options.sampleRate), '-f', 's16le', 'pipe:1'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const maxBytes = Math.ceil((options.maxMs / 1000) * options.sampleRate) * 2;
    const chunks: Buffer[] = [];
    let bytes = 0;
    let stderr = '';
    let failure: Error | undefined;
    const unwatch = bound(child, options, (reason) => (failure ??= reason));
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength;
      if (bytes > maxBytes) {
        failure ??= new AudioTooLongError(options.maxMs);
        child.kill('SIGKILL');
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-2_000);
    });
    // ffmpeg may stop reading early (an unreadable header): the pipe error is expected then.
    child.stdin.on('error', () => undefined);
    child.on('error', (error) => (failure ??= error));
    child.on('close', (code) => {
      unwatch();
      if (failure) return reject(failure);
      if (code !== 0) return reject(new UnsupportedAudioError(`the audio could not be decoded: ${firstLine(stderr) || `ffmpeg exited with ${code}`}`));
      const all = Buffer.concat(chunks);
      resolve({ samples: Int16Array.from(int16FromBytes(all.subarray(0, all.byteLength - (all.byteLength % 2)))), sampleRate: options.sampleRate });
    });
    child.stdin.end(input);
  });

/** Encoded formats ffmpeg makes for `/v1/audio/speech`, with the arguments that make them. */
export const ENCODINGS = {
  mp3: { contentType: 'audio/mpeg', encoder: 'libmp3lame', args: ['-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3'] },
  opus: { contentType: 'audio/ogg', encoder: 'libopus', args: ['-c:a', 'libopus', '-b:a', '32k', '-f', 'ogg'] },
  aac: { contentType: 'audio/aac', encoder: 'aac', args: ['-c:a', 'aac', '-b:a', '64k', '-f', 'adts'] },
  flac: { contentType: 'audio/flac', encoder: 'flac', args: ['-c:a', 'flac', '-f', 'flac'] },
} as const;
export type Encoding = keyof typeof ENCODINGS;

/**
 * An ffmpeg process encoding PCM as it is written: each chunk of synthesised speech goes in,
 * encoded bytes come out to `onData` as ffmpeg produces them (so the first sentence is heard
 * before the last is made). `end()` resolves when everything is out; an abort kills it.
 */
export class StreamingEncoder {
  private readonly child: ChildProcess;
  /** Settles once ffmpeg has exited, however it ended. */
  readonly done: Promise<void>;

  constructor(binary: string, encoding: Encoding, sampleRate: number, onData: (chunk: Buffer) => void, bounds: FfmpegBounds) {
    this.child = spawn(binary, ['-nostdin', '-hide_banner', '-loglevel', 'error', '-f', 's16le', '-ar', String(sampleRate), '-ac', '1', '-i', 'pipe:0', ...ENCODINGS[encoding].args, 'pipe:1'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const child = this.child;
    let stderr = '';
    let failure: Error | undefined;
    child.stdout?.on('data', onData);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      stderr = (stderr + text).slice(-2_000);
    });
    child.stdin?.on('error', () => undefined);
    this.done = new Promise((resolve, reject) => {
      const unwatch = bound(child, bounds, (reason) => (failure ??= reason));
      child.on('error', (error) => (failure ??= error));
      child.on('close', (code) => {
        unwatch();
        if (failure) reject(failure);
        else if (code !== 0) reject(new Error(`encoding failed: ${firstLine(stderr) || `ffmpeg exited with ${code}`}`));
        else resolve();
      });
    });
    this.done.catch(() => undefined);
  }

  /** Writes PCM; resolves when ffmpeg has taken it (back-pressure from its pipe). */
  write(samples: Int16Array): Promise<void> {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      if (stdin.write(int16ToBytes(samples))) return resolve();
      // Killed meanwhile: no drain will come.
      stdin.once('drain', resolve);
      stdin.once('close', resolve);
    });
  }

  /** No more audio: resolves once the last encoded bytes are out. */
  async end(): Promise<void> {
    this.child.stdin?.end();
    await this.done;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
