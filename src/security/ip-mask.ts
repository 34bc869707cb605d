import { isIPv4, isIPv6 } from 'node:net';

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address it carries. */
const unmapped = (ip: string): string => IPV4_MAPPED.exec(ip)?.[1] ?? ip;

/** The eight groups of an IPv6 address, `::` expanded, lower case, leading zeros dropped. */
export const expandIpv6 = (ip: string): string[] => {
  const [head = '', tail = ''] = ip.split('::');
  const headGroups = head.split(':').filter(Boolean);
  const tailGroups = ip.includes('::') ? tail.split(':').filter(Boolean) : [];
  const zeros = Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''));
};

/**
 * Client addresses in logs and the audit log are masked: IPv4 to /24, IPv6 to /48.
 * Enough to see that failures come from one network, not enough to identify a person.
 */
export const maskIp = (ip: string | undefined): string | null => {
  if (!ip) return null;
  const address = unmapped(ip);
  if (isIPv4(address)) return `${address.split('.').slice(0, 3).join('.')}.0/24`;
  if (isIPv6(address)) return `${expandIpv6(address).slice(0, 3).join(':')}::/48`;
  return 'unknown';
};

/**
 * The key a client address is counted under by limits: IPv4 as is, IPv6 by its /64
 * (one subscriber usually holds a whole /64, so per-address limits would not bind).
 * Called on every request: IPv4 (no colon) returns before any parsing.
 */
export const limitKeyOf = (ip: string | undefined): string => {
  if (!ip) return 'unknown';
  if (!ip.includes(':')) return ip;
  const address = unmapped(ip);
  if (address !== ip || !isIPv6(ip)) return address;
  return `${expandIpv6(ip).slice(0, 4).join(':')}::/64`;
};
