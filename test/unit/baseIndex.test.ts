import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Base, BaseRecord } from '../../src/engine/base';
import { classify } from '../../src/engine/change';
import type { Entry, SyncableEntry } from '../../src/engine/entry';
import type { Side } from '../../src/engine/policy';
import { indexFile } from '../../src/store/baseIndex';
import { ColumnarBase } from '../../src/store/columnarBase';
import { SnapshotStore } from '../../src/store/snapshotStore';
import { dir, file, link, rec } from './fixtures';

let root: string;
let n = 0;
const fresh = () => path.join(root, `case-${++n}`, 'session.db');

before(async () => {
  root = await fs.mkdtemp(path.join(tmpdir(), 'ssh-sync-index-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function plainBase(base: Base): [string, BaseRecord][] {
  return plain([...base].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Every shape a record can take: kinds, hashes or none, each racy value, identities or none, odd names. */
const RECORDS: Record<string, BaseRecord> = {
  'src/main.ts': rec(
    file(1234, 1700000000123.5, 'ab'.repeat(32), { uid: 1000, gid: 100, ino: 2 ** 40 + 5, dev: 66306 }),
    file(1234, 1700000000000, undefined, { uid: 501, gid: 20, mode: 0o600 }),
  ),
  src: rec(dir({ mode: 0o750, uid: 1000, gid: 100, ino: 42, dev: 66306 }), dir({ mode: 0o755 })),
  'src/latest': rec(link('../build/latest', 1700000000500)),
  'src/odd link': rec({ kind: 'symlink', target: 'caf\u00e9/\u2603', mtimeMs: 5, uid: 0, gid: 0, ino: 9, dev: 1 }),
  'racy.txt': rec(file(3, 1700000001000, 'cd'.repeat(32)), file(3, 1700000001000), undefined, true),
  'racy-local.txt': { ...rec(file(4, 1700000001001, 'ee'.repeat(32))), racy: 'local' },
  'racy-remote.txt': { ...rec(file(5, 1700000001002, 'ff'.repeat(32))), racy: 'remote' },
  'no-hash.bin': rec(file(7, 1700000002000, undefined, { mode: 0o755, uid: 0, gid: 0 })),
  'caf\u00e9 \u2603.md': rec(file(0, 1, 'ef'.repeat(32))),
  'deep/a/b/c/d/e/f.txt': rec(file(2 ** 40, 1e12 + 0.25, '01'.repeat(32), { ino: 0, dev: 0 })),
};

async function saved(file1: string, records: Record<string, BaseRecord> = RECORDS): Promise<void> {
  const { store } = await SnapshotStore.open(file1);
  store.batch(() => {
    for (const [p, r] of Object.entries(records)) store.setBase(p, r);
  });
  await store.save();
  store.close();
}

async function openBase(file1: string): Promise<{ base: Base; columnar: boolean }> {
  const { store, warning } = await SnapshotStore.open(file1);
  assert.equal(warning, undefined);
  const base = new Map(store.base);
  const columnar = store.base instanceof ColumnarBase;
  store.close();
  return { base, columnar };
}

/** The base as the database's rows give it (no index beside it). */
async function fromRows(file1: string): Promise<Base> {
  const copy = path.join(path.dirname(file1), `rows-${path.basename(file1)}`);
  await fs.copyFile(file1, copy);
  const opened = await openBase(copy);
  assert.equal(opened.columnar, false);
  return opened.base;
}

describe('base index', () => {
  test('a save writes the index, and the base read through it equals the base read from the rows', async () => {
    const file1 = fresh();
    await saved(file1);
    await fs.stat(indexFile(file1));
    const opened = await openBase(file1);
    assert.ok(opened.columnar, 'the index was used');
    assert.deepEqual(plainBase(opened.base), plainBase(await fromRows(file1)));
    assert.deepEqual(plainBase(opened.base), plainBase(new Map(Object.entries(RECORDS))));
  });

  test('an index that does not describe the database exactly is not used', async () => {
    const cases: Record<string, (file1: string, index: Buffer) => Promise<void>> = {
      'the database saved again since (older index put back)': async (file1, index) => {
        const { store } = await SnapshotStore.open(file1);
        store.setBase('added.txt', rec(file(1, 2, 'aa'.repeat(32))));
        store.deleteBase('src/main.ts');
        await store.save({ full: true });
        store.close();
        await fs.writeFile(indexFile(file1), index);
      },
      'one byte of the body changed': async (file1, index) => {
        const bad = Buffer.from(index);
        bad[bad.length - 40] ^= 0x01;
        await fs.writeFile(indexFile(file1), bad);
      },
      'torn (first half only)': async (file1, index) => fs.writeFile(indexFile(file1), index.subarray(0, index.length >> 1)),
      'empty': async (file1) => fs.writeFile(indexFile(file1), ''),
      'not an index': async (file1) => fs.writeFile(indexFile(file1), '{"magic":"something else"}\n' + 'x'.repeat(100)),
    };
    for (const [name, spoil] of Object.entries(cases)) {
      const file1 = fresh();
      await saved(file1);
      const index = await fs.readFile(indexFile(file1));
      await spoil(file1, index);
      const opened = await openBase(file1);
      assert.equal(opened.columnar, false, `${name}: the index must not be used`);
      assert.deepEqual(plainBase(opened.base), plainBase(await fromRows(file1)), name);
    }
  });

  test('records never built are carried over as they are when the snapshot is saved again', async () => {
    const file1 = fresh();
    await saved(file1);
    const { store } = await SnapshotStore.open(file1);
    assert.ok(store.base instanceof ColumnarBase);
    store.setBase('src/main.ts', rec(file(1, 1, 'bb'.repeat(32))));
    store.deleteBase('racy.txt');
    store.setBase('new.txt', rec(file(2, 2, 'cc'.repeat(32))));
    await store.save({ full: true });
    store.close();
    const expected = { ...RECORDS, 'src/main.ts': rec(file(1, 1, 'bb'.repeat(32))), 'new.txt': rec(file(2, 2, 'cc'.repeat(32))) };
    delete (expected as Record<string, BaseRecord>)['racy.txt'];
    const opened = await openBase(file1);
    assert.ok(opened.columnar);
    assert.deepEqual(plainBase(opened.base), plainBase(new Map(Object.entries(expected))));
    assert.deepEqual(plainBase(opened.base), plainBase(await fromRows(file1)));
  });

  test('a snapshot without an index gets one when a run leaves its base unchanged, not after a change', async () => {
    const file1 = fresh();
    await saved(file1);
    await fs.rm(indexFile(file1));
    const first = await SnapshotStore.open(file1);
    first.store.setBase('x', rec(file(1, 1, 'aa'.repeat(32))));
    await first.store.writeIndexIfMissing();
    first.store.close();
    await assert.rejects(fs.stat(indexFile(file1)), { code: 'ENOENT' }, 'a base changed in memory only is not what the database holds');
    const second = await SnapshotStore.open(file1);
    assert.ok(!(second.store.base instanceof ColumnarBase));
    second.store.setMeta('config', { any: 1 }); // meta is not in the index
    await second.store.writeIndexIfMissing();
    second.store.close();
    const opened = await openBase(file1);
    assert.ok(opened.columnar);
    assert.deepEqual(plainBase(opened.base), plainBase(new Map(Object.entries(RECORDS))));
  });

  test('a store held open for many runs (deferIndex) writes no index at each save, and one when asked before closing', async () => {
    const file1 = fresh();
    await saved(file1);
    const { store } = await SnapshotStore.open(file1);
    store.deferIndex = true;
    store.setBase('later.txt', rec(file(3, 3, 'dd'.repeat(32))));
    await store.save({ full: true });
    let opened = await openBase(file1);
    assert.equal(opened.columnar, false, 'the index on disk describes the database before this save');
    assert.ok(opened.base.has('later.txt'));
    await store.writeIndexIfMissing();
    store.close();
    opened = await openBase(file1);
    assert.ok(opened.columnar);
    assert.deepEqual(plainBase(opened.base), plainBase(new Map(Object.entries({ ...RECORDS, 'later.txt': rec(file(3, 3, 'dd'.repeat(32))) }))));
  });

  test('a rolled-back batch leaves the base in memory as the database has it', async () => {
    const file1 = fresh();
    await saved(file1);
    const { store } = await SnapshotStore.open(file1);
    const before = plainBase(store.base);
    assert.throws(() =>
      store.batch(() => {
        store.setBase('x', rec(file(1, 1, 'aa'.repeat(32))));
        store.setBase('src/main.ts', rec(file(9, 9, 'bb'.repeat(32))));
        store.deleteBase('racy.txt');
        throw new Error('boom');
      }),
    );
    assert.deepEqual(plainBase(store.base), before);
    store.close();
  });
});

describe('ColumnarBase', () => {
  async function columnar(): Promise<ColumnarBase> {
    const file1 = fresh();
    await saved(file1);
    const { store } = await SnapshotStore.open(file1);
    assert.ok(store.base instanceof ColumnarBase);
    return store.base;
  }

  test('behaves as a Map: order, get, set, delete, size, iteration', async () => {
    const base = await columnar();
    const reference = new Map(Object.entries(RECORDS));
    assert.equal(base.size, reference.size);
    assert.deepEqual(new Set(base.keys()), new Set(reference.keys()));
    const order = [...base.keys()];
    assert.deepEqual(plain(base.get('src')), plain(reference.get('src')));
    assert.equal(base.get('src'), base.get('src'), 'a record is built once');
    assert.deepEqual([...base.keys()], order, 'building a record keeps its place');
    assert.equal(base.get('missing'), undefined);
    assert.equal(base.has('racy.txt'), true);
    assert.equal(base.delete('racy.txt'), true);
    assert.equal(base.delete('racy.txt'), false);
    assert.equal(base.has('racy.txt'), false);
    const added = rec(file(1, 1));
    base.set('zz', added);
    assert.equal(base.get('zz'), added);
    assert.deepEqual([...base.keys()], [...order.filter((p) => p !== 'racy.txt'), 'zz']);
    const seen: string[] = [];
    base.forEach((record, p, map) => {
      assert.equal(map, base);
      assert.deepEqual(plain(record), plain(p === 'zz' ? added : reference.get(p)));
      seen.push(p);
    });
    assert.deepEqual(seen, [...base.keys()]);
    assert.deepEqual([...base.values()].length, base.size);
    assert.deepEqual(plain([...base]), plain([...base.entries()]));
    assert.equal(Object.prototype.toString.call(base), '[object Map]');
    base.clear();
    assert.equal(base.size, 0);
  });

  /** Entries near a record: the same, and each field changed in turn. */
  function variants(entry: SyncableEntry): Entry[] {
    const out: Entry[] = [entry, { kind: 'problem', message: 'x' }, dir(), file(1, 1), link('t')];
    const changes: Record<string, unknown>[] = [
      { size: 99999 }, { mtimeMs: 1 }, { mode: 0o777 }, { mode: undefined }, { uid: 4242 }, { uid: undefined }, { gid: 4242 }, { gid: undefined },
      { ino: 777 }, { dev: 777 }, { hash: 'ab'.repeat(32) }, { hash: '00'.repeat(32) }, { target: 'elsewhere' },
    ];
    for (const change of changes) out.push({ ...entry, ...change } as Entry);
    return out;
  }

  test('matchesRecorded holds only where classify finds the path unchanged without a hash, and does hold for an untouched path', async () => {
    const base = await columnar();
    const reference = new Map(Object.entries(RECORDS));
    let matched = 0;
    for (const [p, record] of reference) {
      for (const side of ['local', 'remote'] as Side[]) {
        for (const entry of variants(record[side])) {
          // A fresh base each time: matchesRecorded answers only for records not built yet.
          if (!base.matchesRecorded(p, side, entry)) continue;
          matched++;
          assert.equal(entry.kind !== 'problem', true);
          for (const preserve of [undefined, { mode: true, owner: true }, { mode: false, owner: false }]) {
            const c = classify(record, record[side], entry as SyncableEntry, preserve, side);
            assert.deepEqual(c, { change: 'unchanged', needsHash: false }, `${p} ${side} ${JSON.stringify(entry)}`);
          }
        }
      }
    }
    assert.equal(base.matchesRecorded('src/main.ts', 'local', RECORDS['src/main.ts'].local), true);
    assert.equal(base.matchesRecorded('src', 'remote', RECORDS.src.remote), true);
    assert.equal(base.matchesRecorded('racy.txt', 'local', RECORDS['racy.txt'].local), false, 'racy: confirmed by hash');
    assert.equal(base.matchesRecorded('racy-local.txt', 'remote', RECORDS['racy-local.txt'].remote), true);
    assert.equal(base.matchesRecorded('racy-local.txt', 'local', RECORDS['racy-local.txt'].local), false);
    assert.equal(base.matchesRecorded('missing', 'local', file(1, 1)), false);
    assert.ok(matched >= 10, `the quick check answered ${matched} times`);
    // Once built (or replaced), a record is left to classify().
    base.get('src/main.ts');
    assert.equal(base.matchesRecorded('src/main.ts', 'local', RECORDS['src/main.ts'].local), false);
  });
});
