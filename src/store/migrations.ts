import { Migrator, sql, type Kysely, type Migration, type MigrationResultSet } from 'kysely';

/**
 * Schema changes, in order. Never edit a migration that has shipped: add a new one.
 * Names sort lexically, which is the order Kysely applies them.
 */
export const migrations: Record<string, Migration> = {
  '0001_conversations_messages_audit': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('conversations')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('agent', 'text', (column) => column.notNull())
        .addColumn('status', 'text', (column) => column.notNull())
        .addColumn('state', 'text', (column) => column.notNull().defaultTo('{}'))
        .addColumn('data', 'text', (column) => column.notNull().defaultTo('{}'))
        .addColumn('version', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('message_count', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('updated_at', 'text', (column) => column.notNull())
        .execute();
      await db.schema.createIndex('conversations_updated_at').on('conversations').columns(['updated_at', 'id']).execute();

      await db.schema
        .createTable('messages')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('conversation_id', 'text', (column) => column.notNull().references('conversations.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (column) => column.notNull())
        .addColumn('role', 'text', (column) => column.notNull().check(sql`role in ('user', 'assistant')`))
        .addColumn('text', 'text', (column) => column.notNull())
        .addColumn('source', 'text', (column) => column.notNull().check(sql`source in ('text', 'voice')`))
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('interrupted', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('stt_latency_ms', 'integer')
        .addColumn('agent_latency_ms', 'integer')
        .addColumn('tts_first_audio_ms', 'integer')
        .addColumn('voice_to_voice_ms', 'integer')
        .addUniqueConstraint('messages_conversation_seq', ['conversation_id', 'seq'])
        .execute();

      await db.schema
        .createTable('audit_events')
        .addColumn('id', 'integer', (column) => column.primaryKey().autoIncrement())
        .addColumn('occurred_at', 'text', (column) => column.notNull())
        .addColumn('action', 'text', (column) => column.notNull())
        .addColumn('outcome', 'text', (column) => column.notNull())
        .addColumn('actor', 'text')
        .addColumn('target', 'text')
        .addColumn('ip', 'text')
        .addColumn('details', 'text')
        .execute();
      await db.schema.createIndex('audit_events_occurred_at').on('audit_events').column('occurred_at').execute();
      await db.schema.createIndex('audit_events_action').on('audit_events').columns(['action', 'occurred_at']).execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('audit_events').execute();
      await db.schema.dropTable('messages').execute();
      await db.schema.dropTable('conversations').execute();
    },
  },
  '0002_access_control': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('secret_hash', 'text', (column) => column.notNull())
        .addColumn('scopes', 'text', (column) => column.notNull())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('created_by', 'text')
        .addColumn('expires_at', 'text')
        .addColumn('revoked_at', 'text')
        .addColumn('last_used_at', 'text')
        .addColumn('usage_count', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('rate_limit', 'integer')
        .addColumn('max_sessions', 'integer')
        .execute();
      await db.schema
        .createTable('service_accounts')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('name', 'text', (column) => column.notNull().unique())
        .addColumn('secret_hash', 'text', (column) => column.notNull())
        .addColumn('permissions', 'text', (column) => column.notNull())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('rotated_at', 'text')
        .addColumn('disabled_at', 'text')
        .addColumn('last_used_at', 'text')
        .execute();
      await db.schema
        .createTable('admins')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('username', 'text', (column) => column.notNull().unique())
        .addColumn('password_hash', 'text', (column) => column.notNull())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('last_login_at', 'text')
        .execute();
      await db.schema
        .createTable('admin_sessions')
        .addColumn('id_hash', 'text', (column) => column.primaryKey())
        .addColumn('admin_id', 'text', (column) => column.notNull().references('admins.id').onDelete('cascade'))
        .addColumn('csrf_hash', 'text', (column) => column.notNull())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('expires_at', 'text', (column) => column.notNull())
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['actor', 'occurred_at']).execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropIndex('audit_events_actor').execute();
      await db.schema.dropTable('admin_sessions').execute();
      await db.schema.dropTable('admins').execute();
      await db.schema.dropTable('service_accounts').execute();
      await db.schema.dropTable('api_keys').execute();
    },
  },
  '0003_llm_turn_metrics': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('messages').addColumn('llm_model', 'text').execute();
      await db.schema.alterTable('messages').addColumn('llm_first_token_ms', 'integer').execute();
      await db.schema.alterTable('messages').addColumn('prompt_tokens', 'integer').execute();
      await db.schema.alterTable('messages').addColumn('completion_tokens', 'integer').execute();
    },
    async down(db: Kysely<any>) {
      for (const column of ['completion_tokens', 'prompt_tokens', 'llm_first_token_ms', 'llm_model']) await db.schema.alterTable('messages').dropColumn(column).execute();
    },
  },
  '0004_tenants_and_credential_lifecycle': {
    async up(db: Kysely<any>) {
      // Existing rows belong to the default tenant.
      await db.schema.alterTable('conversations').addColumn('tenant', 'text', (column) => column.notNull().defaultTo('default')).execute();
      await db.schema.createIndex('conversations_tenant_updated_at').on('conversations').columns(['tenant', 'updated_at', 'id']).execute();
      await db.schema.createIndex('conversations_created_at').on('conversations').column('created_at').execute();
      await db.schema.alterTable('api_keys').addColumn('tenant', 'text', (column) => column.notNull().defaultTo('default')).execute();
      await db.schema.alterTable('api_keys').addColumn('daily_limit', 'integer').execute();
      await db.schema.alterTable('service_accounts').addColumn('tenant', 'text', (column) => column.notNull().defaultTo('default')).execute();
      await db.schema.alterTable('service_accounts').addColumn('secret_version', 'integer', (column) => column.notNull().defaultTo(1)).execute();
      // A public id for each admin session, so a token can name its session without its secret.
      await db.schema.alterTable('admin_sessions').addColumn('session_id', 'text').execute();
      await sql`update admin_sessions set session_id = substr(id_hash, 1, 32)`.execute(db);
      await db.schema.createIndex('admin_sessions_session_id').on('admin_sessions').column('session_id').unique().execute();
      await db.schema.alterTable('admin_sessions').addColumn('last_seen_at', 'text').execute();
      await db.schema.alterTable('admin_sessions').addColumn('ip', 'text').execute();
      await db.schema.alterTable('admins').addColumn('disabled_at', 'text').execute();
      await db.schema.alterTable('admins').addColumn('password_changed_at', 'text').execute();
      await db.schema.alterTable('admins').addColumn('totp_secret', 'text').execute();
      await db.schema.alterTable('admins').addColumn('totp_enabled_at', 'text').execute();
      await db.schema.alterTable('admins').addColumn('totp_last_step', 'integer').execute();
      await db.schema
        .createTable('admin_recovery_codes')
        .addColumn('code_hash', 'text', (column) => column.primaryKey())
        .addColumn('admin_id', 'text', (column) => column.notNull().references('admins.id').onDelete('cascade'))
        .addColumn('used_at', 'text')
        .execute();
      await db.schema
        .createTable('api_key_daily_usage')
        .addColumn('key_id', 'text', (column) => column.notNull().references('api_keys.id').onDelete('cascade'))
        .addColumn('day', 'text', (column) => column.notNull())
        .addColumn('requests', 'integer', (column) => column.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('api_key_daily_usage_pk', ['key_id', 'day'])
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('api_key_daily_usage').execute();
      await db.schema.dropTable('admin_recovery_codes').execute();
      for (const column of ['totp_last_step', 'totp_enabled_at', 'totp_secret', 'password_changed_at', 'disabled_at']) await db.schema.alterTable('admins').dropColumn(column).execute();
      await db.schema.dropIndex('admin_sessions_session_id').execute();
      for (const column of ['ip', 'last_seen_at', 'session_id']) await db.schema.alterTable('admin_sessions').dropColumn(column).execute();
      for (const column of ['secret_version', 'tenant']) await db.schema.alterTable('service_accounts').dropColumn(column).execute();
      for (const column of ['daily_limit', 'tenant']) await db.schema.alterTable('api_keys').dropColumn(column).execute();
      await db.schema.dropIndex('conversations_created_at').execute();
      await db.schema.dropIndex('conversations_tenant_updated_at').execute();
      await db.schema.alterTable('conversations').dropColumn('tenant').execute();
    },
  },
  '0005_phone_calls': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('calls')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('tenant', 'text', (column) => column.notNull())
        // Null until Twilio has accepted an outbound call.
        .addColumn('call_sid', 'text', (column) => column.unique())
        .addColumn('direction', 'text', (column) => column.notNull().check(sql`direction in ('inbound', 'outbound')`))
        .addColumn('from_number', 'text', (column) => column.notNull())
        .addColumn('to_number', 'text', (column) => column.notNull())
        .addColumn('agent', 'text', (column) => column.notNull())
        .addColumn('status', 'text', (column) => column.notNull())
        .addColumn('answered_by', 'text')
        .addColumn('conversation_id', 'text', (column) => column.references('conversations.id').onDelete('set null'))
        .addColumn('end_reason', 'text')
        .addColumn('error', 'text')
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('answered_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('duration_s', 'integer')
        .addColumn('updated_at', 'text', (column) => column.notNull())
        .execute();
      await db.schema.createIndex('calls_tenant_created_at').on('calls').columns(['tenant', 'created_at', 'id']).execute();
      await db.schema.createIndex('calls_created_at').on('calls').columns(['created_at', 'id']).execute();
      await db.schema
        .createTable('call_events')
        .addColumn('id', 'integer', (column) => column.primaryKey().autoIncrement())
        .addColumn('call_id', 'text', (column) => column.notNull().references('calls.id').onDelete('cascade'))
        .addColumn('occurred_at', 'text', (column) => column.notNull())
        .addColumn('source', 'text', (column) => column.notNull())
        .addColumn('status', 'text')
        .addColumn('answered_by', 'text')
        .addColumn('details', 'text')
        // What makes a callback the same callback when Twilio retries it.
        .addColumn('dedupe_key', 'text', (column) => column.notNull())
        .addUniqueConstraint('call_events_dedupe', ['call_id', 'dedupe_key'])
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('call_events').execute();
      await db.schema.dropIndex('calls_created_at').execute();
      await db.schema.dropIndex('calls_tenant_created_at').execute();
      await db.schema.dropTable('calls').execute();
    },
  },
  '0006_server_runs': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('server_runs')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('pid', 'integer', (column) => column.notNull())
        .addColumn('version', 'text', (column) => column.notNull())
        .addColumn('started_at', 'text', (column) => column.notNull())
        .addColumn('ended_at', 'text')
        .addColumn('end_reason', 'text')
        .addColumn('end_detail', 'text')
        .execute();
      await db.schema.createIndex('server_runs_started_at').on('server_runs').column('started_at').execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('server_runs').execute();
    },
  },
  '0007_end_of_turn': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('messages').addColumn('end_of_turn_ms', 'integer').execute();
      await db.schema.alterTable('messages').addColumn('end_of_turn_rule', 'text').execute();
    },
    async down(db: Kysely<any>) {
      for (const column of ['end_of_turn_rule', 'end_of_turn_ms']) await db.schema.alterTable('messages').dropColumn(column).execute();
    },
  },
};

export class MigrationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

export interface MigrationReport {
  readonly applied: readonly string[];
  readonly current: string | undefined;
}

const describeResults = (results: MigrationResultSet['results']): string[] =>
  (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);

/** Brings the schema up to date; a database from a newer Harken is refused rather than touched. */
export const migrateToLatest = async (db: Kysely<any>): Promise<MigrationReport> => {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'harken_migrations',
    migrationLockTableName: 'harken_migrations_lock',
  });
  const known = await migrator.getMigrations();
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/corrupted migrations/i.test(message)) {
      throw new MigrationError(
        `the database has migrations this version of Harken does not know (${message}); it was probably written by a newer Harken — upgrade Harken or point it at another database`,
        { cause: error },
      );
    }
    const failed = (results ?? []).find((result) => result.status === 'Error');
    throw new MigrationError(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${message}`, { cause: error });
  }
  const names = known.map((migration) => migration.name).sort();
  return { applied: describeResults(results), current: names.at(-1) };
};
