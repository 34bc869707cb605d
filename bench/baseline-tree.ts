import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface BaselineTree {
  readonly dir: string;
  /** The revision's short hash, for table headers. */
  readonly label: string;
  /** Where this tree's bench file sits in the checkout, run against the revision's sources. */
  readonly benchFile: string;
  remove(): void;
}

/**
 * A checkout of `rev` (HARKEN_BENCH_BASELINE) beside this one, sharing node_modules, with this
 * tree's bench file copied in: the same measurement, run against the revision's sources, so both
 * columns of a side-by-side table come from one method.
 */
export const baselineTree = (rev: string, benchFile: string): BaselineTree => {
  const dir = mkdtempSync(join(tmpdir(), 'harken-bench-baseline-'));
  const git = (...args: string[]) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).trim();
  const label = git('rev-parse', '--short', rev);
  git('worktree', 'add', '--detach', '--force', dir, rev);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const copied = join(dir, 'bench', basename(benchFile));
  // Every bench module of this tree (the bench file imports its helpers, which an older revision may not have).
  const benchDir = dirname(fileURLToPath(import.meta.url));
  for (const file of readdirSync(benchDir).filter((name) => name.endsWith('.ts'))) copyFileSync(join(benchDir, file), join(dir, 'bench', file));
  return {
    dir,
    label,
    benchFile: copied,
    remove: () => {
      git('worktree', 'remove', '--force', dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
