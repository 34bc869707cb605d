import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

/** A fresh directory per call, removed after the test. */
export const useTempDirs = (): (() => string) => {
  const created: string[] = [];
  afterEach(() => {
    while (created.length > 0) rmSync(created.pop() as string, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'harken-test-'));
    created.push(dir);
    return dir;
  };
};
