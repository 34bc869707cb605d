import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Where Harken looks for the Silero model, most specific first. */
export const sileroModelCandidates = (configured: string, modelsDir: string): string[] => {
  if (configured) return [configured];
  const candidates = [join(modelsDir, 'silero-vad', 'silero_vad.onnx')];
  try {
    // The browser VAD package ships Silero v4 ("legacy"), which sherpa-onnx runs; it makes VAD work offline out of the box.
    const packageJson = createRequire(import.meta.url).resolve('@ricky0123/vad-web/package.json');
    candidates.push(join(dirname(packageJson), 'dist', 'silero_vad_legacy.onnx'));
  } catch {
    // Package not installed: only the models directory remains.
  }
  return candidates;
};

export const findSileroModel = (configured: string, modelsDir: string): string | undefined =>
  sileroModelCandidates(configured, modelsDir).find((candidate) => existsSync(candidate));
