import { spawnSync } from 'node:child_process';

export interface FirewallVerdict {
  /** `open`: incoming TCP to the port is accepted; `blocked`: a chain drops it; `unknown`: the rules could not be read. */
  readonly state: 'open' | 'blocked' | 'unknown';
  /** Which tool's rules decided (ufw, nftables, iptables), if any. */
  readonly tool?: 'ufw' | 'nftables' | 'iptables';
  readonly detail: string;
  /** The exact command that opens the port, when it is blocked. */
  readonly fix?: string;
  /** Whether `fix` may be run by `harken doctor --apply` (ufw and nftables, as root). */
  readonly applicable?: boolean;
}

const run = (command: string, args: string[]): { ok: boolean; stdout: string; stderr: string; missing: boolean } => {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 5_000 });
  const missing = (result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { ok: result.status === 0, stdout: result.stdout ?? '', stderr: (result.stderr ?? '').trim(), missing };
};

type Json = Record<string, unknown>;

interface NftChain {
  readonly family: string;
  readonly table: string;
  readonly name: string;
  readonly hook?: string;
  readonly policy?: string;
}

interface NftRule {
  readonly family: string;
  readonly table: string;
  readonly chain: string;
  readonly expr: Json[];
}

/** Does an nft match's right-hand side include `port` (a number, a set, a range)? */
const includesPort = (right: unknown, port: number): boolean => {
  if (typeof right === 'number') return right === port;
  if (right && typeof right === 'object') {
    const value = right as Json;
    if (Array.isArray(value.set)) return value.set.some((item) => includesPort(item, port));
    if (Array.isArray(value.range)) return (value.range[0] as number) <= port && port <= (value.range[1] as number);
  }
  return false;
};

/** What a rule says about new TCP connections to `port`: accepted, dropped, undecided (other matches), or a jump to follow. */
const ruleVerdict = (rule: NftRule, port: number): { kind: 'accept' | 'drop' | 'none' } | { kind: 'jump'; target: string } => {
  let matchesPort: boolean | undefined;
  let otherMatches = false;
  for (const expression of rule.expr) {
    const match = expression.match as Json | undefined;
    if (match) {
      const left = match.left as Json | undefined;
      const payload = left?.payload as Json | undefined;
      if (payload?.protocol === 'tcp' && payload.field === 'dport' && match.op === '==') matchesPort = includesPort(match.right, port);
      else if (payload?.protocol === 'tcp' && payload.field === 'dport' && match.op === '!=') matchesPort = !includesPort(match.right, port);
      else otherMatches = true;
      continue;
    }
    if (matchesPort === false) return { kind: 'none' };
    if ('accept' in expression) return matchesPort || !otherMatches ? { kind: 'accept' } : { kind: 'none' };
    if ('drop' in expression || 'reject' in expression) return !otherMatches ? { kind: 'drop' } : { kind: 'none' };
    const jump = (expression.jump ?? expression.goto) as Json | undefined;
    if (jump && typeof jump.target === 'string') return { kind: 'jump', target: jump.target };
  }
  return { kind: 'none' };
};

/** First decision for the port along a chain (following jumps), or undefined to fall through to the policy. */
const chainDecision = (rules: readonly NftRule[], chain: NftChain, port: number, depth = 0): 'accept' | 'drop' | undefined => {
  if (depth > 8) return undefined;
  for (const rule of rules.filter((item) => item.family === chain.family && item.table === chain.table && item.chain === chain.name)) {
    const verdict = ruleVerdict(rule, port);
    if (verdict.kind === 'accept' || verdict.kind === 'drop') return verdict.kind;
    if (verdict.kind === 'jump') {
      const decided = chainDecision(rules, { family: chain.family, table: chain.table, name: verdict.target }, port, depth + 1);
      if (decided) return decided;
    }
  }
  return undefined;
};

/**
 * nftables (which iptables-nft also writes to): every base chain on the input hook must let the
 * port through — its rules in order (first decision wins), else its policy.
 */
