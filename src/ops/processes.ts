import { readFileSync } from 'node:fs';

/** A process's command line from /proc (Linux), or undefined when it is gone or unreadable. */
export const processCommandLine = (pid: number): string | undefined => {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const command = raw.split('\0').filter(Boolean).join(' ');
    return command || undefined;
  } catch {
    return undefined;
  }
};

/** A process's short name (`comm`) from /proc. */
export const processName = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
};
