import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import { EngineUnavailableError } from '../engine-errors.js';

/**
 * ONNX Runtime's C API through koffi, from the library sherpa-onnx-node already ships (so the
 * process holds one copy of the runtime). sherpa-onnx gives every detector its own session and
 * ~7.8 MB of native memory; through this binding one loaded model serves every stream, each
 * stream holding only its state tensors, and runs stay synchronous like sherpa's.
 *
 * Only calls that have been in the API since its first versions are used; their slots in
 * `struct OrtApi` are fixed (the struct only grows at its end).
 */
const ORT_API_VERSION = 16; // any runtime from 1.16 on serves these slots
const SLOT = {
  GetErrorMessage: 2,
  CreateEnv: 3,
  CreateSession: 7,
  Run: 9,
  CreateSessionOptions: 10,
  SetSessionExecutionMode: 13,
  DisableCpuMemArena: 19,
  SetSessionGraphOptimizationLevel: 23,
  SetIntraOpNumThreads: 24,
  SetInterOpNumThreads: 25,
  SessionGetInputCount: 30,
  SessionGetOutputCount: 31,
  CreateTensorWithDataAsOrtValue: 49,
  CreateCpuMemoryInfo: 69,
  ReleaseStatus: 93,
  ReleaseMemoryInfo: 94,
  ReleaseSession: 95,
  ReleaseValue: 96,
  ReleaseSessionOptions: 100,
} as const;
const ELEMENT_TYPE = { float32: 1, int64: 7 } as const;
const ORT_LOGGING_LEVEL_ERROR = 3;
const ORT_ENABLE_ALL = 99;
const ORT_SEQUENTIAL = 0;
const ORT_DEVICE_ALLOCATOR = 0;
const ORT_MEM_TYPE_DEFAULT = 0;

type Pointer = unknown;
type Call = (...args: unknown[]) => Pointer;

interface Runtime {
  /** Held for the life of the process: koffi unloads a library whose handle is collected. */
  readonly library: LibraryHandle;
  readonly env: Pointer;
  readonly cpuMemory: Pointer;
  readonly call: Record<keyof typeof SLOT, Call>;
  /** Throws the message of a non-null OrtStatus (and releases it). */
  readonly check: (status: Pointer) => void;
}

const PROTOTYPES: Record<keyof typeof SLOT, string> = {
  GetErrorMessage: 'const char *OrtGetErrorMessage(void *status)',
  CreateEnv: 'void *OrtCreateEnv(int level, const char *id, _Out_ void **env)',
  CreateSession: 'void *OrtCreateSession(void *env, const char *path, void *options, _Out_ void **session)',
  Run: 'void *OrtRun(void *session, void *runOptions, const char **inputNames, void **inputs, size_t inputCount, const char **outputNames, size_t outputCount, void **outputs)',
  CreateSessionOptions: 'void *OrtCreateSessionOptions(_Out_ void **options)',
  SetSessionExecutionMode: 'void *OrtSetSessionExecutionMode(void *options, int mode)',
  DisableCpuMemArena: 'void *OrtDisableCpuMemArena(void *options)',
  SetSessionGraphOptimizationLevel: 'void *OrtSetSessionGraphOptimizationLevel(void *options, int level)',
  SetIntraOpNumThreads: 'void *OrtSetIntraOpNumThreads(void *options, int threads)',
  SetInterOpNumThreads: 'void *OrtSetInterOpNumThreads(void *options, int threads)',
  SessionGetInputCount: 'void *OrtSessionGetInputCount(void *session, _Out_ size_t *count)',
  SessionGetOutputCount: 'void *OrtSessionGetOutputCount(void *session, _Out_ size_t *count)',
  CreateTensorWithDataAsOrtValue:
    'void *OrtCreateTensorWithDataAsOrtValue(void *memoryInfo, void *data, size_t bytes, const int64_t *shape, size_t rank, int type, _Out_ void **value)',
  CreateCpuMemoryInfo: 'void *OrtCreateCpuMemoryInfo(int allocator, int memType, _Out_ void **info)',
  ReleaseStatus: 'void OrtReleaseStatus(void *status)',
  ReleaseMemoryInfo: 'void OrtReleaseMemoryInfo(void *info)',
  ReleaseSession: 'void OrtReleaseSession(void *session)',
  ReleaseValue: 'void OrtReleaseValue(void *value)',
  ReleaseSessionOptions: 'void OrtReleaseSessionOptions(void *options)',
};

const FIX = 'reinstall the npm dependencies (npm ci): the ONNX Runtime library comes with sherpa-onnx-node';

/** The runtime library inside sherpa-onnx's platform package, next to its addon. */
export const onnxRuntimeLibrary = (): string | undefined => {
  const name = `sherpa-onnx-${platform() === 'win32' ? 'win' : platform()}-${arch()}`;
  try {
    const main = createRequire(import.meta.url).resolve(name);
    const library = join(dirname(main), platform() === 'darwin' ? 'libonnxruntime.dylib' : 'libonnxruntime.so');
    return existsSync(library) ? library : undefined;
  } catch {
    return undefined;
  }
};

let runtime: Runtime | undefined;