export const nftVerdict = (ruleset: Json, port: number, ipv6: boolean): FirewallVerdict => {
  const items = (ruleset.nftables as Json[] | undefined) ?? [];
  const chains = items.map((item) => item.chain as NftChain | undefined).filter((chain): chain is NftChain => chain !== undefined);
  const rules = items.map((item) => item.rule as NftRule | undefined).filter((rule): rule is NftRule => rule !== undefined);
  const families = new Set(['inet', ipv6 ? 'ip6' : 'ip']);
  const inputChains = chains.filter((chain) => chain.hook === 'input' && families.has(chain.family));
  for (const chain of inputChains) {
    const decided = chainDecision(rules, chain, port) ?? (chain.policy === 'drop' ? 'drop' : 'accept');
    if (decided === 'drop') {
      return {
        state: 'blocked',
        tool: 'nftables',
        detail: `chain ${chain.family} ${chain.table} ${chain.name} drops tcp port ${port}`,
        fix: `nft insert rule ${chain.family} ${chain.table} ${chain.name} tcp dport ${port} accept`,
        applicable: true,
      };
    }
  }
  return { state: 'open', tool: 'nftables', detail: inputChains.length === 0 ? 'no nftables input chains: nothing filters incoming traffic' : `every nftables input chain accepts tcp port ${port}` };
};

/** `ufw status` when ufw is active: is the port allowed? */
const ufwVerdict = (status: string, port: number): FirewallVerdict | undefined => {
  if (!/^Status: active/m.test(status)) return undefined;
  const allowed = status.split('\n').some((line) => {
    const match = /^(\d+)(?::(\d+))?(?:\/(tcp|udp))?\s+(?:\(v6\)\s+)?ALLOW/.exec(line.trim());
    if (!match || match[3] === 'udp') return false;
    const low = Number(match[1]);
    const high = match[2] ? Number(match[2]) : low;
    return low <= port && port <= high;
  });
  return allowed
    ? { state: 'open', tool: 'ufw', detail: `ufw allows tcp port ${port}` }
    : { state: 'blocked', tool: 'ufw', detail: `ufw is active and does not allow tcp port ${port}`, fix: `ufw allow ${port}/tcp`, applicable: true };
};

/** `iptables -S INPUT` when nft is not there (legacy iptables). */
const iptablesVerdict = (rules: string, port: number): FirewallVerdict => {
  for (const line of rules.split('\n')) {
    const dport = /--dport (\d+)(?::(\d+))?/.exec(line);
    const covers = dport ? Number(dport[1]) <= port && port <= Number(dport[2] ?? dport[1]) : !/ -[spmio] | --sport /.test(line);
    if (!line.startsWith('-A INPUT') || !covers || (line.includes(' -p ') && !line.includes(' -p tcp'))) continue;
    if (/-j ACCEPT\b/.test(line)) return { state: 'open', tool: 'iptables', detail: `an iptables INPUT rule accepts tcp port ${port}` };
    if (/-j (DROP|REJECT)\b/.test(line)) break;
  }
  if (/^-P INPUT (DROP|REJECT)/m.test(rules) || /-A INPUT .*-j (DROP|REJECT)/.test(rules)) {
    return { state: 'blocked', tool: 'iptables', detail: `iptables INPUT drops tcp port ${port}`, fix: `iptables -I INPUT -p tcp --dport ${port} -j ACCEPT`, applicable: false };
  }
  return { state: 'open', tool: 'iptables', detail: 'iptables INPUT accepts by default' };
};

/** Reads the host firewall (ufw, else nftables, else iptables) and says whether `port` is reachable from outside. */
export const firewallVerdict = (port: number, ipv6 = false): FirewallVerdict => {
  const ufw = run('ufw', ['status']);
  if (!ufw.missing && ufw.ok) {
    const verdict = ufwVerdict(ufw.stdout, port);
    if (verdict) return verdict;
  }
  const nft = run('nft', ['-j', 'list', 'ruleset']);
  if (!nft.missing) {
    if (!nft.ok) return { state: 'unknown', detail: `cannot read the nftables rules (${nft.stderr || 'nft failed'}); run as root, or check that tcp port ${port} is open` };
    try {
      return nftVerdict(JSON.parse(nft.stdout || '{}') as Json, port, ipv6);
    } catch {
      return { state: 'unknown', detail: 'nft printed rules that could not be read' };
    }
  }
  const iptables = run('iptables', ['-S', 'INPUT']);
  if (!iptables.missing) {
    if (!iptables.ok) return { state: 'unknown', detail: `cannot read the iptables rules (${iptables.stderr || 'iptables failed'}); run as root` };
    return iptablesVerdict(iptables.stdout, port);
  }
  return { state: 'unknown', detail: `no firewall tool found here (ufw, nft, iptables); make sure the network in front (a cloud security group) allows tcp port ${port}` };
};

/** Runs the fix `firewallVerdict` proposed (ufw or nftables, as root). */
export const applyFirewallFix = (fix: string): { ok: boolean; error?: string } => {
  const [command, ...args] = fix.split(' ') as [string, ...string[]];
  const result = run(command, args);
  return result.ok ? { ok: true } : { ok: false, error: result.stderr || `${command} failed` };
};
