import { statSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { ConversationRepository } from '../../src/store/conversations.js';
import { openSqlite } from '../../src/store/database.js';
import { migrateToLatest, migrations } from '../../src/store/migrations.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const latest = Object.keys(migrations).sort().at(-1);

describe('database migrations', () => {
  const tempDir = useTempDirs();
  const open = (path: string) => openSqlite({ path, busyTimeoutMs: 1000 });

  it('creates every table on an empty database, in WAL mode, readable only by its owner', async () => {
    const path = join(tempDir(), 'nested', 'harken.db');
    const database = open(path);
    const report = await migrateToLatest(database.kysely);
    expect(report).toEqual({ applied: Object.keys(migrations), current: latest });
    const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`.execute(database.kysely);
    expect(tables.rows.map((row) => row.name)).toEqual(
      expect.arrayContaining(['audit_events', 'conversations', 'harken_migrations', 'messages']),
    );
    const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(database.kysely);
    expect(mode.rows[0]?.journal_mode).toBe('wal');
    await database.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o700);
  });

  it('leaves an up-to-date database and its rows untouched when run again', async () => {
    const path = join(tempDir(), 'harken.db');
    const first = open(path);
    await migrateToLatest(first.kysely);
    const repository = new ConversationRepository(first.kysely);
    const created = await repository.create({ agent: 'echo', tenant: 'default', status: 'active', state: {}, data: { a: 1 } }, [{ role: 'assistant', text: 'hi', source: 'text' }]);
    await first.close();

    const second = open(path);
    expect(await migrateToLatest(second.kysely)).toEqual({ applied: [], current: latest });
    const again = new ConversationRepository(second.kysely);
    expect((await again.find(created.id))?.data).toEqual({ a: 1 });
    expect((await again.messages(created.id)).map((message) => message.text)).toEqual(['hi']);
    await second.close();
  });

  it('refuses a database written by a newer Harken instead of changing it', async () => {
    const path = join(tempDir(), 'harken.db');
    const database = open(path);
    await migrateToLatest(database.kysely);
    await database.close();
    const raw = new SqliteDatabase(path);
    raw.prepare('insert into harken_migrations (name, timestamp) values (?, ?)').run('9999_from_the_future', new Date().toISOString());
    raw.close();

    const reopened = open(path);
    await expect(migrateToLatest(reopened.kysely)).rejects.toThrow(/written by a newer Harken/);
    await reopened.close();
  });

  it('enforces the schema: messages need a known role and an existing conversation', async () => {
    const database = open(join(tempDir(), 'harken.db'));
    await migrateToLatest(database.kysely);
    const insert = (conversationId: string, role: string) =>
      sql`insert into messages (id, conversation_id, seq, role, text, source, created_at) values (${crypto.randomUUID()}, ${conversationId}, 1, ${role}, 'x', 'text', 'now')`.execute(database.kysely);
    await expect(insert('no-such-conversation', 'user')).rejects.toThrow(/FOREIGN KEY/);
    const repository = new ConversationRepository(database.kysely);
    const conversation = await repository.create({ agent: 'echo', tenant: 'default', status: 'active', state: {}, data: {} }, []);
    await expect(insert(conversation.id, 'system')).rejects.toThrow(/CHECK/);
    await database.close();
  });

  it('rejects a stale write so concurrent writers cannot lose a turn', async () => {
    const database = open(join(tempDir(), 'harken.db'));
    await migrateToLatest(database.kysely);
    const repository = new ConversationRepository(database.kysely);
    const read = await repository.create({ agent: 'echo', tenant: 'default', status: 'active', state: {}, data: {} }, []);
    await repository.appendTurn(read, { status: 'active', state: {}, data: {} }, [{ role: 'user', text: 'first', source: 'text' }]);
    await expect(repository.appendTurn(read, { status: 'active', state: {}, data: {} }, [{ role: 'user', text: 'second', source: 'text' }])).rejects.toThrow(
      /changed concurrently/,
    );
    expect((await repository.messages(read.id)).map((message) => message.text)).toEqual(['first']);
    await database.close();
  });
});
