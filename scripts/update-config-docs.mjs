// Regenerates the configuration table in README.md from src/config/schema.ts (run after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
import { withConfigTable } from '../dist/config/docs.js';

const path = new URL('../README.md', import.meta.url);
writeFileSync(path, withConfigTable(readFileSync(path, 'utf8')));
console.log('README.md configuration table updated');
