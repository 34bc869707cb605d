import { readdirSync, readFileSync } from 'node:fs';

/** Whether a process still exists (a child that was killed and reaped does not). */
export const processExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Children of `parentPid` whose command line matches, as the kernel lists them now (fast enough to catch a 0.1 s process). */
export const childProcesses = (parentPid: number, command: RegExp): number[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return parent === parentPid && command.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      } catch {
        return false;
      }
    })
    .map(Number);
