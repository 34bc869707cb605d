/**
 * A decoder process: one PocketSphinx decoder alone in a child of the server, answering the
 * server's requests one at a time with synchronous native calls. The server times every request;
 * a decode that hangs in native code is ended by killing this process (decoder-process.ts).
 */
import { setPriority } from 'node:os';
import koffi from 'koffi';
import { trimNativeMemory } from '../../../ops/native-memory.js';
import { NativeDecoder } from './decoder.js';
import type { HostReply, HostRequest } from './decoder-protocol.js';

const PR_SET_PDEATHSIG = 1;
const SIGKILL = 9;

/**
 * Dies with the server: the kernel kills this process when its parent ends, even when a native
 * call is hung (a disconnect event would never be seen then). Linux/glibc only; elsewhere the
 * disconnect handler below still ends an idle decoder.
 */
const dieWithParent = (parentPid: number): void => {
  try {
    const prctl = koffi.load('libc.so.6').func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)');
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  } catch {
    // not glibc
  }
  // The parent may have ended before prctl: then this process is already an orphan.
  if (process.ppid !== parentPid) process.exit(0);
};

const send = (reply: HostReply): void => {
  process.send?.(reply);
};

const serve = (): void => {
  dieWithParent(Number(process.env.HARKEN_DECODER_PARENT));
  // Decoding yields to the server's event loop, which paces callers' audio (server.engineThreadNice).
  const nice = Number(process.env.HARKEN_DECODER_NICE ?? 0);
  if (nice > 0) {
    try {
      setPriority(nice);
    } catch {
      // Not permitted here: decode at the inherited priority.
    }
  }
  let decoder: NativeDecoder | undefined;
  process.on('disconnect', () => process.exit(0));
  process.on('message', (request: HostRequest) => {
    try {
      if (request.op === 'load') {
        decoder = NativeDecoder.load(request.files);
        // Loading leaves most of what it allocated freed but held by malloc.
        trimNativeMemory();
        return send({ id: request.id, ok: true, value: null });
      }
      if (!decoder) throw new Error('no decoder is loaded');
      switch (request.op) {
        case 'begin':
          return send({ id: request.id, ok: true, value: decoder.begin(request.grammar) });
        case 'process':
          decoder.process(request.samples);
          return send({ id: request.id, ok: true, value: null });
        case 'hypothesis':
          return send({ id: request.id, ok: true, value: decoder.hypothesis() });
        case 'end':
          return send({ id: request.id, ok: true, value: decoder.end() });
        case 'decodeWhole':
          return send({ id: request.id, ok: true, value: decoder.decodeWhole(request.samples) });
      }
    } catch (error) {
      send({ id: request.id, ok: false, error: (error as Error).message });
    }
  });
};

serve();
