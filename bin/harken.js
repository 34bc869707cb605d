#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build`. `healthcheck` runs often
// (container health checks): it gets an entry point of its own that loads no server code.
const entry = process.argv[2] === 'healthcheck' ? '../dist/cli/healthcheck-main.js' : '../dist/cli/main.js';
import(entry).catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes(entry.slice(3))) {
    process.stderr.write('harken: not built yet. Run `npm run build` first.\n');
    process.exit(1);
  }
  throw error;
});
