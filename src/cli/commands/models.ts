import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { MODEL_CATALOG, findModel, releaseUrl } from '../../models/catalog.js';
import type { DownloadProgress } from '../../models/download.js';
import { installedModels, modelsDirOf, pullModel, removeModel } from '../../models/store.js';
import { loadCliConfig, withConfigFlags, type ConfigFlags } from '../config-options.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { printResult } from '../output.js';

interface ModelsFlags extends ConfigFlags {
  json?: boolean;
  modelsDir?: string;
}

const resolveModelsDir = (flags: ModelsFlags): string => flags.modelsDir ?? modelsDirOf(loadCliConfig(flags));

const entryNamed = (name: string) => {
  const entry = findModel(name);
  if (!entry) throw new CliError(`unknown model "${name}"; known models: ${MODEL_CATALOG.map((model) => model.name).join(', ')}`, ExitCode.usage);
  return entry;
};

const megabytes = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;

/** A bar on a terminal; otherwise a line every ~10 %, so logs stay readable. */
const progressReporter = (name: string): { update: (progress: DownloadProgress) => void; stop: () => void } => {
  if (process.stderr.isTTY) {
    const bar = new SingleBar({ format: `${name} [{bar}] {percentage}% {value}/{total} bytes`, stream: process.stderr, hideCursor: true });
    let started = false;
    return {
      update: ({ receivedBytes, totalBytes }) => {
        if (!started) bar.start(totalBytes ?? 0, 0);
        started = true;
        if (totalBytes) bar.setTotal(totalBytes);
        bar.update(receivedBytes);
      },
      stop: () => started && bar.stop(),
    };
  }
  let nextReport = 0;
  return {
    update: ({ receivedBytes, totalBytes }) => {
      const share = totalBytes ? receivedBytes / totalBytes : 0;
      if (share >= nextReport) {
        process.stderr.write(`${name}: ${megabytes(receivedBytes)}${totalBytes ? ` of ${megabytes(totalBytes)} (${Math.floor(share * 100)}%)` : ''}\n`);
        nextReport = Math.floor(share * 10) / 10 + 0.1;
      }
    },
    stop: () => undefined,
  };
};

export const registerModelsCommand = (program: Command): void => {
  const models = program.command('models').description('list, download and remove models for the sherpa-onnx engines');
  const withFlags = (command: Command) => withConfigFlags(command).option('--models-dir <dir>', 'models directory (overrides models.dir)').option('--json', 'machine-readable output');

  withFlags(models.command('list'))
    .description('show the models Harken can download and which are installed')
    .action(async (flags: ModelsFlags) => {
      const directory = resolveModelsDir(flags);
      const installed = new Map((await installedModels(directory)).map((manifest) => [manifest.name, manifest]));
      const rows = MODEL_CATALOG.map((entry) => ({ name: entry.name, kind: entry.kind, license: entry.license, description: entry.description, installed: installed.has(entry.name), url: releaseUrl(entry) }));
      printResult(Boolean(flags.json), { modelsDir: directory, models: rows }, () =>
        [`models in ${directory}:`, ...rows.map((row) => `  ${row.installed ? '✓' : ' '} ${row.name.padEnd(56)} ${row.kind.padEnd(4)} ${row.license}`)].join('\n'),
      );
    });

  withFlags(models.command('pull'))
    .argument('<name>', 'model to download')
    .option('--idle-timeout-ms <ms>', 'give up when no data arrives for this long', '30000')
    .description('download a model from its official release, verify it and unpack it')
    .action(async (name: string, flags: ModelsFlags & { idleTimeoutMs: string }) => {
      const entry = entryNamed(name);
      const directory = resolveModelsDir(flags);
      const progress = progressReporter(entry.name);
      const controller = new AbortController();
      const cancel = () => controller.abort();
      process.once('SIGINT', cancel);
      let manifest;
      try {
        manifest = await pullModel(directory, entry, { onProgress: progress.update, idleTimeoutMs: Number(flags.idleTimeoutMs), signal: controller.signal });
      } catch (error) {
        progress.stop();
        throw new CliError(
          `cannot download ${entry.name} from ${releaseUrl(entry)}: ${(error as Error).message}; check the internet connection, or download it by hand and unpack it into ${directory}/${entry.name}`,
        );
      } finally {
        process.off('SIGINT', cancel);
      }
      progress.stop();
      if (!manifest.verified) process.stderr.write(`note: ${entry.name} has no pinned checksum; recorded SHA-256 ${manifest.sha256} (${manifest.sizeBytes} bytes)\n`);
      printResult(Boolean(flags.json), manifest, () => `installed ${entry.name} in ${directory}/${entry.name} (${megabytes(manifest.sizeBytes)}, SHA-256 ${manifest.sha256})`);
    });

  withFlags(models.command('remove'))
    .argument('<name>', 'model to remove')
    .description('delete an installed model')
    .action(async (name: string, flags: ModelsFlags) => {
      entryNamed(name);
      const directory = resolveModelsDir(flags);
      const removed = await removeModel(directory, name);
      if (!removed) throw new CliError(`${name} is not installed in ${directory}`);
      printResult(Boolean(flags.json), { removed: name }, () => `removed ${name}`);
    });
};
