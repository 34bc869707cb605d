import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config/load.js';
import { runDoctor, type DoctorCheck } from '../../ops/doctor/run-doctor.js';
import { CliError, ExitCode } from '../exit-codes.js';
import type { ConfigFlags } from '../config-options.js';

interface DoctorFlags extends ConfigFlags {
  port?: string;
  apply?: boolean;
  engines: boolean;
  json?: boolean;
}

const MARK: Record<DoctorCheck['status'], string> = { ok: 'OK  ', warn: 'WARN', fail: 'FAIL' };

const line = (check: DoctorCheck): string => `${MARK[check.status]} ${check.name}: ${check.message}${check.fix ? `\n     fix: ${check.fix}` : ''}`;

/** `harken doctor`: checks before a start, or at any time, each one line with OK/WARN/FAIL and a fix. */
export const registerDoctorCommand = (program: Command): void => {
  program
    .command('doctor')
    .description('check the port, firewall, configuration, files, disk, database, speech engines and hardening; exit 1 if anything fails')
    .option('-c, --config <file>', 'config file (YAML or JSON); default: $HARKEN_CONFIG, else none')
    .option('--data-dir <dir>', 'data directory (overrides data.dir)')
    .option('--port <port>', 'the port to check (default: server.port)')
    .option('--apply', 'open the port in ufw or nftables when it is blocked (root only)')
    .option('--no-engines', 'skip loading the speech engines (faster)')
    .option('--json', 'machine-readable output')
    .action(async (flags: DoctorFlags) => {
      let config;
      try {
        config = loadConfig({ ...(flags.config ? { configPath: flags.config } : {}), overrides: { 'data.dir': flags.dataDir } });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        // The one check that cannot go on without the others: reported like the rest.
        const check: DoctorCheck = { name: 'config', status: 'fail', message: error.message.replace(/\n\s*/g, ' '), fix: 'correct the settings named above (harken config shows them all)' };
        process.stdout.write(flags.json ? `${JSON.stringify({ ok: false, checks: [check] }, null, 2)}\n` : `${line(check)}\n`);
        process.exitCode = ExitCode.failure;
        return;
      }
      const port = flags.port === undefined ? config.server.port : Number(flags.port);
      if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new CliError('--port must be a port number from 1 to 65535', ExitCode.usage);
      const checks = await runDoctor(config, { port, apply: flags.apply ?? false, engines: flags.engines });
      const healthy = checks.every((check) => check.status !== 'fail');
      if (flags.json) process.stdout.write(`${JSON.stringify({ ok: healthy, checks }, null, 2)}\n`);
      else process.stdout.write(`${checks.map(line).join('\n')}\n`);
      if (!healthy) process.exitCode = ExitCode.failure;
    });
};
