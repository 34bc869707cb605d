import type { Command } from 'commander';
import { openDatabase } from '../../runtime.js';
import { migrateToLatest } from '../../store/migrations.js';
import { loadCliConfig, withConfigFlags, type ConfigFlags } from '../config-options.js';
import { printResult } from '../output.js';

export const registerMigrateCommand = (program: Command): void => {
  withConfigFlags(program.command('migrate'))
    .description('create or upgrade the database schema (serve also does this on start)')
    .option('--json', 'machine-readable output')
    .action(async (options: ConfigFlags & { json?: boolean }) => {
      const config = loadCliConfig(options);
      const database = openDatabase(config);
      try {
        const report = await migrateToLatest(database.kysely);
        printResult(Boolean(options.json), { database: config.store.sqlitePath, ...report }, () =>
          report.applied.length > 0
            ? `applied ${report.applied.length} migration(s) to ${config.store.sqlitePath}: ${report.applied.join(', ')}`
            : `database ${config.store.sqlitePath} is up to date (${report.current ?? 'no migrations'})`,
        );
      } finally {
        await database.close();
      }
    });
};
