import type { DecodedUtterance, DecoderFiles } from './decoder.js';
import type { Grammar } from './grammars.js';

/** What the server asks of a decoder process; each request is answered once, in order. */
export type HostRequest =
  | { readonly id: number; readonly op: 'load'; readonly files: DecoderFiles }
  | { readonly id: number; readonly op: 'begin'; readonly grammar: Grammar | undefined }
  | { readonly id: number; readonly op: 'process'; readonly samples: Int16Array }
  | { readonly id: number; readonly op: 'hypothesis' }
  | { readonly id: number; readonly op: 'end' }
  | { readonly id: number; readonly op: 'decodeWhole'; readonly samples: Int16Array };

/** What each operation answers with. */
export interface HostResults {
  load: null;
  begin: boolean;
  process: null;
  hypothesis: string;
  end: DecodedUtterance;
  decodeWhole: DecodedUtterance;
}

export type HostReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: string };
