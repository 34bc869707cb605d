import { afterEach } from 'vitest';
import type { Agent } from '../../src/agents/agent.js';
import { ConversationService } from '../../src/conversations/service.js';
import { VoiceSession, type VoiceSessionSettings } from '../../src/session/voice-session.js';
import { ConversationRepository } from '../../src/store/conversations.js';
import { startTestServer, voiceTestEnv, type TestServer } from './harness.js';
import { useTempDirs } from './temp-dir.js';
import { TestSink, TestTransport } from './test-transport.js';

/** Audio in 20 ms frames at the pace a caller speaks, so the streaming recogniser keeps up as it would on a call. */
export const speakInRealTime = async (session: VoiceSession, samples: Int16Array): Promise<void> => {
  const started = performance.now();
  for (let offset = 0; offset < samples.length; offset += 320) {
    const wait = started + offset / 16 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    session.pushAudio(samples.subarray(offset, offset + 320));
  }
};

/**
 * Session-core tests: a VoiceSession over a real server's engines and store, speaking to a test
 * transport, with the agent given. Servers and sessions are closed after each test.
 */
export const useSessionCore = () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  const sessions: VoiceSession[] = [];
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((session) => session.close()));
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });
  return async (agent: Agent, options: { settings?: (server: TestServer) => Partial<VoiceSessionSettings>; env?: Record<string, string>; playback?: 'wall-clock' | 'instant' } = {}) => {
    const server = await startTestServer(tempDir(), { ...voiceTestEnv(), ...options.env });
    servers.push(server);
    server.harken.agents.register(agent);
    const conversations = new ConversationService(new ConversationRepository(server.harken.database.kysely), server.harken.agents, server.config.conversations);
    const sink = new TestSink({ sampleRate: 16_000, encoding: 'pcm_s16le' }, options.playback ?? 'instant');
    const transport = new TestTransport(sink);
    const session = new VoiceSession(
      conversations,
      server.harken.voice!.engines,
      transport,
      { endOfTurnSilenceMs: server.config.voice.endOfTurnSilenceMs, bargeInMinSpeechMs: 300, audioLeadMs: 200, ...options.settings?.(server) },
      { inputSampleRate: 16_000, agent: agent.name, tenant: 'default', scope: { tenant: 'default' } },
      server.harken.app.log as never,
    );
    sessions.push(session);
    await session.start();
    return { server, session, transport, sink, conversations };
  };
};
