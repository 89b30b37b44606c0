import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Base, BaseRecord } from '../../src/engine/base';
import type { Conflict } from '../../src/engine/plan';
import { digestFile, SnapshotStore } from '../../src/store/snapshotStore';
import { loadSqlJs } from '../../src/store/sqlite';
import { dir, file, link, rec } from './fixtures';

let root: string;
let n = 0;
const fresh = () => path.join(root, `case-${++n}`, 'session.db');

before(async () => {
  root = await fs.mkdtemp(path.join(tmpdir(), 'ssh-sync-store-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** Drops keys whose value is undefined, so `{racy: undefined}` and `{}` compare equal. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function plainBase(base: Base): Record<string, BaseRecord> {
  return plain(Object.fromEntries([...base].sort(([a], [b]) => (a < b ? -1 : 1))));
}

const RECORDS: Record<string, BaseRecord> = {
  'src/main.ts': rec(
    file(1234, 1700000000123.5, 'ab'.repeat(32), { uid: 1000, gid: 100, ino: 2 ** 40 + 5, dev: 66306 }),
    file(1234, 1700000000000, undefined, { uid: 501, gid: 20, mode: 0o600 }),
  ),
  src: rec(dir({ mode: 0o750, uid: 1000, gid: 100, ino: 42, dev: 66306 }), dir({ mode: 0o755 })),
  'src/latest': rec(link('../build/latest', 1700000000500)),
  'racy.txt': rec(file(3, 1700000001000, 'cd'.repeat(32)), file(3, 1700000001000), undefined, true),
  'caf\u00e9 \u2603.md': rec(file(0, 1, 'ef'.repeat(32))),
};

async function saved(file: string, records = RECORDS): Promise<void> {
  const { store } = await SnapshotStore.open(file);
  store.batch(() => {
    for (const [p, r] of Object.entries(records)) store.setBase(p, r);
  });
  await store.save();
  store.close();
}

describe('SnapshotStore', () => {
  test('round trip: base records, conflicts and metadata survive save and reopen', async () => {
    const file1 = fresh();
    const { store, warning } = await SnapshotStore.open(file1);
    assert.equal(warning, undefined);
    assert.equal(store.existed, false);
    for (const [p, r] of Object.entries(RECORDS)) store.setBase(p, r);
    const conflicts: Conflict[] = [
      { path: 'a.txt', kind: 'both-modified', local: file(1, 2000, 'x'), remote: file(2, 3000) },
      { path: 'gone', kind: 'modified-vs-deleted', local: dir() },
    ];
    store.replaceConflicts(conflicts, 1234);
    store.setMeta('lastRun', { at: 99, direction: 'bidi', conflicts: 2 });
    await store.save();
    store.close();

    const reopened = await SnapshotStore.open(file1);
    assert.equal(reopened.warning, undefined);
    assert.equal(reopened.store.existed, true);
    assert.deepEqual(plainBase(reopened.store.base), plain(RECORDS));
    assert.equal(reopened.store.base.get('racy.txt')?.racy, true);
    assert.ok(!reopened.store.base.get('src/main.ts')?.racy);
    assert.deepEqual(plain(reopened.store.conflicts()), plain(conflicts.map((c) => ({ ...c, foundAt: 1234 }))));
    assert.deepEqual(reopened.store.getMeta('lastRun'), { at: 99, direction: 'bidi', conflicts: 2 });
    assert.equal(reopened.store.getMeta('missing'), undefined);
    reopened.store.close();
  });

  test('a conflict seen again keeps the time it was first found; a resolved one goes', async () => {
    const file1 = fresh();
    const { store } = await SnapshotStore.open(file1);
    store.replaceConflicts([{ path: 'a', kind: 'both-modified' }, { path: 'b', kind: 'both-created' }], 100);
    store.replaceConflicts([{ path: 'a', kind: 'both-modified' }, { path: 'c', kind: 'type-clash' }], 200);
    assert.deepEqual(store.conflicts().map((c) => [c.path, c.foundAt]), [['a', 100], ['c', 200]]);
    store.removeConflict('a');
    assert.deepEqual(store.conflicts().map((c) => c.path), ['c']);
    store.close();
  });

  test('records set and deleted after a save are in the next save (one store, many saves)', async () => {
    const file1 = fresh();
    const { store } = await SnapshotStore.open(file1);
    store.setBase('a', rec(file(1, 1, 'aa')));
    store.setBase('b', rec(file(2, 2, 'bb')));
    await store.save();
    store.setBase('c', rec(file(3, 3, 'cc')));
    store.deleteBase('a');
    await store.save();
    store.close();
    const again = await SnapshotStore.open(file1);
    assert.deepEqual([...again.store.base.keys()].sort(), ['b', 'c']);
    again.store.close();
  });

  test('setBase replaces an existing record', async () => {
    const file1 = fresh();
    await saved(file1);
    const { store } = await SnapshotStore.open(file1);
    const next = rec(file(99, 5, 'ff'.repeat(32)));
    store.setBase('src/main.ts', next);
    await store.save();
    store.close();
    const again = await SnapshotStore.open(file1);
    assert.deepEqual(plain(again.store.base.get('src/main.ts')), plain(next));
    assert.equal(again.store.base.size, Object.keys(RECORDS).length);
    again.store.close();
  });

  test('deleteBase removes a record for good; an unknown path is a no-op', async () => {
    const file1 = fresh();
    await saved(file1);
    const { store } = await SnapshotStore.open(file1);
    store.deleteBase('src/latest');
    store.deleteBase('never/there');
    assert.equal(store.base.has('src/latest'), false);
    await store.save();
    store.close();
    const again = await SnapshotStore.open(file1);
    assert.equal(again.store.base.has('src/latest'), false);
    assert.deepEqual([...again.store.base.keys()].sort(), Object.keys(RECORDS).filter((p) => p !== 'src/latest').sort());
    again.store.close();
  });

  test('a failing batch is rolled back', async () => {
    const file1 = fresh();
    const { store } = await SnapshotStore.open(file1);
    assert.throws(() =>
      store.batch(() => {
        store.setBase('x', rec(file(1, 1, 'aa')));
        throw new Error('boom');
      }),
    /boom/);
    await store.save();
    store.close();
    const again = await SnapshotStore.open(file1);
    assert.equal(again.store.base.has('x'), false, 'the rolled-back record must not reach the file');
    again.store.close();
  });

  test('a missing file: no warning, empty base, existed false', async () => {
    const file1 = fresh();
    const { store, warning } = await SnapshotStore.open(file1);
    assert.equal(warning, undefined);
    assert.equal(store.base.size, 0);
    assert.equal(store.existed, false);
    store.close();
    await assert.rejects(fs.stat(file1), { code: 'ENOENT' });
  });

  async function assertMovedAside(file1: string, original: Buffer): Promise<void> {
    const { store, warning } = await SnapshotStore.open(file1);
    assert.match(warning ?? '', /unreadable/);
    assert.equal(store.base.size, 0);
    assert.equal(store.existed, false);
    assert.deepEqual(store.conflicts(), []);
    await assert.rejects(fs.stat(file1), { code: 'ENOENT' });
    const aside = (await fs.readdir(path.dirname(file1))).filter((n) => n.startsWith(`${path.basename(file1)}.corrupt-`));
    assert.equal(aside.length, 1);
    assert.deepEqual(await fs.readFile(path.join(path.dirname(file1), aside[0])), original, 'the unreadable file is kept intact');
    // The next save writes a usable snapshot in its place.
    store.setBase('a', rec(file(1, 1, 'aa')));
    await store.save();
    store.close();
    const again = await SnapshotStore.open(file1);
    assert.equal(again.warning, undefined);
    assert.deepEqual([...again.store.base.keys()], ['a']);
    again.store.close();
  }

  test('a corrupt file (random bytes): warning, no snapshot, moved aside', async () => {
    const file1 = fresh();
    await fs.mkdir(path.dirname(file1), { recursive: true });
    const bytes = randomBytes(8192);
    await fs.writeFile(file1, bytes);
    await assertMovedAside(file1, bytes);
  });

  test('a truncated file (first half of a real snapshot): warning, no snapshot, moved aside', async () => {
    const file1 = fresh();
    const many: Record<string, BaseRecord> = {};
    for (let i = 0; i < 400; i++) many[`dir${i % 7}/file-${i}.txt`] = rec(file(i, 1700000000000 + i, i.toString(16).padStart(64, '0')));
    await saved(file1, many);
    const whole = await fs.readFile(file1);
    assert.ok(whole.length >= 4 * 4096, `the snapshot spans several pages (${whole.length} bytes)`);
    const half = whole.subarray(0, Math.floor(whole.length / 2));
    await fs.writeFile(file1, half);
    await assertMovedAside(file1, Buffer.from(half));
  });

  test('the integrity check is skipped only for the exact bytes last saved (their digest is kept beside)', async () => {
    const file1 = fresh();
    const many: Record<string, BaseRecord> = {};
    for (let i = 0; i < 400; i++) many[`dir${i % 7}/file-${i}.txt`] = rec(file(i, 1700000000000 + i, i.toString(16).padStart(64, '0')));
    const { store } = await SnapshotStore.open(file1);
    store.batch(() => {
      for (const [p, r] of Object.entries(many)) store.setBase(p, r);
    });
    // A conflict, so that the conflicts table has an index page of its own to damage.
    store.replaceConflicts([{ path: 'c.txt', kind: 'both-modified' }], 100);
    await store.save();
    store.close();
    const whole = await fs.readFile(file1);
    assert.equal((await fs.readFile(digestFile(file1), 'utf8')).trim(), createHash('sha256').update(whole).digest('hex'));
    // Damage that reading the base does not notice but the integrity check does: the conflicts
    // table's index page scribbled over.
    const SQL = await loadSqlJs();
    const probe = new SQL.Database(whole);
    const pageSize = Number(probe.exec('PRAGMA page_size')[0].values[0][0]);
    const indexRoot = Number(probe.exec("SELECT rootpage FROM sqlite_master WHERE tbl_name = 'conflicts' AND type = 'index'")[0].values[0][0]);
    probe.close();
    const damaged = Buffer.from(whole);
    damaged.fill(0x5a, (indexRoot - 1) * pageSize + 8, indexRoot * pageSize - 8);
    await fs.writeFile(file1, damaged);
    // The digest is of other bytes: checked, found damaged, moved aside.
    await assertMovedAside(file1, damaged);
    // The same damaged bytes with a digest that matches them read without a check: the digest is what
    // decides, so only bytes this store wrote itself may skip it.
    await fs.writeFile(file1, damaged);
    await fs.writeFile(digestFile(file1), createHash('sha256').update(damaged).digest('hex'));
    const trusted = await SnapshotStore.open(file1);
    assert.equal(trusted.warning, undefined);
    assert.equal(trusted.store.base.size, 400);
    trusted.store.close();
  });

  test('an empty file: warning, no snapshot, moved aside', async () => {
    const file1 = fresh();
    await fs.mkdir(path.dirname(file1), { recursive: true });
    await fs.writeFile(file1, Buffer.alloc(0));
    await assertMovedAside(file1, Buffer.alloc(0));
  });

  test('a SQLite database that is not a snapshot: warning, no snapshot, moved aside', async () => {
    const file1 = fresh();
    await fs.mkdir(path.dirname(file1), { recursive: true });
    const SQL = await loadSqlJs();
    const db = new SQL.Database();
    db.run('CREATE TABLE base (path TEXT PRIMARY KEY, kind TEXT); INSERT INTO base VALUES (\'a\', \'file\')');
    const bytes = Buffer.from(db.export());
    db.close();
    await fs.writeFile(file1, bytes);
    await assertMovedAside(file1, bytes);
  });
});
