import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the fake answers one chat completions request. */
export type FakeReply =
  | {
      readonly kind: 'stream';
      /** Text pieces, each sent as one chunk. */
      readonly text?: readonly string[];
      /** Tool calls, their arguments split into pieces to exercise delta assembly. */
      readonly toolCalls?: ReadonlyArray<{ readonly name: string; readonly arguments: string }>;
      /** Pause between chunks. */
      readonly delayMs?: number;
      /** Sends this many text chunks, then waits for the promise before the rest. */
      readonly holdAfter?: number;
      readonly hold?: Promise<unknown>;
      /** Destroys the connection after this many text chunks (a dropped stream). */
      readonly dropAfter?: number;
      readonly usage?: { readonly prompt: number; readonly completion: number };
    }
  | { readonly kind: 'error'; readonly status: number; readonly message: string; readonly retryAfter?: number }
  /** Accepts the request and never answers. */
  | { readonly kind: 'stall' };

export interface RecordedRequest {
  readonly body: {
    model: string;
    stream: boolean;
    stream_options?: { include_usage?: boolean };
    messages: Array<{ role: string; content: string | null; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>; tool_call_id?: string }>;
    tools?: Array<{ type: string; function: { name: string } }>;
    temperature?: number;
    max_tokens?: number;
  };
  readonly authorization: string | undefined;
  /** Resolves when the client closed the connection before the reply ended. */
  readonly clientGone: Promise<void>;
}

export interface FakeOpenAi {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Replies for the coming requests, in order; when empty, `fallback` answers. */
  readonly queue: FakeReply[];
  fallback: FakeReply;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let chunkId = 0;

/**
 * A local server speaking the OpenAI chat completions wire format exactly: SSE `data:` lines
 * of `chat.completion.chunk` objects, tool-call deltas with split arguments, a usage chunk,
 * `data: [DONE]`, and OpenAI-shaped JSON errors.
 */
export const startFakeOpenAi = async (options: { model?: string } = {}): Promise<FakeOpenAi> => {
  const requests: RecordedRequest[] = [];
  const queue: FakeReply[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const state = { fallback: { kind: 'stream', text: ['Hello', ' there.'] } as FakeReply };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    let raw = '';
    for await (const chunk of request) raw += chunk;
    if (request.url !== '/v1/chat/completions' || request.method !== 'POST') {
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error' } }));
      return;
    }
    let closed = false;
    const clientGone = new Promise<void>((resolve) => response.on('close', () => (response.writableFinished ? undefined : ((closed = true), resolve()))));
    requests.push({ body: JSON.parse(raw) as RecordedRequest['body'], authorization: request.headers.authorization, clientGone });
    const reply = queue.shift() ?? state.fallback;
    if (reply.kind === 'stall') return;
    if (reply.kind === 'error') {
      response.writeHead(reply.status, { 'content-type': 'application/json', ...(reply.retryAfter !== undefined ? { 'retry-after': String(reply.retryAfter) } : {}) });
      response.end(JSON.stringify({ error: { message: reply.message, type: reply.status === 429 ? 'requests' : 'server_error', param: null, code: null } }));
      return;
    }
    const id = `chatcmpl-${(chunkId += 1)}`;
    const model = options.model ?? (JSON.parse(raw) as { model: string }).model;
    const send = (choices: unknown[], extra: Record<string, unknown> = {}) => {
      if (!closed) response.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, system_fingerprint: null, choices, ...extra })}\n\n`);
    };
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    send([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
    const pieces = reply.text ?? [];
    for (let index = 0; index < pieces.length; index += 1) {
      if (reply.dropAfter !== undefined && index === reply.dropAfter) {
        // Let the client read what was sent, then cut the connection.
        await sleep(100);
        response.socket?.destroy();
        return;
      }
      if (reply.holdAfter !== undefined && index === reply.holdAfter) await reply.hold;
      if (reply.delayMs) await sleep(reply.delayMs);
      send([{ index: 0, delta: { content: pieces[index] }, logprobs: null, finish_reason: null }]);
    }
    for (const [index, call] of (reply.toolCalls ?? []).entries()) {
      send([{ index: 0, delta: { tool_calls: [{ index, id: `call_${index}_${id}`, type: 'function', function: { name: call.name, arguments: '' } }] }, logprobs: null, finish_reason: null }]);
      const half = Math.ceil(call.arguments.length / 2);
      for (const part of [call.arguments.slice(0, half), call.arguments.slice(half)]) {
        if (reply.delayMs) await sleep(reply.delayMs);
        send([{ index: 0, delta: { tool_calls: [{ index, function: { arguments: part } }] }, logprobs: null, finish_reason: null }]);
      }
    }
    send([{ index: 0, delta: {}, logprobs: null, finish_reason: reply.toolCalls ? 'tool_calls' : 'stop' }]);
    const usage = reply.usage ?? { prompt: 20, completion: pieces.length };
    send([], { usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion } });
    if (!closed) response.end('data: [DONE]\n\n');
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      response.destroy(error as Error);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    queue,
    get fallback() {
      return state.fallback;
    },
    set fallback(reply: FakeReply) {
      state.fallback = reply;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
