import type { Command } from 'commander';
import { EngineUnavailableError } from '../../engines/engine-errors.js';
import { AdminInputError } from '../../security/admins.js';
import { SecretError } from '../../security/server-secrets.js';
import { createLogger } from '../../logging/logger.js';
import { openLogFile } from '../../logging/log-file.js';
import { installGracefulShutdown, type ShutdownControl } from '../../ops/shutdown.js';
import { createHarken } from '../../runtime.js';
import { DatabaseOpenError } from '../../store/database.js';
import { MigrationError } from '../../store/migrations.js';
import { VERSION } from '../../version.js';
import { asCliError, loadCliConfig, withConfigFlags, type ConfigFlags } from '../config-options.js';
import { CliError, ExitCode } from '../exit-codes.js';

interface ServeFlags extends ConfigFlags {
  host?: string;
  port?: string;
}

const listenFailure = (error: NodeJS.ErrnoException, host: string, port: number): CliError | undefined => {
  if (error.code === 'EADDRINUSE') {
    return new CliError(`port ${port} on ${host} is already in use; stop the other process or choose another port with --port or HARKEN_SERVER_PORT`);
  }
  if (error.code === 'EACCES') {
    return new CliError(`not allowed to listen on ${host}:${port}; ports below 1024 need privileges — use a higher port with --port or HARKEN_SERVER_PORT`);
  }
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
    return new CliError(`cannot listen on ${host}: no such local address; set server.host (HARKEN_SERVER_HOST) to 127.0.0.1 or 0.0.0.0`);
  }
  return undefined;
};

export const registerServeCommand = (program: Command): void => {
  withConfigFlags(program.command('serve'))
    .description('start the Harken server')
    .option('--host <host>', 'interface to listen on (overrides server.host)')
    .option('--port <port>', 'port to listen on, 0 for any free port (overrides server.port)')
    .action(async (flags: ServeFlags) => {
      const config = loadCliConfig(flags, { 'server.host': flags.host, 'server.port': flags.port });
      let destination;
      try {
        destination = config.log.file ? await openLogFile(config.log) : undefined;
      } catch (error) {
        throw new CliError(`cannot write the log file ${config.log.file}: ${(error as Error).message}; fix log.file (HARKEN_LOG_FILE) or its directory's permissions`);
      }
      const logger = createLogger({ ...config.log, ...(destination ? { destination } : {}) });
      let harken;
      let shutdown: ShutdownControl | undefined;
      let criticalBeforeListening = false;
      // Over the critical memory level: drain and exit 1, for the supervisor to start a fresh process.
      const onMemoryCritical = () => {
        if (shutdown) shutdown.begin('memory', 1);
        else criticalBeforeListening = true;
      };
      try {
        harken = await createHarken(config, logger, undefined, {}, { onMemoryCritical });
      } catch (error) {
        if (error instanceof DatabaseOpenError || error instanceof MigrationError) throw new CliError(error.message);
        if (error instanceof EngineUnavailableError) throw new CliError(`${error.message}; ${error.fix}`);
        if (error instanceof SecretError || error instanceof AdminInputError) throw new CliError(error.message, ExitCode.usage);
        throw asCliError(error);
      }
      if (harken.migrations.applied.length > 0) logger.info({ migrations: harken.migrations.applied }, 'database schema created or upgraded');

      let address: string;
      try {
        address = await harken.app.listen({ host: config.server.host, port: config.server.port });
      } catch (error) {
        await harken.close();
        throw listenFailure(error as NodeJS.ErrnoException, config.server.host, config.server.port) ?? error;
      }
      const running = harken;
      shutdown = installGracefulShutdown({
        logger,
        timeoutMs: config.server.drainTimeoutMs + config.server.shutdownTimeoutMs,
        close: (why) => {
          running.runs.end('shutdown', why);
          return running.close();
        },
      });
      // SIGHUP: take a renewed TLS certificate now rather than at the next minute's check.
      process.on('SIGHUP', () => {
        if (!running.reloadTls()) logger.info('SIGHUP: the TLS certificate is unchanged (or TLS is off)');
      });
      // The run history learns of a crash: the next start reports it, and a restart loop shows.
      process.on('uncaughtException', (error, origin) => {
        logger.fatal({ err: error, origin }, 'uncaught error: exiting');
        running.runs.end('crash', `${error.name}: ${error.message}`);
        logger.flush?.();
        process.exit(1);
      });
      logger.info({ address, version: VERSION, dataDir: config.data.dir, agents: harken.agents.names() }, 'harken started');
      // The one line a person needs, on stderr so stdout stays machine-readable logs.
      process.stderr.write(
        `Harken ${VERSION} listening on ${address} — web app at ${address}/` +
          (config.server.docsEnabled ? ` — API docs at ${address}/docs` : '') +
          ` — data in ${config.data.dir}\n`,
      );
      if (harken.setupCode) {
        // For the person at this terminal only: stderr, never the log.
        process.stderr.write(
          `No admin yet. Open ${address}/ and choose "First run" with the setup code ${harken.setupCode}, or run \`harken admin create <username>\`, or:\n` +
            `  curl -X POST ${address}/v1/auth/setup -H 'content-type: application/json' -d '{"setupCode":"${harken.setupCode}","username":"admin","password":"…"}'\n`,
        );
      }
      // Announced first, so whoever started it sees where it ran before it goes.
      if (criticalBeforeListening) shutdown.begin('memory', 1);
    });
};

export { ExitCode };
