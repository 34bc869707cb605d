// Builds the web app (web/) into dist/web: one ES module and one stylesheet with content hashes in
// their names (served with a long cache), and index.html pointing at them. Prints the sizes.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist', 'web');
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

// The microphone's AudioWorklet is a module of its own (the page's CSP allows scripts from this
// origin only, so it cannot be a blob): built first, its hashed URL compiled into the app.
const worklet = await build({
  entryPoints: { 'capture-worklet': join(root, 'web', 'worklet', 'capture-worklet.ts') },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  entryNames: '[name]-[hash]',
  outdir: join(out, 'assets'),
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const workletName = basename(Object.keys(worklet.metafile.outputs)[0]);

const result = await build({
  entryPoints: { app: join(root, 'web', 'src', 'main.tsx') },
  define: { HARKEN_CAPTURE_WORKLET_URL: JSON.stringify(`/assets/${workletName}`) },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  outdir: join(out, 'assets'),
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const script = outputs.find((name) => name.endsWith('.js'));
const style = outputs.find((name) => name.endsWith('.css'));
if (!script || !style) throw new Error(`the web build made ${outputs.join(', ')}, not one .js and one .css`);
const html = readFileSync(join(root, 'web', 'index.html'), 'utf8').replace('/assets/app.js', `/assets/${script}`).replace('/assets/app.css', `/assets/${style}`);
writeFileSync(join(out, 'index.html'), html);
const sizes = [script, style, workletName].map((name) => {
  const bytes = readFileSync(join(out, 'assets', name));
  return { name, bytes: bytes.length, gzip: gzipSync(bytes).length };
});
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ files: ['index.html', ...sizes.map((entry) => `assets/${entry.name}`)], sizes }, null, 2)}\n`);
for (const entry of sizes) console.log(`web: ${entry.name} ${(entry.bytes / 1024).toFixed(1)} KiB (${(entry.gzip / 1024).toFixed(1)} KiB gzip)`);
