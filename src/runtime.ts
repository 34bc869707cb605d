import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createAgentRegistry, type AgentRegistry } from './agents/registry.js';
import type { HarkenConfig } from './config/schema.js';
import { ConversationService } from './conversations/service.js';
import { Readiness } from './ops/readiness.js';
import { buildApp } from './server/app.js';
import { ConversationRepository } from './store/conversations.js';
import { openSqlite, type Database } from './store/database.js';
import { migrateToLatest, type MigrationReport } from './store/migrations.js';
import { createVoiceEngines, type VoiceEngines } from './engines/voice-engines.js';
import { RealtimeConnections } from './transports/realtime/realtime-route.js';

/** Everything one running Harken owns; `close()` releases it in reverse order. */
export interface Harken {
  readonly app: FastifyInstance;
  readonly voice: { readonly engines: VoiceEngines; readonly connections: RealtimeConnections } | undefined;
  readonly database: Database;
  readonly readiness: Readiness;
  readonly agents: AgentRegistry;
  readonly migrations: MigrationReport;
  close(): Promise<void>;
}

export const openDatabase = (config: HarkenConfig): Database =>
  openSqlite({ path: config.store.sqlitePath, busyTimeoutMs: config.store.busyTimeoutMs });

/** Wires the store, agents and HTTP app from a validated config. Migrations run here, before serving. */
export const createHarken = async (config: HarkenConfig, logger: Logger, now?: () => Date): Promise<Harken> => {
  const agents = createAgentRegistry({ defaultAgent: config.agents.default, flowsDir: config.agents.flowsDir || undefined, ...(now ? { now } : {}) });
  const database = openDatabase(config);
  let engines: VoiceEngines | undefined;
  try {
    engines = config.voice.enabled ? await createVoiceEngines(config) : undefined;
    const voice = engines ? { engines, connections: new RealtimeConnections() } : undefined;
    const migrations = await migrateToLatest(database.kysely);
    const readiness = new Readiness();
    readiness.add('database', () => database.ping());
    readiness.add('agents', () => {
      if (!agents.get(config.agents.default)) throw new Error(`default agent ${config.agents.default} is not loaded`);
    });
    if (engines) {
      const loaded = engines;
      readiness.add(`engines (${loaded.vad.name}, ${loaded.stt.name}, ${loaded.tts.name})`, () => {
        loaded.stt.check?.();
        loaded.tts.check?.();
      });
    }
    const conversations = new ConversationService(new ConversationRepository(database.kysely), agents, config.conversations);
    const app = await buildApp({ config, logger, readiness, agents, conversations, ...(voice ? { voice } : {}) });
    return {
      app,
      voice,
      database,
      readiness,
      agents,
      migrations,
      async close() {
        readiness.drain('shutting down');
        await app.close();
        await voice?.engines.close();
        await database.close();
      },
    };
  } catch (error) {
    await engines?.close();
    await database.close();
    throw error;
  }
};
