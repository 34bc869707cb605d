import { Type, type Static, type TProperties } from 'typebox';

/**
 * The single source of truth for Harken's settings: types, defaults and the
 * documentation shown in the README table (`npm run docs:config` regenerates it).
 * Every key maps to an environment variable HARKEN_<SECTION>_<KEY>, e.g.
 * `server.bodyLimitBytes` ← HARKEN_SERVER_BODY_LIMIT_BYTES.
 */
const section = <T extends TProperties>(properties: T, description: string) =>
  Type.Object(properties, { additionalProperties: false, default: {}, description });

export const ConfigSchema = Type.Object(
  {
    server: section(
      {
        host: Type.String({ default: '127.0.0.1', minLength: 1, description: 'Interface to listen on. Use 0.0.0.0 to accept connections from other machines.' }),
        port: Type.Integer({ default: 8080, minimum: 0, maximum: 65535, description: 'TCP port to listen on (0 picks a free port).' }),
        bodyLimitBytes: Type.Integer({ default: 1_048_576, minimum: 1024, maximum: 104_857_600, description: 'Largest accepted request body for JSON routes, in bytes (larger → 413).' }),
        trustProxy: Type.Boolean({ default: false, description: 'Trust X-Forwarded-* headers (enable only behind your own reverse proxy).' }),
        shutdownTimeoutMs: Type.Integer({ default: 10_000, minimum: 0, description: 'How long a graceful shutdown waits for in-flight requests before exiting anyway.' }),
        docsEnabled: Type.Boolean({ default: true, description: 'Serve the OpenAPI document and its browser UI at /docs.' }),
      },
      'HTTP server.',
    ),
    data: section(
      {
        dir: Type.String({ default: './data', minLength: 1, description: 'Directory for the embedded database and generated files; created on first start.' }),
      },
      'Where Harken keeps its files.',
    ),
    store: section(
      {
        driver: Type.Union([Type.Literal('sqlite')], { default: 'sqlite', description: 'Database engine. `sqlite` is embedded (WAL mode).' }),
        sqlitePath: Type.String({ default: '', description: 'SQLite database file. Empty means `<data.dir>/harken.db`.' }),
        busyTimeoutMs: Type.Integer({ default: 5_000, minimum: 0, description: 'How long a write waits for a lock held by another connection.' }),
      },
      'Conversation storage.',
    ),
    log: section(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
          { default: 'info', description: 'Minimum log level.' },
        ),
        format: Type.Union([Type.Literal('auto'), Type.Literal('json'), Type.Literal('pretty')], {
          default: 'auto',
          description: '`json` lines, `pretty` for people, or `auto` (pretty on a terminal, JSON otherwise).',
        }),
      },
      'Logging (never contains secrets or conversation text).',
    ),
    agents: section(
      {
        default: Type.String({ default: 'intake', minLength: 1, description: 'Agent used when a conversation does not name one.' }),
        flowsDir: Type.String({ default: '', description: 'Directory of extra dialogue flow files (*.yaml, *.json); each becomes an agent named by its `id`.' }),
      },
      'Agents that hold conversations.',
    ),
    conversations: section(
      {
        maxMessageChars: Type.Integer({ default: 4_000, minimum: 1, maximum: 100_000, description: 'Longest accepted user message, in characters (longer → 400).' }),
        maxMessages: Type.Integer({ default: 1_000, minimum: 2, description: 'Most messages one conversation may hold before new turns are refused (409).' }),
      },
      'Conversation limits.',
    ),
  },
  { additionalProperties: false },
);

export type HarkenConfig = Static<typeof ConfigSchema>;
export type SectionName = keyof HarkenConfig;
