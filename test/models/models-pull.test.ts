import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModelEntry } from '../../src/models/catalog.js';
import { downloadFile } from '../../src/models/download.js';
import { installedModels, pullModel, removeModel } from '../../src/models/store.js';
import { runCliAsync } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/temp-dir.js';

/** A local release host: real archives built with tar, plus misbehaving routes. */
describe('harken models: download, verify, unpack', () => {
  const tempDir = useTempDirs();
  let server: Server;
  let base: string;
  let files: Map<string, Buffer>;

  const buildArchive = (name: string, entries: Record<string, string>, extraArgs: string[] = []): Buffer => {
    const root = tempDir();
    mkdirSync(join(root, name));
    for (const [file, content] of Object.entries(entries)) writeFileSync(join(root, name, file), content);
    execFileSync('tar', ['-cjf', join(root, 'out.tar.bz2'), '-C', root, ...extraArgs, name]);
    return readFileSync(join(root, 'out.tar.bz2'));
  };

  beforeEach(async () => {
    files = new Map();
    server = createServer((request, response) => {
      const url = request.url ?? '';
      if (url.startsWith('/redirect/')) return void response.writeHead(302, { location: url.replace('/redirect', '') }).end();
      if (url.startsWith('/stall/')) {
        response.writeHead(200, { 'content-length': '1000000' });
        response.write(Buffer.alloc(1000));
        return; // never finishes
      }
      const body = files.get(url);
      if (!body) return void response.writeHead(404).end('not found');
      response.writeHead(200, { 'content-length': String(body.length) }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const entry = (overrides: Partial<ModelEntry> = {}): ModelEntry => ({
    name: 'tiny-model',
    kind: 'tts',
    description: 'test model',
    license: 'MIT',
    path: 'tts-models/tiny-model.tar.bz2',
    archive: 'tar.bz2',
    files: ['model.onnx', 'tokens.txt'],
    ...overrides,
  });

  const leftovers = (directory: string) => (existsSync(directory) ? readdirSync(directory).filter((name) => name.startsWith('.')) : []);

  it('downloads through a redirect, unpacks the archive and records a manifest', async () => {
    const archive = buildArchive('tiny-model', { 'model.onnx': 'weights', 'tokens.txt': 'a 1\n' });
    files.set('/tts-models/tiny-model.tar.bz2', archive);
    const modelsDir = tempDir();
    const progress: number[] = [];
    const sha256 = createHash('sha256').update(archive).digest('hex');
    const manifest = await pullModel(modelsDir, entry({ sha256, sizeBytes: archive.length }), {
      baseUrl: `${base}/redirect`,
      onProgress: ({ receivedBytes }) => progress.push(receivedBytes),
    });
    expect(manifest).toMatchObject({ name: 'tiny-model', sha256, sizeBytes: archive.length, verified: true, url: `${base}/redirect/tts-models/tiny-model.tar.bz2` });
    expect(readFileSync(join(modelsDir, 'tiny-model', 'model.onnx'), 'utf8')).toBe('weights');
    expect(progress.at(-1)).toBe(archive.length);
    expect((await installedModels(modelsDir)).map((installed) => installed.name)).toEqual(['tiny-model']);
    expect(leftovers(modelsDir)).toEqual([]);
    expect(await removeModel(modelsDir, 'tiny-model')).toBe(true);
    expect(existsSync(join(modelsDir, 'tiny-model'))).toBe(false);
  });

  it('stores single-file models as they are', async () => {
    files.set('/asr-models/silero_vad.onnx', Buffer.from('onnx bytes'));
    const modelsDir = tempDir();
    const manifest = await pullModel(modelsDir, entry({ name: 'silero-vad', path: 'asr-models/silero_vad.onnx', archive: 'file', files: ['silero_vad.onnx'] }), { baseUrl: base });
    expect(manifest.verified).toBe(false);
    expect(readFileSync(join(modelsDir, 'silero-vad', 'silero_vad.onnx'), 'utf8')).toBe('onnx bytes');
  });

  it('refuses a checksum mismatch and leaves nothing behind', async () => {
    files.set('/tts-models/tiny-model.tar.bz2', buildArchive('tiny-model', { 'model.onnx': 'x', 'tokens.txt': 'y' }));
    const modelsDir = tempDir();
    await expect(pullModel(modelsDir, entry({ sha256: 'ab'.repeat(32) }), { baseUrl: base })).rejects.toThrow(/SHA-256 mismatch: expected abab.*, got [0-9a-f]{64}/);
    expect(readdirSync(modelsDir)).toEqual([]);
  });

  it('refuses an archive that escapes its folder', async () => {
    // GNU tar strips "../" when creating, so build the hostile archive the way an attacker would.
    const root = tempDir();
    execFileSync('python3', ['-c', `import tarfile, io
t = tarfile.open('${join(root, 'evil.tar.bz2')}', 'w:bz2')
data = b'owned'
info = tarfile.TarInfo('../evil'); info.size = len(data); t.addfile(info, io.BytesIO(data)); t.close()`]);
    files.set('/tts-models/tiny-model.tar.bz2', readFileSync(join(root, 'evil.tar.bz2')));
    const modelsDir = tempDir();
    await expect(pullModel(modelsDir, entry(), { baseUrl: base })).rejects.toThrow(/entries outside its folder \(\.\.\/evil\)/);
    expect(readdirSync(modelsDir)).toEqual([]);
  });

  it('names a missing file in an archive, a 404 and a stalled server', async () => {
    files.set('/tts-models/tiny-model.tar.bz2', buildArchive('tiny-model', { 'model.onnx': 'x' }));
    const modelsDir = tempDir();
    await expect(pullModel(modelsDir, entry(), { baseUrl: base })).rejects.toThrow('the download lacks tokens.txt');
    await expect(pullModel(modelsDir, entry({ path: 'nope.tar.bz2' }), { baseUrl: base })).rejects.toThrow('the server answered HTTP 404');
    const destination = join(tempDir(), 'x.bin');
    await expect(downloadFile(`${base}/stall/x`, destination, { idleTimeoutMs: 300 })).rejects.toThrow('the download stalled: no data for 300 ms');
    expect(existsSync(destination)).toBe(false);
    expect(leftovers(modelsDir)).toEqual([]);
  });

  it('works from the CLI: list, pull with progress and --json, remove, and errors with exit codes', async () => {
    const cwd = tempDir();
    const modelsDir = join(cwd, 'models');
    files.set('/asr-models/silero_vad.onnx', Buffer.alloc(50_000, 7));
    const env = { HARKEN_MODELS_BASE_URL: base };
    const pull = await runCliAsync(['models', 'pull', 'silero-vad', '--models-dir', modelsDir, '--json'], { cwd, env });
    expect(pull.status, pull.stderr).toBe(0);
    expect(JSON.parse(pull.stdout)).toMatchObject({ name: 'silero-vad', sizeBytes: 50_000, verified: false });
    expect(pull.stderr).toMatch(/silero-vad: .*MB/);
    expect(pull.stderr).toMatch(/no pinned checksum; recorded SHA-256 [0-9a-f]{64}/);
    const list = JSON.parse((await runCliAsync(['models', 'list', '--models-dir', modelsDir, '--json'], { cwd, env })).stdout);
    expect(list.models.find((model: { name: string }) => model.name === 'silero-vad').installed).toBe(true);
    // Without --models-dir the configuration is loaded: the mirror's variable is ours, not an unknown setting.
    const configured = await runCliAsync(['models', 'list', '--json'], { cwd, env: { ...env, HARKEN_DATA_DIR: cwd } });
    expect(configured.status, configured.stderr).toBe(0);
    expect(JSON.parse(configured.stdout).models.find((model: { name: string }) => model.name === 'silero-vad').installed).toBe(true);
    expect((await runCliAsync(['models', 'remove', 'silero-vad', '--models-dir', modelsDir], { cwd })).status).toBe(0);
    const unknown = await runCliAsync(['models', 'pull', 'gpt-5'], { cwd });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^harken: unknown model "gpt-5"; known models: silero-vad, /);
    const offline = await runCliAsync(['models', 'pull', 'vits-piper-en_US-amy-low', '--models-dir', modelsDir], { cwd, env: { HARKEN_MODELS_BASE_URL: 'http://127.0.0.1:9' } });
    expect(offline.status).toBe(1);
    expect(offline.stderr).toMatch(/^harken: cannot download vits-piper-en_US-amy-low from http:\/\/127\.0\.0\.1:9\/tts-models\/vits-piper-en_US-amy-low\.tar\.bz2: cannot connect: .*download it by hand/);
    }, 60_000); // five CLI processes: seconds each on a loaded two-core machine
});
