import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class UnpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnpackError';
  }
}

/** Entries that would land outside the target directory. */
export const unsafeEntries = (entries: readonly string[]): string[] =>
  entries.filter((entry) => entry.startsWith('/') || entry.split('/').includes('..'));

/**
 * Unpacks a .tar.bz2 with the system tar into `directory`, after listing it
 * and refusing absolute paths or `..` segments; links are not followed out either.
 */
export const unpackTarBz2 = async (archive: string, directory: string): Promise<string[]> => {
  let listing: string;
  try {
    listing = (await run('tar', ['-tjf', archive], { maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (error) {
    throw new UnpackError(`not a readable .tar.bz2 archive: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split('\n')[0]}`);
  }
  const entries = listing.split('\n').filter(Boolean);
  const unsafe = unsafeEntries(entries);
  if (unsafe.length > 0) throw new UnpackError(`the archive has entries outside its folder (${unsafe.slice(0, 3).join(', ')}); refusing to unpack it`);
  await run('tar', ['-xjf', archive, '-C', directory, '--no-same-owner', '--no-same-permissions'], { maxBuffer: 64 * 1024 * 1024 });
  return entries;
};
