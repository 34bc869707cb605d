import { existsSync } from 'node:fs';
import koffi, { type LibraryHandle } from 'koffi';
import { EngineUnavailableError } from '../../engine-errors.js';

const LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'];
export const POCKETSPHINX_FIX = 'install the Debian packages libpocketsphinx3 and pocketsphinx-en-us (./scripts/install-system-deps.sh)';

/** A koffi function, called synchronously (only ever in a decoder process: decoder-host.ts). */
type NativeFunction<T> = (...args: unknown[]) => T;

export interface PocketSphinxFunctions {
  cmd_ln_init: NativeFunction<unknown>;
  cmd_ln_free_r: NativeFunction<number>;
  ps_args: NativeFunction<unknown>;
  ps_init: NativeFunction<unknown>;
  ps_free: NativeFunction<number>;
  ps_start_utt: NativeFunction<number>;
  ps_process_raw: NativeFunction<number>;
  ps_end_utt: NativeFunction<number>;
  ps_get_hyp: NativeFunction<string | null>;
  ps_set_jsgf_string: NativeFunction<number>;
  ps_set_search: NativeFunction<number>;
  ps_get_search: NativeFunction<string | null>;
  ps_seg_iter: NativeFunction<unknown>;
  ps_seg_next: NativeFunction<unknown>;
  ps_seg_word: NativeFunction<string | null>;
  ps_seg_frames: NativeFunction<void>;
}

const findLibrary = (name: string): string | undefined =>
  LIBRARY_DIRS.map((dir) => `${dir}/${name}`).find((path) => existsSync(path));

let loaded: PocketSphinxFunctions | undefined;

/** Binds the PocketSphinx 0.8 C API (Debian libpocketsphinx3) once per process. */
export const loadPocketSphinx = (): PocketSphinxFunctions => {
  if (loaded) return loaded;
  const sphinxbasePath = findLibrary('libsphinxbase.so.3');
  const pocketsphinxPath = findLibrary('libpocketsphinx.so.3');
  if (!sphinxbasePath || !pocketsphinxPath) {
    throw new EngineUnavailableError('pocketsphinx', 'the PocketSphinx libraries (libsphinxbase.so.3, libpocketsphinx.so.3) are not installed', POCKETSPHINX_FIX);
  }
  const sphinxbase = koffi.load(sphinxbasePath);
  const ps = koffi.load(pocketsphinxPath);
  const bind = <T>(library: LibraryHandle, signature: string) => library.func(signature) as unknown as NativeFunction<T>;
  // Silence PocketSphinx's log once, process-wide (a decoder process's stderr would carry it).
  bind<void>(sphinxbase, 'void err_set_logfp(void *stream)')(null);
  loaded = {
    // Variadic: options are passed as (type, value) pairs ending with a null pointer.
    cmd_ln_init: bind(sphinxbase, 'void *cmd_ln_init(void *inout, void *defn, int strict, ...)'),
    cmd_ln_free_r: bind(sphinxbase, 'int cmd_ln_free_r(void *config)'),
    ps_args: bind(ps, 'void *ps_args()'),
    ps_init: bind(ps, 'void *ps_init(void *config)'),
    ps_free: bind(ps, 'int ps_free(void *ps)'),
    ps_start_utt: bind(ps, 'int ps_start_utt(void *ps)'),
    ps_process_raw: bind(ps, 'int ps_process_raw(void *ps, const int16_t *data, size_t n, int no_search, int full_utt)'),
    ps_end_utt: bind(ps, 'int ps_end_utt(void *ps)'),
    ps_get_hyp: bind(ps, 'const char *ps_get_hyp(void *ps, int32_t *score)'),
    ps_set_jsgf_string: bind(ps, 'int ps_set_jsgf_string(void *ps, const char *name, const char *jsgf)'),
    ps_set_search: bind(ps, 'int ps_set_search(void *ps, const char *name)'),
    ps_get_search: bind(ps, 'const char *ps_get_search(void *ps)'),
    ps_seg_iter: bind(ps, 'void *ps_seg_iter(void *ps)'),
    ps_seg_next: bind(ps, 'void *ps_seg_next(void *seg)'),
    ps_seg_word: bind(ps, 'const char *ps_seg_word(void *seg)'),
    ps_seg_frames: bind(ps, 'void ps_seg_frames(void *seg, _Out_ int *sf, _Out_ int *ef)'),
  };
  return loaded;
};
