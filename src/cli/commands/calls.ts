import type { Command } from 'commander';
import { CliError, ExitCode } from '../exit-codes.js';
import { printResult } from '../output.js';

interface ServerFlags {
  url: string;
  apiKey?: string;
  json?: boolean;
}

interface CallView {
  id: string;
  callSid: string | null;
  tenant: string;
  direction: string;
  from: string;
  to: string;
  agent: string;
  status: string;
  answeredBy: string | null;
  conversationId: string | null;
  endReason: string | null;
  error: string | null;
  createdAt: string;
  durationS: number | null;
  events?: Array<{ at: string; source: string; status: string | null; answeredBy: string | null }>;
}

const E164 = /^\+[1-9][0-9]{1,14}$/;

const withServerFlags = (command: Command): Command =>
  command
    .option('--url <url>', 'the Harken server', process.env.HARKEN_URL ?? 'http://127.0.0.1:8080')
    .option('--api-key <key>', 'an API key with scope calls (default $HARKEN_API_KEY)')
    .option('--json', 'machine-readable output');

/** Calls the running server's API: placing a call needs the server that carries its media stream. */
const request = async <T>(flags: ServerFlags, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
  const key = flags.apiKey ?? process.env.HARKEN_API_KEY;
  if (!key) throw new CliError('an API key with scope calls is needed: --api-key or $HARKEN_API_KEY', ExitCode.usage);
  let base: URL;
  try {
    base = new URL(flags.url);
  } catch {
    throw new CliError(`--url ${flags.url} is not a URL`, ExitCode.usage);
  }
  let response: Response;
  try {
    response = await fetch(new URL(path, base), {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    throw new CliError(`cannot reach ${base.origin}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${base.origin} answered ${response.status} without JSON`);
  }
  if (!response.ok) {
    const failure = (parsed as { error?: { code?: string; message?: string } }).error;
    throw new CliError(`${response.status} ${failure?.code ?? 'error'}: ${failure?.message ?? text.slice(0, 200)}`);
  }
  return parsed as T;
};

const line = (call: CallView): string =>
  `${call.id}  ${call.direction.padEnd(8)}  ${call.status.padEnd(11)}  ${call.from} → ${call.to}  ${call.agent}  ${call.createdAt}` +
  `${call.durationS !== null ? `  ${call.durationS}s` : ''}${call.endReason ? `  (${call.endReason})` : ''}${call.answeredBy ? `  answered by ${call.answeredBy}` : ''}`;

const detail = (call: CallView): string =>
  [
    line(call),
    `  call sid ${call.callSid ?? '(not placed)'}, tenant ${call.tenant}${call.conversationId ? `, conversation ${call.conversationId}` : ''}`,
    ...(call.error ? [`  error: ${call.error}`] : []),
    ...(call.events ?? []).map((event) => `  ${event.at}  ${event.source.padEnd(6)}  ${event.status ?? ''}${event.answeredBy ? ` answered by ${event.answeredBy}` : ''}`),
  ].join('\n');

const callId = (value: string): string => {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) throw new CliError(`${value} is not a call id (a UUID from harken calls list)`, ExitCode.usage);
  return value;
};

export const registerCallsCommand = (program: Command): void => {
  const calls = program.command('calls').description('phone calls through Twilio on a running server: place, list, show, hang up');

  withServerFlags(calls.command('place'))
    .description('place an outbound call; the agent speaks when it is answered')
    .requiredOption('--to <number>', 'E.164 number to dial (must match twilio.outboundAllow)')
    .option('--from <number>', 'your Twilio number to call from (default twilio.callerId)')
    .option('--agent <name>', 'the agent that talks (default agents.default)')
    .option('--machine-detection', 'detect answering machines (twilio.onMachine decides what then)')
    .option('--no-machine-detection', 'no answering-machine detection for this call')
    .option('--voicemail-message <text>', 'what to leave on an answering machine')
    .action(async (flags: ServerFlags & { to: string; from?: string; agent?: string; machineDetection?: boolean; voicemailMessage?: string }) => {
      if (!E164.test(flags.to)) throw new CliError(`--to ${flags.to} is not an E.164 number (+15550100)`, ExitCode.usage);
      if (flags.from && !E164.test(flags.from)) throw new CliError(`--from ${flags.from} is not an E.164 number`, ExitCode.usage);
      const call = await request<CallView>(flags, 'POST', '/v1/calls', {
        to: flags.to,
        ...(flags.from ? { from: flags.from } : {}),
        ...(flags.agent ? { agent: flags.agent } : {}),
        ...(flags.machineDetection !== undefined ? { machineDetection: flags.machineDetection } : {}),
        ...(flags.voicemailMessage ? { voicemailMessage: flags.voicemailMessage } : {}),
      });
      printResult(Boolean(flags.json), call, () => `placed ${call.id} (Twilio ${call.callSid}): ${call.from} → ${call.to}, ${call.status}`);
    });

  withServerFlags(calls.command('list'))
    .description('list calls, newest first')
    .option('--status <status>', 'only calls in this status (e.g. in-progress, completed)')
    .option('--direction <direction>', 'inbound or outbound')
    .option('--tenant <name>', 'only this tenant (admin keys)')
    .option('--limit <n>', 'how many (1–200)', '50')
    .action(async (flags: ServerFlags & { status?: string; direction?: string; tenant?: string; limit: string }) => {
      if (flags.direction && !['inbound', 'outbound'].includes(flags.direction)) throw new CliError('--direction is inbound or outbound', ExitCode.usage);
      if (!/^\d+$/.test(flags.limit) || Number(flags.limit) < 1 || Number(flags.limit) > 200) throw new CliError('--limit is a number from 1 to 200', ExitCode.usage);
      const query = new URLSearchParams({ limit: flags.limit, ...(flags.status ? { status: flags.status } : {}), ...(flags.direction ? { direction: flags.direction } : {}), ...(flags.tenant ? { tenant: flags.tenant } : {}) });
      const page = await request<{ calls: CallView[]; nextCursor: string | null }>(flags, 'GET', `/v1/calls?${query}`);
      printResult(Boolean(flags.json), page, () => (page.calls.length === 0 ? 'no calls' : page.calls.map(line).join('\n')));
    });

  withServerFlags(calls.command('show'))
    .description('one call with its status history')
    .argument('<id>', 'the call id')
    .action(async (id: string, flags: ServerFlags) => {
      const call = await request<CallView>(flags, 'GET', `/v1/calls/${callId(id)}`);
      printResult(Boolean(flags.json), call, () => detail(call));
    });

  withServerFlags(calls.command('hangup'))
    .description('hang up a call (or cancel one still ringing)')
    .argument('<id>', 'the call id')
    .action(async (id: string, flags: ServerFlags) => {
      const call = await request<CallView>(flags, 'POST', `/v1/calls/${callId(id)}/hangup`);
      printResult(Boolean(flags.json), call, () => `hung up ${call.id}: ${call.status}`);
    });
};
