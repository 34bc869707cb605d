import { isIPv4, isIPv6 } from 'node:net';

/**
 * Client addresses in logs and the audit log are masked: IPv4 to /24, IPv6 to /48.
 * Enough to see that failures come from one network, not enough to identify a person.
 */
export const maskIp = (ip: string | undefined): string | null => {
  if (!ip) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const address = mapped ? (mapped[1] as string) : ip;
  if (isIPv4(address)) return `${address.split('.').slice(0, 3).join('.')}.0/24`;
  if (isIPv6(address)) {
    const [head = '', tail = ''] = address.split('::');
    const groups = head.split(':').filter(Boolean);
    const missing = 8 - groups.length - tail.split(':').filter(Boolean).length;
    const full = [...groups, ...Array(Math.max(0, missing)).fill('0'), ...tail.split(':').filter(Boolean)];
    return `${full.slice(0, 3).join(':')}::/48`;
  }
  return 'unknown';
};

/**
 * The key a client address is counted under by limits: IPv4 as is, IPv6 by its /64
 * (one subscriber usually holds a whole /64, so per-address limits would not bind).
 */
export const limitKeyOf = (ip: string | undefined): string => {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const headGroups = head.split(':').filter(Boolean);
  const tailGroups = ip.includes('::') ? tail.split(':').filter(Boolean) : [];
  const full = [...headGroups, ...Array(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups];
  return `${full.slice(0, 4).map((group) => group.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
};
