import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ApiKeyRepository } from '../../src/security/api-keys.js';
import { ServiceAccountRepository } from '../../src/security/service-accounts.js';
import { openSqlite } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrations.js';
import { useTempDirs } from '../helpers/temp-dir.js';

/** A request's lookups happen in later event-loop turns than a write made elsewhere. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('credentials cached in memory, revocation still immediate', () => {
  const tempDir = useTempDirs();
  const open = async () => {
    const path = join(tempDir(), 'harken.db');
    const database = openSqlite({ path, busyTimeoutMs: 1000 });
    await migrateToLatest(database.kysely);
    return { path, database };
  };

  it('serves repeat checks without a query, and sees another process’s revocation and rotation on the next request', async () => {
    const { path, database } = await open();
    const keys = new ApiKeyRepository(database.kysely, () => database.externalChangeCounter());
    const accounts = new ServiceAccountRepository(database.kysely, () => database.externalChangeCounter());
    const { key, view } = await keys.create({ name: 'kiosk', scopes: ['conversations'] });
    const { secret, view: account } = await accounts.create('porch', ['realtime']);
    expect((await keys.verify(key)).ok).toBe(true);
    expect((await accounts.verify(secret)).ok).toBe(true);

    // Repeat checks of a key in use cost no query…
    const statements: string[] = [];
    const traced = new ApiKeyRepository(
      database.kysely.withPlugin({ transformQuery: (args) => (statements.push(args.node.kind), args.node), transformResult: async (args) => args.result }),
      () => database.externalChangeCounter(),
    );
    await traced.verify(key);
    await traced.verify(key);
    await traced.verify(key);
    expect(statements).toHaveLength(1);

    // …but a write by another connection (the CLI is another process) empties the cache.
    const cli = new SqliteDatabase(path);
    cli.prepare('update api_keys set revoked_at = ? where id = ?').run(new Date().toISOString(), view.id);
    cli.prepare('update service_accounts set secret_hash = ?, secret_version = secret_version + 1 where id = ?').run('0'.repeat(64), account.id);
    cli.close();
    await nextTurn();
    expect(await keys.verify(key)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await keys.active(view.id)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await accounts.verify(secret)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(await accounts.active(account.id)).toMatchObject({ ok: true, account: { secretVersion: 2 } });
    await database.close();
  });

  it('drops a row on this process’s own revoke, rotate and disable, and lets a cached key expire on time', async () => {
    const { database } = await open();
    let nowMs = Date.parse('2026-12-01T12:00:00Z');
    const clock = () => new Date(nowMs);
    const keys = new ApiKeyRepository(database.kysely, () => database.externalChangeCounter(), clock);
    const accounts = new ServiceAccountRepository(database.kysely, () => database.externalChangeCounter(), clock);
    const revoked = await keys.create({ name: 'a', scopes: ['conversations'] });
    const expiring = await keys.create({ name: 'b', scopes: ['conversations'], expiresAt: new Date(nowMs + 60_000) });
    const account = await accounts.create('porch', ['realtime']);
    for (const check of [keys.verify(revoked.key), keys.verify(expiring.key), accounts.verify(account.secret)]) expect((await check).ok).toBe(true);

    await keys.revoke(revoked.view.id);
    expect(await keys.verify(revoked.key)).toMatchObject({ ok: false, reason: 'revoked' });
    const rotated = await accounts.rotate(account.view.id);
    expect(await accounts.verify(account.secret)).toMatchObject({ ok: false, reason: 'unknown' });
    expect((await accounts.verify(rotated!.secret)).ok).toBe(true);
    await accounts.disable(account.view.id);
    expect(await accounts.verify(rotated!.secret)).toMatchObject({ ok: false, reason: 'revoked' });

    nowMs += 61_000;
    expect(await keys.verify(expiring.key)).toMatchObject({ ok: false, reason: 'expired' });
    await database.close();
  });
});
