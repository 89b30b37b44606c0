import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Base, BaseRecord } from '../../src/engine/base';
import type { Conflict } from '../../src/engine/plan';
import { journalFile } from '../../src/store/journal';
import { SnapshotStore } from '../../src/store/snapshotStore';
import { file, rec } from './fixtures';

/*
 * A save with few changes since the database was written in full writes them as a journal beside it;
 * the next open replays the journal onto exactly those database bytes. A journal that does not fit
 * (torn, or left from before the database was written again) is ignored: the snapshot is as it was
 * before it, stale, never wrong.
 */

let root: string;
let n = 0;
const fresh = () => path.join(root, `case-${++n}`, 'session.db');

before(async () => {
  root = await fs.mkdtemp(path.join(tmpdir(), 'ssh-sync-journal-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const plainBase = (base: Base): Record<string, BaseRecord> => plain(Object.fromEntries([...base].sort(([a], [b]) => (a < b ? -1 : 1))));
const record = (i: number): BaseRecord => rec(file(i, 1_700_000_000_000 + i, (i % 256).toString(16).padStart(2, '0').repeat(32)));
const many = (count: number, from = 0): Record<string, BaseRecord> => Object.fromEntries(Array.from({ length: count }, (_, i) => [`d/f${from + i}`, record(from + i)]));
const CONFLICT: Conflict = { path: 'both.txt', kind: 'both-modified', local: file(1, 1000), remote: file(2, 2000) };

/** A snapshot of `records` written in full, and its database bytes. */
async function savedInFull(snapshot: string, records: Record<string, BaseRecord>): Promise<Buffer> {
  const { store } = await SnapshotStore.open(snapshot);
  store.batch(() => {
    for (const [p, r] of Object.entries(records)) store.setBase(p, r);
  });
  await store.save();
  store.close();
  return fs.readFile(snapshot);
}

/** Opens, changes with `change`, saves, closes; returns what a fresh open then sees. */
async function changed(snapshot: string, change: (store: SnapshotStore) => void) {
  const { store } = await SnapshotStore.open(snapshot);
  change(store);
  await store.save();
  store.close();
  const { store: again, warning } = await SnapshotStore.open(snapshot);
  const seen = { base: plainBase(again.base), conflicts: again.conflicts().map((c) => c.path), meta: again.getMeta<number>('runs'), warning };
  again.close();
  return seen;
}

describe('snapshot journal', () => {
  test('a few changes are journaled, the database is left as it was, and a reopen sees them all', async () => {
    const snapshot = fresh();
    const bytes = await savedInFull(snapshot, many(50));
    const seen = await changed(snapshot, (store) => {
      store.batch(() => {
        store.setBase('d/f1', record(1001));
        store.deleteBase('d/f2');
        store.setBase('new.txt', record(7));
        store.setBase('gone-again.txt', record(8));
        store.deleteBase('gone-again.txt');
      });
      store.replaceConflicts([CONFLICT], 5);
      store.setMeta('runs', 2);
    });
    assert.deepEqual(await fs.readFile(snapshot), bytes, 'the database was written again');
    await fs.access(journalFile(snapshot));
    const expected = many(50);
    expected['d/f1'] = record(1001);
    delete expected['d/f2'];
    expected['new.txt'] = record(7);
    assert.deepEqual(seen.base, plainBase(new Map(Object.entries(expected))));
    assert.deepEqual(seen.conflicts, ['both.txt']);
    assert.equal(seen.meta, 2);
    assert.equal(seen.warning, undefined);

    // Journals add up over runs, and a resolved conflict goes.
    const next = await changed(snapshot, (store) => {
      store.setBase('d/f3', record(1003));
      store.removeConflict('both.txt');
      store.setMeta('runs', 3);
    });
    assert.deepEqual(await fs.readFile(snapshot), bytes);
    assert.deepEqual(next.base['d/f1'], plain(record(1001)));
    assert.deepEqual(next.base['d/f3'], plain(record(1003)));
    assert.equal(next.base['d/f2'], undefined);
    assert.deepEqual(next.conflicts, []);
    assert.equal(next.meta, 3);
  });

  test('a torn journal is ignored: the snapshot is the database as written, without a warning', async () => {
    const snapshot = fresh();
    await savedInFull(snapshot, many(20));
    await changed(snapshot, (store) => store.setBase('d/f1', record(1001)));
    const text = await fs.readFile(journalFile(snapshot), 'utf8');
    await fs.writeFile(journalFile(snapshot), text.slice(0, text.length - 10));
    const { store, warning } = await SnapshotStore.open(snapshot);
    assert.equal(warning, undefined);
    assert.deepEqual(plainBase(store.base), plainBase(new Map(Object.entries(many(20)))));
    store.close();
  });

  test('a journal of other database bytes is ignored (left from before the database was written in full)', async () => {
    const snapshot = fresh();
    await savedInFull(snapshot, many(20));
    await changed(snapshot, (store) => store.setBase('d/f1', record(1001)));
    const old = await fs.readFile(journalFile(snapshot));
    // Written in full again (a fresh first sync of the same name), then the old journal put back.
    await fs.rm(snapshot);
    await savedInFull(snapshot, many(5, 100));
    await fs.writeFile(journalFile(snapshot), old);
    const { store } = await SnapshotStore.open(snapshot);
    assert.deepEqual(plainBase(store.base), plainBase(new Map(Object.entries(many(5, 100)))));
    store.close();
  });

  test('many changes write the database in full, and the journal goes', async () => {
    const snapshot = fresh();
    const bytes = await savedInFull(snapshot, many(10));
    await changed(snapshot, (store) => store.setBase('d/f1', record(1001)));
    await fs.access(journalFile(snapshot));
    const seen = await changed(snapshot, (store) =>
      store.batch(() => {
        for (const [p, r] of Object.entries(many(3000, 10))) store.setBase(p, r);
      }),
    );
    assert.notDeepEqual(await fs.readFile(snapshot), bytes);
    await assert.rejects(fs.access(journalFile(snapshot)), { code: 'ENOENT' });
    assert.equal(Object.keys(seen.base).length, 3010);
    assert.deepEqual(seen.base['d/f1'], plain(record(1001)), 'the journaled change is in the database written in full');
  });

  test('a rolled-back batch leaves nothing in the journal', async () => {
    const snapshot = fresh();
    await savedInFull(snapshot, many(5));
    const seen = await changed(snapshot, (store) => {
      store.setBase('kept.txt', record(1));
      assert.throws(() =>
        store.batch(() => {
          store.setBase('rolled-back.txt', record(2));
          store.deleteBase('d/f0');
          throw new Error('boom');
        }),
      );
    });
    assert.ok(seen.base['kept.txt']);
    assert.equal(seen.base['rolled-back.txt'], undefined);
    assert.ok(seen.base['d/f0']);
  });
});
