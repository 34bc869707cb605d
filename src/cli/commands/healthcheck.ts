import type { Command } from 'commander';
import type { HarkenConfig } from '../../config/schema.js';
import type { ConfigFlags } from '../config-options.js';
import { CliError, ExitCode } from '../exit-codes.js';

interface HealthcheckFlags extends ConfigFlags {
  url?: string;
  timeoutMs: string;
  json?: boolean;
}

interface ReadyBody {
  readonly status?: string;
  readonly checks?: Array<{ name: string; ok: boolean; error?: string }>;
  readonly warnings?: Array<{ name: string; message: string }>;
}

/** Where this machine's server answers: an address it listens on everywhere is reached on loopback. */
const localUrlOf = (config: HarkenConfig): string => {
  const host = config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host === '::' ? '[::1]' : config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  return `http://${host}:${config.server.port}`;
};

/**
 * For a container HEALTHCHECK or a systemd watchdog: exit 0 only when `/ready` says ready —
 * database writable, engines healthy, audio moving in the live sessions — within the time
 * limit. Quiet when healthy; one line on stderr saying why when not.
 */
export const registerHealthcheckCommand = (program: Command): void => {
  program
    .command('healthcheck')
    .option('-c, --config <file>', 'config file (YAML or JSON); default: $HARKEN_CONFIG, else none')
    .option('--data-dir <dir>', 'data directory (overrides data.dir)')
    .description('exit 0 when the server is ready and its audio is flowing (for HEALTHCHECK and systemd); quiet unless it fails')
    .option('--url <url>', 'the server (default: $HARKEN_URL, else the configured server.host and server.port)')
    .option('--timeout-ms <ms>', 'give up after this long', '1000')
    .option('--json', 'print the result as JSON')
    .action(async (flags: HealthcheckFlags) => {
      const timeoutMs = Number(flags.timeoutMs);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new CliError('--timeout-ms must be a positive whole number of milliseconds', ExitCode.usage);
      // The configuration (and its schema) is loaded only when no URL is given: this runs every few seconds.
      const base = (flags.url ?? process.env.HARKEN_URL ?? localUrlOf((await import('../config-options.js')).loadCliConfig(flags))).replace(/\/+$/, '');
      const started = performance.now();
      let status: number | undefined;
      let body: ReadyBody = {};
      let problem: string | undefined;
      try {
        const response = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(timeoutMs) });
        status = response.status;
        body = (await response.json().catch(() => ({}))) as ReadyBody;
        if (status !== 200) {
          const failing = (body.checks ?? []).filter((check) => !check.ok).map((check) => `${check.name}: ${check.error ?? 'failed'}`);
          problem = `not ready (${status})${failing.length > 0 ? `: ${failing.join('; ')}` : ''}`;
        }
      } catch (error) {
        const failure = error as Error & { cause?: { code?: string; message?: string } };
        problem = failure.name === 'TimeoutError' ? `no answer from ${base} within ${timeoutMs} ms` : `cannot reach ${base}: ${failure.cause?.code ?? failure.cause?.message ?? failure.message}`;
      }
      const ms = Math.round(performance.now() - started);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ healthy: problem === undefined, url: base, status: status ?? null, ms, checks: body.checks ?? [], warnings: body.warnings ?? [], ...(problem ? { problem } : {}) })}\n`);
        if (problem) process.exitCode = ExitCode.failure;
        return;
      }
      if (problem) throw new CliError(problem);
    });
};
