import type { DestinationStream } from 'pino';
// pino-roll ships no types: its default export makes a SonicBoom stream that rolls its file.
// @ts-expect-error -- untyped CommonJS module
import pinoRoll from 'pino-roll';

export interface LogFileSettings {
  readonly file: string;
  readonly fileMaxSizeMb: number;
  readonly fileFrequency: 'daily' | 'hourly' | 'none';
  readonly fileKeep: number;
}

/**
 * Log lines (JSON, as on stdout) into `file`, rolled by size and by day or hour into numbered
 * siblings (`harken.1.log`, `harken.2.log`, … with `current.log` linking to the one in use),
 * keeping `fileKeep` old ones. Owner-only: log lines carry masked addresses and ids.
 */
export const openLogFile = async (settings: LogFileSettings): Promise<DestinationStream> =>
  (await (pinoRoll as (options: Record<string, unknown>) => Promise<DestinationStream>)({
    file: settings.file,
    size: `${Math.max(1, Math.round(settings.fileMaxSizeMb * 1024))}k`,
    ...(settings.fileFrequency === 'none' ? {} : { frequency: settings.fileFrequency }),
    limit: { count: settings.fileKeep },
    symlink: true,
    mkdir: true,
    mode: 0o600,
    // Written as they come: a crash or SIGKILL loses no line already logged.
    sync: true,
  }));
