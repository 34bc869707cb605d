import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Writes untrained ONNX models shaped like sherpa-onnx's real ones, so its code paths run in
 * tests on machines without model weights. The ONNX protobuf is encoded by hand: only the
 * handful of ModelProto fields a graph needs.
 */

// --- protobuf wire format -------------------------------------------------------------

const varint = (value: bigint): number[] => {
  let rest = BigInt.asUintN(64, value);
  const bytes: number[] = [];
  do {
    let byte = Number(rest & 0x7fn);
    rest >>= 7n;
    if (rest !== 0n) byte |= 0x80;
    bytes.push(byte);
  } while (rest !== 0n);
  return bytes;
};
const key = (field: number, wireType: number): number[] => varint(BigInt((field << 3) | wireType));
const intField = (field: number, value: number | bigint): Buffer => Buffer.from([...key(field, 0), ...varint(BigInt(value))]);
const bytesField = (field: number, value: Buffer | string): Buffer => {
  const payload = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([Buffer.from([...key(field, 2), ...varint(BigInt(payload.length))]), payload]);
};
const message = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

// --- ONNX messages (field numbers from onnx.proto) -------------------------------------

const FLOAT = 1;
const INT64 = 7;
type Dim = number | string;

const tensorType = (elemType: number, dims: readonly Dim[]): Buffer =>
  message(
    bytesField(
      1, // TypeProto.tensor_type
      message(intField(1, elemType), bytesField(2, message(...dims.map((dim) => bytesField(1, typeof dim === 'number' ? intField(1, dim) : bytesField(2, dim)))))),
    ),
  );
const valueInfo = (name: string, elemType: number, dims: readonly Dim[]): Buffer => message(bytesField(1, name), bytesField(2, tensorType(elemType, dims)));
const node = (opType: string, inputs: readonly string[], outputs: readonly string[], attributes: Buffer[] = []): Buffer =>
  message(...inputs.map((input) => bytesField(1, input)), ...outputs.map((output) => bytesField(2, output)), bytesField(4, opType), ...attributes.map((attribute) => bytesField(5, attribute)));
const intAttribute = (name: string, value: number): Buffer => message(bytesField(1, name), intField(20, 2), intField(3, value));
const floatTensor = (name: string, dims: readonly number[], values: Float32Array): Buffer =>
  message(...dims.map((dim) => intField(1, dim)), intField(2, FLOAT), bytesField(8, name), bytesField(9, Buffer.from(values.buffer, values.byteOffset, values.byteLength)));

const model = (graph: Buffer, metadata: Record<string, string>): Buffer =>
  message(
    intField(1, 8), // ir_version
    bytesField(2, 'harken-plumbing'),
    bytesField(7, graph),
    bytesField(8, message(bytesField(1, ''), intField(2, 13))), // opset_import: ai.onnx 13
    ...Object.entries(metadata).map(([name, value]) => bytesField(14, message(bytesField(1, name), bytesField(2, value)))),
  );

const pseudoRandom = (count: number, seed: number): Float32Array => {
  const values = new Float32Array(count);
  let state = seed;
  for (let index = 0; index < count; index += 1) {
    state = (state * 1103515245 + 12345) % 2147483648;
    values[index] = (state / 2147483648 - 0.5) * 0.2;
  }
  return values;
};

// --- models ---------------------------------------------------------------------------

const TOKENS = ['<blk>', '<sos/eos>', '<unk>', ...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('').map((letter) => `▁${letter}`), ...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('')];

/**
 * A streaming zipformer2 CTC model as sherpa-onnx's OnlineRecognizer expects it (metadata for
 * one 8-dim encoder layer; cached states passed through unchanged; log-probs from one matrix
 * over the features). Writes `ctc-epoch-1-avg-1.onnx` and `tokens.txt` into `dir`.
 */
export const writeStreamingCtcModel = (dir: string): void => {
  mkdirSync(dir, { recursive: true });
  const vocab = TOKENS.length;
  const states: Array<{ name: string; type: number; dims: Dim[] }> = [
    { name: 'cached_key_0', type: FLOAT, dims: [4, 'N', 8] },
    { name: 'cached_nonlin_attn_0', type: FLOAT, dims: [1, 'N', 4, 6] },
    { name: 'cached_val1_0', type: FLOAT, dims: [4, 'N', 8] },
    { name: 'cached_val2_0', type: FLOAT, dims: [4, 'N', 8] },
    { name: 'cached_conv1_0', type: FLOAT, dims: ['N', 8, 1] },
    { name: 'cached_conv2_0', type: FLOAT, dims: ['N', 8, 1] },
    { name: 'embed_states', type: FLOAT, dims: ['N', 128, 3, 19] },
    { name: 'processed_lens', type: INT64, dims: ['N'] },
  ];
  const graph = message(
    bytesField(1, node('MatMul', ['x', 'projection'], ['logits'])),
    bytesField(1, node('LogSoftmax', ['logits'], ['log_probs'], [intAttribute('axis', -1)])),
    ...states.map((state) => bytesField(1, node('Identity', [state.name], [`new_${state.name}`]))),
    bytesField(2, 'plumbing_zipformer2_ctc'),
    bytesField(5, floatTensor('projection', [80, vocab], pseudoRandom(80 * vocab, 7))),
    bytesField(11, valueInfo('x', FLOAT, ['N', 'T', 80])),
    ...states.map((state) => bytesField(11, valueInfo(state.name, state.type, state.dims))),
    bytesField(12, valueInfo('log_probs', FLOAT, ['N', 'T', vocab])),
    ...states.map((state) => bytesField(12, valueInfo(`new_${state.name}`, state.type, state.dims))),
  );
  const metadata = {
    model_type: 'zipformer2',
    encoder_dims: '8',
    query_head_dims: '4',
    value_head_dims: '4',
    num_heads: '2',
    num_encoder_layers: '1',
    cnn_module_kernels: '3',
    left_context_len: '4',
    T: '32',
    decode_chunk_len: '16',
  };
  writeFileSync(join(dir, 'ctc-epoch-1-avg-1.onnx'), model(graph, metadata));
  writeFileSync(join(dir, 'tokens.txt'), TOKENS.map((token, index) => `${token} ${index}`).join('\n') + '\n');
};
