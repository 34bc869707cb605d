import { readdirSync, readFileSync } from 'node:fs';

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

/**
 * Resident memory of a process's direct children (PocketSphinx decoder processes, flite runs),
 * in bytes, from /proc/<pid>/status. 0 where /proc is unavailable.
 */
export const childrenResidentBytes = (parentPid: number = process.pid): number => {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== parentPid) continue;
      total += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
};
