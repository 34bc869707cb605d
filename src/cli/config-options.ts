import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import type { HarkenConfig } from '../config/schema.js';
import { FlowError } from '../agents/dialogue/load-flow.js';
import { CliError, ExitCode } from './exit-codes.js';

export interface ConfigFlags {
  config?: string;
  dataDir?: string;
}

/** Flags every command that reads configuration accepts. */
export const withConfigFlags = (command: Command): Command =>
  command
    .option('-c, --config <file>', 'config file (YAML or JSON); default: $HARKEN_CONFIG, else none')
    .option('--data-dir <dir>', 'data directory (overrides data.dir)');

/** Loads the configuration for a command; invalid settings become a usage error (exit 2). */
export const loadCliConfig = (flags: ConfigFlags, overrides: Record<string, unknown> = {}): HarkenConfig => {
  try {
    return loadConfig({
      ...(flags.config ? { configPath: flags.config } : {}),
      overrides: { 'data.dir': flags.dataDir, ...overrides },
    });
  } catch (error) {
    throw asCliError(error);
  }
};

/** Configuration and flow problems are the user's to fix: report them as usage errors. */
export const asCliError = (error: unknown): unknown => {
  if (error instanceof ConfigError || error instanceof FlowError) return new CliError(error.message, ExitCode.usage);
  return error;
};
