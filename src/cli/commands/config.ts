import type { Command } from 'commander';
import { stringify } from 'yaml';
import { redactSecrets } from '../../config/settings.js';
import { loadCliConfig, withConfigFlags, type ConfigFlags } from '../config-options.js';
import { printResult } from '../output.js';

export const registerConfigCommand = (program: Command): void => {
  withConfigFlags(program.command('config'))
    .description('validate the configuration and print the effective settings')
    .option('--json', 'machine-readable output')
    .action((options: ConfigFlags & { json?: boolean }) => {
      const config = loadCliConfig(options);
      const shown = redactSecrets(config);
      printResult(Boolean(options.json), shown, () => stringify(shown).trimEnd());
    });
};
