import { describe, expect, it } from 'vitest';
import { CloseCode, parseClientMessage, parseStart, ProtocolError } from '../../src/transports/realtime/protocol.js';

const failure = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    if (error instanceof ProtocolError) return { code: error.code, closeCode: error.closeCode };
    throw error;
  }
  throw new Error('expected a ProtocolError');
};

describe('realtime protocol v1 messages', () => {
  it('accepts a start message and fills the default encoding', () => {
    expect(parseStart('{"type":"start","sampleRate":16000}')).toEqual({ type: 'start', sampleRate: 16000, encoding: 'pcm_s16le' });
    expect(parseStart('{"type":"start","sampleRate":8000,"encoding":"pcm_s16le","agent":"echo","conversationId":"00000000-0000-4000-8000-000000000000"}')).toMatchObject({
      agent: 'echo',
      conversationId: '00000000-0000-4000-8000-000000000000',
    });
  });

  it.each([
    ['not json', 'invalid_json', CloseCode.policyViolation],
    ['[1,2]', 'invalid_message', CloseCode.policyViolation],
    ['{"type":"text","text":"hi"}', 'expected_start', CloseCode.policyViolation],
    ['{"type":"start"}', 'unsupported_sample_rate', CloseCode.unsupportedData],
    ['{"type":"start","sampleRate":4000}', 'unsupported_sample_rate', CloseCode.unsupportedData],
    ['{"type":"start","sampleRate":16000.5}', 'unsupported_sample_rate', CloseCode.unsupportedData],
    ['{"type":"start","sampleRate":16000,"encoding":"opus"}', 'unsupported_encoding', CloseCode.unsupportedData],
    ['{"type":"start","sampleRate":16000,"agent":"../x"}', 'invalid_agent', CloseCode.policyViolation],
    ['{"type":"start","sampleRate":16000,"conversationId":"42"}', 'invalid_conversation_id', CloseCode.policyViolation],
  ])('refuses %s as a first message (%s)', (text, code, closeCode) => {
    expect(failure(() => parseStart(text))).toEqual({ code, closeCode });
  });

  it('reads later messages and names unknown ones', () => {
    expect(parseClientMessage('{"type":"text","text":"hello"}')).toEqual({ type: 'text', text: 'hello' });
    expect(parseClientMessage('{"type":"stop"}')).toEqual({ type: 'stop' });
    expect(parseClientMessage('{"type":"interrupt"}')).toEqual({ type: 'interrupt' });
    expect(failure(() => parseClientMessage('{"type":"text","text":"  "}')).code).toBe('invalid_text');
    expect(failure(() => parseClientMessage('{"type":"start","sampleRate":16000}')).code).toBe('already_started');
    expect(failure(() => parseClientMessage('{"type":"dance"}')).code).toBe('unknown_message');
  });
});