const load = (): Runtime => {
  if (runtime) return runtime;
  const path = onnxRuntimeLibrary();
  if (!path) throw new EngineUnavailableError('onnxruntime', 'the ONNX Runtime library of sherpa-onnx-node was not found', FIX);
  const library = koffi.load(path);
  const apiBase = library.func('void *OrtGetApiBase()')() as Pointer;
  // OrtApiBase is { GetApi, GetVersionString }: two function pointers.
  const getApi = koffi.decode(apiBase, 'void *') as Pointer;
  const api = koffi.call(getApi, koffi.proto('void *OrtGetApi(uint32_t version)'), ORT_API_VERSION) as Pointer;
  if (!api) throw new EngineUnavailableError('onnxruntime', `the ONNX Runtime at ${path} does not offer API version ${ORT_API_VERSION}`, FIX);
  const slots = koffi.decode(api, koffi.array('void *', SLOT.ReleaseSessionOptions + 1)) as Pointer[];
  const call = Object.fromEntries(
    (Object.keys(SLOT) as (keyof typeof SLOT)[]).map((name) => {
      const prototype = koffi.proto(PROTOTYPES[name]);
      const pointer = slots[SLOT[name]];
      return [name, (...args: unknown[]) => koffi.call(pointer, prototype, ...args) as Pointer];
    }),
  ) as Record<keyof typeof SLOT, Call>;
  const check = checker(call);
  const env = [null];
  check(call.CreateEnv(ORT_LOGGING_LEVEL_ERROR, 'harken', env));
  const cpuMemory = [null];
  check(call.CreateCpuMemoryInfo(ORT_DEVICE_ALLOCATOR, ORT_MEM_TYPE_DEFAULT, cpuMemory));
  runtime = { library, env: env[0], cpuMemory: cpuMemory[0], call, check };
  return runtime;
};

const checker =
  (call: Record<keyof typeof SLOT, Call>) =>
  (status: Pointer): void => {
    if (!status) return;
    const message = call.GetErrorMessage(status) as string;
    call.ReleaseStatus(status);
    throw new Error(`ONNX Runtime: ${message}`);
  };

/** A tensor over native memory the caller reads and writes through `data`; ONNX Runtime never copies it. */
export class OnnxTensor<T extends Float32Array | BigInt64Array = Float32Array | BigInt64Array> {
  private released = false;

  private constructor(readonly data: T, readonly handle: Pointer, private readonly memory: Pointer) {}

  static float32(shape: readonly number[]): OnnxTensor<Float32Array> {
    const length = shape.reduce((product, size) => product * size, 1);
    return OnnxTensor.create(shape, 'float32', length, (buffer) => new Float32Array(buffer));
  }

  static int64(shape: readonly number[], values: readonly bigint[]): OnnxTensor<BigInt64Array> {
    const tensor = OnnxTensor.create(shape, 'int64', Math.max(1, values.length), (buffer) => new BigInt64Array(buffer));
    tensor.data.set(values);
    return tensor;
  }

  private static create<A extends Float32Array | BigInt64Array>(shape: readonly number[], type: keyof typeof ELEMENT_TYPE, length: number, view: (buffer: ArrayBuffer) => A): OnnxTensor<A> {
    const { call, check, cpuMemory } = load();
    const bytes = length * (type === 'int64' ? 8 : 4);
    const memory = koffi.alloc('uint8_t', bytes);
    const value = [null];
    try {
      check(call.CreateTensorWithDataAsOrtValue(cpuMemory, memory, bytes, shape.map(BigInt), shape.length, ELEMENT_TYPE[type], value));
    } catch (error) {
      koffi.free(memory);
      throw error;
    }
    const data = view(koffi.view(memory, bytes));
    data.fill(type === 'int64' ? (0n as never) : (0 as never));
    return new OnnxTensor(data, value[0], memory);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    load().call.ReleaseValue(this.handle);
    koffi.free(this.memory);
  }
}

/** One loaded model, run on the calling thread (single-threaded: its inputs are a few hundred samples). */
export class OnnxSession {
  private closed = false;

  private constructor(private readonly handle: Pointer, readonly inputCount: number, readonly outputCount: number) {}

  static open(modelPath: string): OnnxSession {
    const { call, check, env } = load();
    const options = [null];
    check(call.CreateSessionOptions(options));
    try {
      check(call.SetIntraOpNumThreads(options[0], 1));
      check(call.SetInterOpNumThreads(options[0], 1));
      check(call.SetSessionExecutionMode(options[0], ORT_SEQUENTIAL));
      check(call.SetSessionGraphOptimizationLevel(options[0], ORT_ENABLE_ALL));
      // The arena keeps its peak for good; these tensors are tiny and allocated per run.
      check(call.DisableCpuMemArena(options[0]));
      const session = [null];
      check(call.CreateSession(env, modelPath, options[0], session));
      const inputs = [0];
      const outputs = [0];
      check(call.SessionGetInputCount(session[0], inputs));
      check(call.SessionGetOutputCount(session[0], outputs));
      return new OnnxSession(session[0], Number(inputs[0]), Number(outputs[0]));
    } finally {
      call.ReleaseSessionOptions(options[0]);
    }
  }

  /** Runs the model; each output is written into the given tensor (shapes must match the model's). */
  run(inputs: Readonly<Record<string, OnnxTensor>>, outputs: Readonly<Record<string, OnnxTensor>>): void {
    if (this.closed) throw new Error('the ONNX session is closed');
    const { call, check } = load();
    const inputNames = Object.keys(inputs);
    const outputNames = Object.keys(outputs);
    const outputValues = outputNames.map((name) => (outputs[name] as OnnxTensor).handle);
    check(
      call.Run(
        this.handle,
        null,
        inputNames,
        inputNames.map((name) => (inputs[name] as OnnxTensor).handle),
        inputNames.length,
        outputNames,
        outputNames.length,
        outputValues,
      ),
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    load().call.ReleaseSession(this.handle);
  }
}
