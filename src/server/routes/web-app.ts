import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';

/** Where `npm run build` puts the web app (scripts/build-web.mjs), from src/ and from dist/ alike. */
export const WEB_BUILD_DIR = fileURLToPath(new URL('../../../dist/web/', import.meta.url));

interface WebFile {
  readonly body: Buffer;
  readonly type: string;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8' };

/** The built files, read once: only what the build listed is ever served (no paths from the request reach the file system). */
const loadBuild = (dir: string): Map<string, WebFile> | undefined => {
  let manifest: { files: string[] };
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: string[] };
  } catch {
    return undefined;
  }
  return new Map(manifest.files.map((file) => [file, { body: readFileSync(join(dir, file)), type: TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream' }]));
};

const NOT_BUILT = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Harken</title></head><body><h1>Harken</h1><p>The web app is not built: run <code>npm run build</code> (or <code>npm start</code>).</p></body></html>';

/**
 * The web app: `GET /` is its page, `GET /assets/<name>` its script and stylesheet (content-hashed
 * names, cached for a year). Public: the page itself holds nothing; everything it shows comes from
 * the API with the admin's session.
 */
export const webAppRoutes = (dir = WEB_BUILD_DIR): FastifyPluginAsync =>
  async (app) => {
    const files = loadBuild(dir);
    app.get('/', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) => {
      const page = files?.get('index.html');
      return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(page ? page.body : NOT_BUILT);
    });
    app.get<{ Params: { name: string } }>('/assets/:name', { config: { access: 'public' }, schema: { hide: true } }, async (request, reply) => {
      const file = files?.get(`assets/${request.params.name}`);
      if (!file) return reply.status(404).send({ error: { code: 'not_found', message: 'no such asset' } });
      return reply.header('cache-control', 'public, max-age=31536000, immutable').type(file.type).send(file.body);
    });
  };
