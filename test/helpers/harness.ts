import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/load.js';
import type { HarkenConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/logging/logger.js';
import { createHarken, type Harken } from '../../src/runtime.js';
import { SHARED_MODELS } from './shared.js';

/** Log lines captured in memory, so tests can assert on what was (not) logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    callback();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestServer {
  readonly harken: Harken;
  readonly config: HarkenConfig;
  readonly logs: LogCapture;
}

/** A real in-process Harken on a temp data dir (real SQLite file), driven with app.inject. */
export const startTestServer = async (
  dataDir: string,
  env: Record<string, string> = {},
  now?: () => Date,
): Promise<TestServer> => {
  const config = loadConfig({ env: { HARKEN_DATA_DIR: dataDir, HARKEN_LOG_LEVEL: 'info', ...env } });
  const logs = new LogCapture();
  const logger = createLogger({ level: config.log.level, format: 'json', destination: logs });
  const harken = await createHarken(config, logger, now);
  await harken.app.ready();
  return { harken, config, logs };
};

/** Settings that make voice tests find the shared models. */
export const voiceTestEnv = (): Record<string, string> => ({
  HARKEN_VAD_MODEL: `${SHARED_MODELS}/vad/silero_vad_v4.onnx`,
});

/** A real in-process Harken listening on a free loopback port, for WebSocket and HTTP clients. */
export const startListeningServer = async (dataDir: string, env: Record<string, string> = {}): Promise<TestServer & { url: string; wsUrl: string }> => {
  const server = await startTestServer(dataDir, { ...voiceTestEnv(), ...env });
  const url = await server.harken.app.listen({ host: '127.0.0.1', port: 0 });
  return { ...server, url, wsUrl: `${url.replace(/^http/, 'ws')}/v1/realtime` };
};
