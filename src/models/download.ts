import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

export interface DownloadProgress {
  readonly receivedBytes: number;
  /** From Content-Length; undefined when the server did not say. */
  readonly totalBytes: number | undefined;
}

export interface DownloadOptions {
  readonly onProgress?: (progress: DownloadProgress) => void;
  /** Abort when no data arrives for this long. */
  readonly idleTimeoutMs?: number;
  readonly expectedSize?: number;
  readonly expectedSha256?: string;
  readonly signal?: AbortSignal;
}

export interface DownloadResult {
  readonly path: string;
  readonly sizeBytes: number;
  readonly sha256: string;
}

export class DownloadError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DownloadError';
  }
}

/**
 * Streams a URL to `destination` (following redirects) through a temporary
 * `.partial-*` file that is renamed only after the size and SHA-256 check out;
 * on any failure nothing is left behind.
 */
export const downloadFile = async (url: string, destination: string, options: DownloadOptions = {}): Promise<DownloadResult> => {
  await mkdir(dirname(destination), { recursive: true });
  const partial = join(dirname(destination), `.partial-${randomUUID()}`);
  const idle = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, idle.signal]) : idle.signal;
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdleTimer = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => idle.abort(), options.idleTimeoutMs ?? 30_000);
  };
  try {
    armIdleTimer();
    let response: Response;
    try {
      response = await fetch(url, { redirect: 'follow', signal });
    } catch (error) {
      throw new DownloadError(idle.signal.aborted ? `no answer from ${new URL(url).host} within ${options.idleTimeoutMs ?? 30_000} ms` : `cannot connect: ${(error as Error).message}`, { cause: error });
    }
    if (!response.ok || !response.body) throw new DownloadError(`the server answered HTTP ${response.status}`);
    const declared = Number(response.headers.get('content-length'));
    const totalBytes = Number.isFinite(declared) && declared > 0 ? declared : undefined;
    const hash = createHash('sha256');
    let receivedBytes = 0;
    const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => {
      armIdleTimer();
      hash.update(chunk);
      receivedBytes += chunk.length;
      options.onProgress?.({ receivedBytes, totalBytes });
    });
    try {
      await pipeline(body, createWriteStream(partial, { mode: 0o644 }), { signal });
    } catch (error) {
      if (idle.signal.aborted) throw new DownloadError(`the download stalled: no data for ${options.idleTimeoutMs ?? 30_000} ms`, { cause: error });
      if (options.signal?.aborted) throw new DownloadError('the download was cancelled', { cause: error });
      throw new DownloadError(`the download broke off: ${(error as Error).message}`, { cause: error });
    }
    const sha256 = hash.digest('hex');
    if (totalBytes !== undefined && receivedBytes !== totalBytes) throw new DownloadError(`received ${receivedBytes} bytes of ${totalBytes}`);
    if (options.expectedSize !== undefined && receivedBytes !== options.expectedSize) {
      throw new DownloadError(`size mismatch: expected ${options.expectedSize} bytes, got ${receivedBytes}`);
    }
    if (options.expectedSha256 !== undefined && sha256 !== options.expectedSha256.toLowerCase()) {
      throw new DownloadError(`SHA-256 mismatch: expected ${options.expectedSha256}, got ${sha256}`);
    }
    await rename(partial, destination);
    return { path: destination, sizeBytes: receivedBytes, sha256 };
  } finally {
    clearTimeout(idleTimer);
    await rm(partial, { force: true });
  }
};
