import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { startFakeOpenAi, type FakeOpenAi } from './fake-openai.js';
import { startListeningServer, type TestServer } from './harness.js';
import { makeCertificate } from './tls.js';

/** A server event as any client receives it. */
export type RealtimeEvent = { readonly type: string; readonly event_id?: string } & Record<string, unknown>;

/**
 * What a strict OpenAI realtime client checks, over a whole session's events: every event has
 * a unique event_id; every delta names a response, an item and a content part announced before
 * it; every announced item and response is closed before (or by) response.done.
 */
export const expectStrictOrder = (events: readonly RealtimeEvent[]): void => {
  const ids = new Set<string>();
  const responses = new Set<string>();
  const items = new Set<string>();
  const parts = new Set<string>();
  const openItems = new Map<string, string>();
  for (const [index, event] of events.entries()) {
    const where = `event ${index} (${event.type})`;
    expect(typeof event.event_id, `${where} has an event_id`).toBe('string');
    expect(ids.has(event.event_id as string), `${where} has a unique event_id`).toBe(false);
    ids.add(event.event_id as string);
    const responseId = event.response_id as string | undefined;
    const itemId = event.item_id as string | undefined;
    if (event.type === 'response.created') responses.add((event.response as { id: string }).id);
    else if (event.type === 'response.output_item.added') {
      const item = event.item as { id: string };
      expect(responses.has(responseId as string), `${where}: response announced`).toBe(true);
      items.add(item.id);
      openItems.set(item.id, responseId as string);
    } else if (event.type === 'conversation.item.created' || event.type === 'conversation.item.added') items.add((event.item as { id: string }).id);
    else if (event.type === 'response.content_part.added') parts.add(`${itemId}:${event.content_index as number}`);
    else if (event.type === 'response.output_item.done') openItems.delete((event.item as { id: string }).id);
    else if (event.type === 'response.done') {
      const id = (event.response as { id: string }).id;
      expect(responses.has(id), `${where}: response announced`).toBe(true);
      expect([...openItems.values()].includes(id), `${where}: every item of the response was closed first`).toBe(false);
    }
    if (/\.delta$|_transcript\.done$|audio\.done$|text\.done$|arguments\.done$/.test(event.type) && event.type.startsWith('response.')) {
      expect(responses.has(responseId as string), `${where}: response ${responseId} announced first`).toBe(true);
      expect(items.has(itemId as string), `${where}: item ${itemId} announced first`).toBe(true);
      if (!event.type.includes('function_call')) expect(parts.has(`${itemId}:${event.content_index as number}`), `${where}: content part announced first`).toBe(true);
    }
    if (event.type.startsWith('conversation.item.input_audio_transcription.')) expect(items.has(itemId as string), `${where}: input item ${itemId} announced first`).toBe(true);
  }
};

/** 24 kHz s16 PCM (what OpenAI clients send by default) from 16 kHz samples, by linear interpolation. */
export const to24k = (samples: Int16Array): Int16Array => {
  const out = new Int16Array(Math.floor((samples.length * 3) / 2));
  for (let i = 0; i < out.length; i += 1) {
    const position = (i * 2) / 3;
    const left = Math.floor(position);
    const right = Math.min(left + 1, samples.length - 1);
    const fraction = position - left;
    out[i] = Math.round((samples[left] as number) * (1 - fraction) + (samples[right] as number) * fraction);
  }
  return out;
};

/**
 * A Harken serving wss with a self-signed certificate (the openai SDK insists on wss), whose
 * default agent is the LLM agent backed by a fake OpenAI chat server.
 */
export const startWssLlmServer = async (dir: string): Promise<{ server: TestServer & { url: string }; llm: FakeOpenAi; ca: string }> => {
  const tls = makeCertificate(dir, 'server', 'localhost');
  const llm = await startFakeOpenAi();
  const server = await startListeningServer(dir, {
    HARKEN_SERVER_TLS_CERT_FILE: tls.cert,
    HARKEN_SERVER_TLS_KEY_FILE: tls.key,
    HARKEN_LLM_MODEL: 'voice-model',
    HARKEN_LLM_BASE_URL: llm.url,
    HARKEN_LLM_RETRIES: '0',
    HARKEN_LLM_GREETING: '',
    HARKEN_AGENTS_DEFAULT: 'assistant',
  });
  return { server, llm, ca: readFileSync(tls.cert, 'utf8') };
};
