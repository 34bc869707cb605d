import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { HarkenConfig } from '../config/schema.js';
import { releaseUrl, type ModelEntry } from './catalog.js';
import { downloadFile, type DownloadProgress } from './download.js';
import { UnpackError, unpackTarBz2 } from './unpack.js';

/** Written beside an installed model: where it came from and what was verified. */
export interface ModelManifest {
  readonly name: string;
  readonly url: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  /** False when the catalog pins no checksum for this model (recorded, not checked). */
  readonly verified: boolean;
  readonly installedAt: string;
}

const MANIFEST = 'harken-model.json';

export const modelsDirOf = (config: HarkenConfig): string => config.models.dir;

export const modelDir = (modelsDir: string, name: string): string => join(modelsDir, name);

export const readManifest = async (modelsDir: string, name: string): Promise<ModelManifest | undefined> => {
  try {
    return JSON.parse(await readFile(join(modelDir(modelsDir, name), MANIFEST), 'utf8')) as ModelManifest;
  } catch {
    return undefined;
  }
};

export const installedModels = async (modelsDir: string): Promise<ModelManifest[]> => {
  const names = existsSync(modelsDir) ? await readdir(modelsDir) : [];
  const manifests = await Promise.all(names.map((name) => readManifest(modelsDir, name)));
  return manifests.filter((manifest): manifest is ModelManifest => manifest !== undefined);
};

export interface PullOptions {
  readonly onProgress?: (progress: DownloadProgress) => void;
  readonly idleTimeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly baseUrl?: string;
}

/**
 * Downloads, verifies and installs one model into `<modelsDir>/<name>/`. Work happens in a
 * staging folder that replaces the model's folder only when everything is in place.
 */
export const pullModel = async (modelsDir: string, entry: ModelEntry, options: PullOptions = {}): Promise<ModelManifest> => {
  const url = releaseUrl(entry, options.baseUrl);
  const staging = join(modelsDir, `.staging-${entry.name}-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const download = await downloadFile(url, join(staging, basename(entry.path)), {
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(entry.sizeBytes !== undefined ? { expectedSize: entry.sizeBytes } : {}),
      ...(entry.sha256 !== undefined ? { expectedSha256: entry.sha256 } : {}),
    });
    const target = join(staging, 'model');
    await mkdir(target);
    if (entry.archive === 'file') {
      await rename(download.path, join(target, basename(entry.path)));
    } else {
      await unpackTarBz2(download.path, staging);
      await rm(download.path);
      // sherpa-onnx archives hold one top folder named like the archive: its content is the model.
      const top = join(staging, basename(entry.path, '.tar.bz2'));
      if (!existsSync(top)) throw new UnpackError(`the archive has no folder ${basename(top)}`);
      await rm(target, { recursive: true });
      await rename(top, target);
    }
    const missing = entry.files.filter((file) => !existsSync(join(target, file)));
    if (missing.length > 0) throw new UnpackError(`the download lacks ${missing.join(', ')}`);
    const manifest: ModelManifest = {
      name: entry.name,
      url,
      sha256: download.sha256,
      sizeBytes: download.sizeBytes,
      verified: entry.sha256 !== undefined,
      installedAt: new Date().toISOString(),
    };
    await writeFile(join(target, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    const destination = modelDir(modelsDir, entry.name);
    await rm(destination, { recursive: true, force: true });
    await rename(target, destination);
    return manifest;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
};

export const removeModel = async (modelsDir: string, name: string): Promise<boolean> => {
  const directory = modelDir(modelsDir, name);
  if (!existsSync(directory)) return false;
  await rm(directory, { recursive: true, force: true });
  return true;
};
