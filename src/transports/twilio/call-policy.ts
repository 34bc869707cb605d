import { ConfigError } from '../../config/load.js';
import type { HarkenConfig } from '../../config/schema.js';

export const E164 = /^\+[1-9][0-9]{1,14}$/;
export const PATTERN = /^\+[0-9]*\*?$/;

export const list = (value: string): string[] => value.split(',').map((item) => item.trim()).filter(Boolean);

/** `+1555*` matches every number starting +1555; without `*` the number must be equal. */
export const matches = (pattern: string, number: string): boolean => (pattern.endsWith('*') ? number.startsWith(pattern.slice(0, -1)) : number === pattern);

export type CallDecision = { readonly answer: true; readonly agent: string } | { readonly answer: false; readonly reason: 'unknown_number' | 'caller_denied' };

/** Which calls are answered, and by which agent (twilio.numbers, allowCallers, denyCallers). */
export class CallPolicy {
  private readonly numbers = new Map<string, string>();
  private readonly allow: string[];
  private readonly deny: string[];

  constructor(private readonly config: HarkenConfig) {
    const problems: Array<{ setting: string; source: string; message: string }> = [];
    for (const pair of list(config.twilio.numbers)) {
      const [number, agent] = pair.split('=').map((part) => part.trim());
      if (!number || !agent || !E164.test(number)) problems.push({ setting: 'twilio.numbers', source: 'HARKEN_TWILIO_NUMBERS', message: `"${pair}" is not +E164number=agent` });
      else this.numbers.set(number, agent);
    }
    const patterns = (setting: 'allowCallers' | 'denyCallers', env: string) =>
      list(config.twilio[setting]).filter((pattern) => {
        if (PATTERN.test(pattern)) return true;
        problems.push({ setting: `twilio.${setting}`, source: env, message: `"${pattern}" is not an E.164 number or prefix ending in *` });
        return false;
      });
    this.allow = patterns('allowCallers', 'HARKEN_TWILIO_ALLOW_CALLERS');
    this.deny = patterns('denyCallers', 'HARKEN_TWILIO_DENY_CALLERS');
    if (problems.length > 0) throw new ConfigError(problems);
  }

  /** The numbers configured in twilio.numbers (they may be used as caller id). */
  get ownNumbers(): string[] {
    return [...this.numbers.keys()];
  }

  decide(from: string, to: string): CallDecision {
    if (this.deny.some((pattern) => matches(pattern, from)) || (this.allow.length > 0 && !this.allow.some((pattern) => matches(pattern, from)))) return { answer: false, reason: 'caller_denied' };
    if (this.numbers.size === 0) return { answer: true, agent: this.config.agents.default };
    const agent = this.numbers.get(to);
    return agent ? { answer: true, agent } : { answer: false, reason: 'unknown_number' };
  }
}
