import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigTable } from '../../src/config/docs.js';
import { settingDescriptors } from '../../src/config/settings.js';

describe('README configuration table', () => {
  it('matches the settings schema (run `npm run docs:config` after changing a setting)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(renderConfigTable());
  });

  it('documents every setting with a default and a description', () => {
    for (const descriptor of settingDescriptors) {
      expect(descriptor.schema.default, descriptor.path).toBeDefined();
      expect(descriptor.schema.description, descriptor.path).toMatch(/\w/);
    }
  });
});
