import koffi from 'koffi';

interface MallocTrim {
  async(pad: number, callback: (error: unknown, result: number) => void): void;
}

let mallocTrim: MallocTrim | null | undefined;
let running = false;
let again = false;

const bind = (): MallocTrim | null => {
  if (mallocTrim !== undefined) return mallocTrim;
  try {
    mallocTrim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as unknown as MallocTrim;
  } catch {
    mallocTrim = null; // not glibc (musl, macOS): nothing to hand back this way
  }
  return mallocTrim;
};

/**
 * Hands memory that native engines freed back to the system. glibc keeps freed blocks in its
 * arenas: a PocketSphinx decoder's model load leaves ~70 MB of scratch behind, so without this a
 * burst of callers raises the process's resident size for good (measured in BENCHMARKS.md).
 * Runs on the thread pool, one at a time; calls during a run fold into one more run.
 */
export const trimNativeMemory = (): void => {
  const trim = bind();
  if (!trim) return;
  if (running) {
    again = true;
    return;
  }
  running = true;
  trim.async(0, () => {
    running = false;
    if (again) {
      again = false;
      trimNativeMemory();
    }
  });
};
