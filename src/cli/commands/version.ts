import type { Command } from 'commander';
import { VERSION } from '../../version.js';
import { printResult } from '../output.js';

export const registerVersionCommand = (program: Command): void => {
  program
    .command('version')
    .description('print the Harken version')
    .option('--json', 'machine-readable output')
    .action((options: { json?: boolean }) => {
      printResult(Boolean(options.json), { version: VERSION, node: process.version }, () => `harken ${VERSION} (node ${process.version})`);
    });
};
