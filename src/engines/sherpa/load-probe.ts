import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { EngineUnavailableError } from '../engine-errors.js';

export type SherpaClass = 'OnlineRecognizer' | 'OfflineRecognizer' | 'OfflineTts';

/**
 * sherpa-onnx ends the whole process (exit(-1)) when a model file is unreadable or malformed,
 * which would take the server down with it. So a model is loaded once in a short-lived child
 * process first; only if that succeeds is it loaded here. Costs one model load at start-up.
 */
export const probeSherpaModel = async (engine: string, sherpaClass: SherpaClass, config: unknown, fix: string): Promise<void> => {
  const sherpaPath = createRequire(import.meta.url).resolve('sherpa-onnx-node');
  const script = `const sherpa = require(${JSON.stringify(sherpaPath)}); new sherpa.${sherpaClass}(JSON.parse(process.argv[1])); process.stdout.write('loaded');`;
  const outcome = await new Promise<{ ok: boolean; detail: string }>((resolve) => {
    execFile(process.execPath, ['-e', script, JSON.stringify(config)], { timeout: 120_000, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error && stdout.endsWith('loaded')) return resolve({ ok: true, detail: '' });
      const lines = `${stderr}`.split('\n').map((line) => line.trim()).filter(Boolean);
      const reason = lines.reverse().find((line) => /error|fail|invalid|not|cannot|exception/i.test(line)) ?? lines[0] ?? error?.message ?? 'unknown failure';
      resolve({ ok: false, detail: reason.replace(/^.*?csrc\/[^ ]+ /, '').slice(0, 300) });
    });
  });
  if (!outcome.ok) throw new EngineUnavailableError(engine, `sherpa-onnx cannot load the model: ${outcome.detail}`, fix);
};
