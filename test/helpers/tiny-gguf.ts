import { writeFileSync } from 'node:fs';

/**
 * Writes a tiny untrained llama-architecture GGUF model (≈0.2 MB, pseudo-random weights, a
 * SentencePiece vocabulary of bytes and ASCII pieces). llama.cpp loads it and generates
 * gibberish: enough to prove Harken's local-model path end to end without real weights,
 * none of which exist on the test machines. GGUF v3, little-endian, F32 tensors.
 */
const ALIGNMENT = 32;
const N_EMBD = 32;
const N_HEAD = 2;
const N_FF = 64;
const N_LAYER = 1;
const N_CTX = 512;

const enum ValueType {
  Uint32 = 4,
  Int32 = 5,
  Float32 = 6,
  String = 8,
  Array = 9,
}

type Value = { type: ValueType.Uint32 | ValueType.Int32 | ValueType.Float32; value: number } | { type: ValueType.String; value: string } | { type: ValueType.Array; of: ValueType; values: Array<number | string> };

class Writer {
  private readonly parts: Buffer[] = [];
  length = 0;
  private push(buffer: Buffer): void {
    this.parts.push(buffer);
    this.length += buffer.length;
  }
  u32(value: number): void {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32LE(value);
    this.push(buffer);
  }
  i32(value: number): void {
    const buffer = Buffer.alloc(4);
    buffer.writeInt32LE(value);
    this.push(buffer);
  }
  f32(value: number): void {
    const buffer = Buffer.alloc(4);
    buffer.writeFloatLE(value);
    this.push(buffer);
  }
  u64(value: number): void {
    const buffer = Buffer.alloc(8);
    buffer.writeBigUInt64LE(BigInt(value));
    this.push(buffer);
  }
  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  bytes(buffer: Buffer): void {
    this.push(buffer);
  }
  pad(): void {
    const extra = (ALIGNMENT - (this.length % ALIGNMENT)) % ALIGNMENT;
    if (extra > 0) this.push(Buffer.alloc(extra));
  }
  scalar(type: ValueType, value: number | string): void {
    if (type === ValueType.Uint32) this.u32(value as number);
    else if (type === ValueType.Int32) this.i32(value as number);
    else if (type === ValueType.Float32) this.f32(value as number);
    else this.string(value as string);
  }
  value(value: Value): void {
    this.u32(value.type);
    if (value.type === ValueType.Array) {
      this.u32(value.of);
      this.u64(value.values.length);
      for (const item of value.values) this.scalar(value.of, item);
    } else {
      this.scalar(value.type, value.value);
    }
  }
  result(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Token types of llama.cpp's vocabulary. */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const BYTE = 6;

const vocabulary = (): { tokens: string[]; scores: number[]; types: number[] } => {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [UNKNOWN, CONTROL, CONTROL];
  for (let byte = 0; byte < 256; byte += 1) {
    tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(BYTE);
  }
  const pieces = ['▁'];
  for (let code = 33; code < 127; code += 1) pieces.push(String.fromCharCode(code));
  for (const word of ['hello', 'the', 'and', 'yes', 'no', 'time', 'clinic', 'open']) pieces.push(`▁${word}`);
  for (const piece of pieces) {
    tokens.push(piece);
    types.push(NORMAL);
  }
  return { tokens, scores: tokens.map((_, index) => -index), types };
};

/** Deterministic pseudo-random floats (xorshift), so the file is the same on every run. */
const randomTensor = (count: number, seed: number, scale: number): Buffer => {
  const buffer = Buffer.alloc(count * 4);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < count; index += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    buffer.writeFloatLE(((state >>> 0) / 0xffffffff - 0.5) * 2 * scale, index * 4);
  }
  return buffer;
};

const ones = (count: number): Buffer => {
  const buffer = Buffer.alloc(count * 4);
  for (let index = 0; index < count; index += 1) buffer.writeFloatLE(1, index * 4);
  return buffer;
};

export const writeTinyLlamaGguf = (path: string): void => {
  const vocab = vocabulary();
  const nVocab = vocab.tokens.length;
  const tensors: Array<{ name: string; dims: number[]; data: Buffer }> = [
    { name: 'token_embd.weight', dims: [N_EMBD, nVocab], data: randomTensor(N_EMBD * nVocab, 1, 0.5) },
    { name: 'output_norm.weight', dims: [N_EMBD], data: ones(N_EMBD) },
    { name: 'output.weight', dims: [N_EMBD, nVocab], data: randomTensor(N_EMBD * nVocab, 2, 0.5) },
  ];
  for (let layer = 0; layer < N_LAYER; layer += 1) {
    const seed = 100 * (layer + 1);
    tensors.push(
      { name: `blk.${layer}.attn_norm.weight`, dims: [N_EMBD], data: ones(N_EMBD) },
      { name: `blk.${layer}.attn_q.weight`, dims: [N_EMBD, N_EMBD], data: randomTensor(N_EMBD * N_EMBD, seed + 1, 0.2) },
      { name: `blk.${layer}.attn_k.weight`, dims: [N_EMBD, N_EMBD], data: randomTensor(N_EMBD * N_EMBD, seed + 2, 0.2) },
      { name: `blk.${layer}.attn_v.weight`, dims: [N_EMBD, N_EMBD], data: randomTensor(N_EMBD * N_EMBD, seed + 3, 0.2) },
      { name: `blk.${layer}.attn_output.weight`, dims: [N_EMBD, N_EMBD], data: randomTensor(N_EMBD * N_EMBD, seed + 4, 0.2) },
      { name: `blk.${layer}.ffn_norm.weight`, dims: [N_EMBD], data: ones(N_EMBD) },
      { name: `blk.${layer}.ffn_gate.weight`, dims: [N_EMBD, N_FF], data: randomTensor(N_EMBD * N_FF, seed + 5, 0.2) },
      { name: `blk.${layer}.ffn_up.weight`, dims: [N_EMBD, N_FF], data: randomTensor(N_EMBD * N_FF, seed + 6, 0.2) },
      { name: `blk.${layer}.ffn_down.weight`, dims: [N_FF, N_EMBD], data: randomTensor(N_FF * N_EMBD, seed + 7, 0.2) },
    );
  }

  const metadata: Array<[string, Value]> = [
    ['general.architecture', { type: ValueType.String, value: 'llama' }],
    ['general.name', { type: ValueType.String, value: 'harken-plumbing' }],
    ['general.alignment', { type: ValueType.Uint32, value: ALIGNMENT }],
    ['llama.context_length', { type: ValueType.Uint32, value: N_CTX }],
    ['llama.embedding_length', { type: ValueType.Uint32, value: N_EMBD }],
    ['llama.block_count', { type: ValueType.Uint32, value: N_LAYER }],
    ['llama.feed_forward_length', { type: ValueType.Uint32, value: N_FF }],
    ['llama.attention.head_count', { type: ValueType.Uint32, value: N_HEAD }],
    ['llama.attention.head_count_kv', { type: ValueType.Uint32, value: N_HEAD }],
    ['llama.rope.dimension_count', { type: ValueType.Uint32, value: N_EMBD / N_HEAD }],
    ['llama.attention.layer_norm_rms_epsilon', { type: ValueType.Float32, value: 1e-5 }],
    ['tokenizer.ggml.model', { type: ValueType.String, value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: ValueType.Array, of: ValueType.String, values: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: ValueType.Array, of: ValueType.Float32, values: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: ValueType.Array, of: ValueType.Int32, values: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', { type: ValueType.Uint32, value: 0 }],
    ['tokenizer.ggml.bos_token_id', { type: ValueType.Uint32, value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: ValueType.Uint32, value: 2 }],
  ];

  const out = new Writer();
  out.bytes(Buffer.from('GGUF', 'ascii'));
  out.u32(3);
  out.u64(tensors.length);
  out.u64(metadata.length);
  for (const [key, value] of metadata) {
    out.string(key);
    out.value(value);
  }
  let offset = 0;
  for (const tensor of tensors) {
    out.string(tensor.name);
    out.u32(tensor.dims.length);
    for (const dim of tensor.dims) out.u64(dim);
    out.u32(0); // F32
    out.u64(offset);
    offset += Math.ceil(tensor.data.length / ALIGNMENT) * ALIGNMENT;
  }
  out.pad();
  for (const tensor of tensors) {
    out.bytes(tensor.data);
    out.pad();
  }
  writeFileSync(path, out.result());
};
