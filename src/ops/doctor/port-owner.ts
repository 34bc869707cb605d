import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { processCommandLine, processName } from '../processes.js';

export interface PortListener {
  /** The address listened on, as the kernel shows it (0.0.0.0, ::, 127.0.0.1 …). */
  readonly address: string;
  readonly inode: string;
}

export interface PortOwner {
  readonly pid: number;
  readonly name: string;
  readonly commandLine: string;
}

const LISTEN = '0A';

/** /proc/net/tcp's little-endian hex address as text. */
const decodeAddress = (hex: string): string => {
  if (hex.length === 8) return [3, 2, 1, 0].map((index) => Number.parseInt(hex.slice(index * 2, index * 2 + 2), 16)).join('.');
  // IPv6: four little-endian 32-bit words.
  const words = [0, 1, 2, 3].map((word) => hex.slice(word * 8, word * 8 + 8).match(/../g)!.reverse().join(''));
  const groups = words.flatMap((word) => [word.slice(0, 4), word.slice(4)]).map((group) => Number.parseInt(group, 16).toString(16));
  const text = groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  return text === '0::' || text === '::0' ? '::' : text;
};

/** Sockets listening on TCP `port` in this network namespace (from /proc/net/tcp and tcp6). */
export const listenersOn = (port: number): PortListener[] => {
  const found: PortListener[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== LISTEN) continue;
      const [addressHex, portHex] = (fields[1] as string).split(':') as [string, string];
      if (Number.parseInt(portHex, 16) !== port) continue;
      found.push({ address: decodeAddress(addressHex), inode: fields[9] as string });
    }
  }
  return found;
};

/**
 * The processes holding these sockets: every /proc/<pid>/fd link is read, so without root only
 * the caller's own processes are found.
 */
export const ownersOf = (listeners: readonly PortListener[]): PortOwner[] => {
  const wanted = new Set(listeners.map((listener) => `socket:[${listener.inode}]`));
  const owners: PortOwner[] = [];
  if (wanted.size === 0) return owners;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!wanted.has(target)) continue;
      const pid = Number(entry);
      owners.push({ pid, name: processName(pid) ?? '?', commandLine: processCommandLine(pid) ?? '?' });
      break;
    }
  }
  return owners;
};
