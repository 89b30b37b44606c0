import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, describe, mock, test } from 'node:test';
import type { Action } from '../../src/engine/plan';
import type { Direction, Overwrite } from '../../src/engine/policy';
import * as reconcileModule from '../../src/engine/reconcile';
import { LocalReplica } from '../../src/replica/local/localReplica';
import { DEFAULT_PRESERVE, type SessionConfig } from '../../src/session/config';
import type { SyncSummary } from '../../src/session/events';
import { SyncSession } from '../../src/session/syncSession';
import { SnapshotStore } from '../../src/store/snapshotStore';
import { readTree, removeDir, tempDir, writeTree, type TreeSpec } from '../helpers/tmp';

/*
 * A run with a snapshot decides about what changed since it, renames and moves included: a renamed
 * directory in a big tree costs a plan of the renamed paths, not of the whole tree. "Scoped" is seen
 * through what the reconciler is given: an unchanged path elsewhere is not even looked at.
 */

const made: string[] = [];
after(async () => {
  for (const dir of made) await removeDir(dir);
});

/** Untouched files beside the ones a test changes: a scoped run never looks at them. */
const ELSEWHERE: TreeSpec = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`elsewhere/e${i}.txt`, `elsewhere ${i}`]));
const many = (dir: string, n: number): TreeSpec => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${dir}/f${i}.txt`, `${dir} content ${i}`]));

/** Sets every mtime a minute back: a record made right after a write is "racy" and confirmed by hash next time, which would put it in the scope. */
async function age(root: string): Promise<void> {
  const when = Date.now() / 1000 - 60.5;
  const walk = async (dir: string) => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) await walk(abs);
      await fs.utimes(abs, when, when);
    }
  };
  await walk(root);
}

interface Observed {
  readonly summary: SyncSummary;
  /** What was done, sorted: 'rename lib -> src', 'clone a -> b', 'copy remote x'… */
  readonly actions: string[];
  /** Every path the reconciler was given (base, local or remote), over all its rounds. */
  readonly looked: ReadonlySet<string>;
}

const describeAction = (a: Action) => (a.kind === 'rename' || a.kind === 'clone' ? `${a.kind} ${a.from} -> ${a.path}` : `${a.kind} ${a.to} ${a.path}`);

async function observedRun(session: SyncSession): Promise<Observed> {
  const spy = mock.method(reconcileModule, 'reconcile');
  const actions: string[] = [];
  const off = session.onEvent((e) => void (e.type === 'action' && actions.push(describeAction(e.action))));
  try {
    const summary = await session.run();
    const looked = new Set<string>();
    for (const call of spy.mock.calls) for (const map of call.arguments.slice(0, 3) as Map<string, unknown>[]) for (const p of map.keys()) looked.add(p);
    return { summary, actions: actions.sort(), looked };
  } finally {
    off();
    spy.mock.restore();
  }
}

/** Two folders synced once with `spec` (written on the source side), aged so that nothing is racy. */
async function synced(spec: TreeSpec, direction: Direction, overwrite: Overwrite = direction === 'bidi' ? 'never' : 'always') {
  const root = await tempDir();
  made.push(root);
  const a = path.join(root, 'a');
  const b = path.join(root, 'b');
  await fs.mkdir(a);
  await fs.mkdir(b);
  const source = direction === 'pull' ? b : a;
  await writeTree(source, { ...spec, ...ELSEWHERE });
  await age(source);
  const config: SessionConfig = {
    localRoot: a,
    peer: b,
    direction,
    overwrite,
    deletes: true,
    symlinks: 'copy',
    preserve: DEFAULT_PRESERVE,
    filters: [],
    stateDir: path.join(root, 'state'),
  };
  const session = new SyncSession(config, { local: new LocalReplica(a), remote: new LocalReplica(b) });
  const first = await session.run();
  assert.equal(first.failed + first.conflicts + first.problems, 0, JSON.stringify(first));
  assert.deepEqual(await readTree(b), await readTree(a));
  return { a, b, session, run: () => observedRun(session) };
}

/** The snapshot's records at or under `under`, as stored. */
async function recordsUnder(session: SyncSession, under: string): Promise<Record<string, unknown>> {
  const { store } = await SnapshotStore.open(session.snapshotFile);
  try {
    return Object.fromEntries([...store.base].filter(([p]) => p === under || p.startsWith(`${under}/`)).sort());
  } finally {
    store.close();
  }
}

function assertScoped(o: Observed, mayLookAt = 1000): void {
  assert.ok(o.looked.size > 0, 'the run made a plan');
  assert.ok(!o.looked.has('elsewhere/e0.txt') && !o.looked.has('elsewhere'), `an unchanged path elsewhere was looked at: the plan was not scoped (${o.looked.size} paths)`);
  assert.ok(o.looked.size <= mayLookAt, `${o.looked.size} paths looked at`);
}

describe('scoped runs: renames, moves and copies are decided about without the rest of the tree', () => {
  test('push: a renamed directory of 50 files is one rename, within a plan of just the renamed paths', async () => {
    const w = await synced({ ...many('lib', 50), 'notes.txt': 'notes' }, 'push');
    const elsewhere = await recordsUnder(w.session, 'elsewhere');
    const lib = await recordsUnder(w.session, 'lib');
    await fs.rename(path.join(w.a, 'lib'), path.join(w.a, 'src'));
    const o = await w.run();
    assert.deepEqual(o.actions, ['rename lib -> src']);
    assert.equal(o.summary.bytes, 0);
    assert.equal(o.summary.renamed, 1);
    // Both ends and what is under them: 2 × 51 paths.
    assertScoped(o, 102);
    assert.deepEqual(await readTree(w.b), await readTree(w.a));
    // The records followed the rename; those outside the scope are exactly as they were.
    assert.deepEqual(await recordsUnder(w.session, 'lib'), {});
    assert.deepEqual(Object.values(await recordsUnder(w.session, 'src')), Object.values(lib));
    assert.deepEqual(await recordsUnder(w.session, 'elsewhere'), elsewhere);
    // The snapshot followed the rename: nothing left to do, and nothing to decide about either.
    const again = await w.run();
    assert.deepEqual(again.actions, []);
    assert.equal(again.looked.size, 0);
  });

  test('push: a file moved to another directory is a rename; its unchanged neighbours are not looked at', async () => {
    const w = await synced({ 'a/x.txt': 'moving', 'a/stay.txt': 'stay', 'b/other.txt': 'other' }, 'push');
    await fs.rename(path.join(w.a, 'a/x.txt'), path.join(w.a, 'b/x.txt'));
    const o = await w.run();
    assert.deepEqual(o.actions, ['rename a/x.txt -> b/x.txt']);
    assertScoped(o);
    assert.ok(!o.looked.has('a/stay.txt') && !o.looked.has('b/other.txt'), [...o.looked].join(' '));
    assert.deepEqual(await readTree(w.b), await readTree(w.a));
  });

  test('push: a rename and an unrelated edit in one run', async () => {
    const w = await synced({ ...many('docs', 5), 'src/main.txt': 'v1' }, 'push');
    await fs.rename(path.join(w.a, 'docs'), path.join(w.a, 'manual'));
    await fs.writeFile(path.join(w.a, 'src/main.txt'), 'version two');
    const o = await w.run();
    assert.deepEqual(o.actions, ['copy remote src/main.txt', 'rename docs -> manual']);
    assertScoped(o);
    assert.deepEqual(await readTree(w.b), await readTree(w.a));
  });

  test('push: a new copy of an unchanged file elsewhere is copied on the peer from its copy there: no bytes sent', async () => {
    const big = 'x'.repeat(100_000);
    const w = await synced({ 'assets/logo.bin': big, 'assets/other.bin': 'y'.repeat(100_000) }, 'push');
    await writeTree(w.a, { 'docs/logo-copy.bin': big });
    const o = await w.run();
    assert.deepEqual(o.actions, ['clone assets/logo.bin -> docs/logo-copy.bin', 'mkdir remote docs']);
    assert.equal(o.summary.bytes, 0);
    // The source of the copy lies outside the scope: found in its record, never looked at.
    assertScoped(o);
    assert.ok(!o.looked.has('assets/logo.bin'));
    assert.deepEqual(await readTree(w.b), await readTree(w.a));
  });

  test('push: a copy whose source changed on the peer behind the snapshot is sent instead: the right content lands', async () => {
    const big = 'x'.repeat(100_000);
    const w = await synced({ 'assets/logo.bin': big }, 'push');
    await fs.writeFile(path.join(w.b, 'assets/logo.bin'), 'z'.repeat(100_000));
    await writeTree(w.a, { 'docs/logo-copy.bin': big });
    const o = await w.run();
    assertScoped(o);
    assert.equal(o.summary.failed, 0, JSON.stringify(o.summary));
    assert.equal(await fs.readFile(path.join(w.b, 'docs/logo-copy.bin'), 'utf8'), big);
    assert.equal(o.summary.bytes, 100_000);
  });

  test('bidi: a local rename is replayed on the peer, a peer rename locally, each within a scoped plan', async () => {
    const w = await synced({ ...many('d', 3), ...many('e', 3) }, 'bidi');
    await fs.rename(path.join(w.a, 'd'), path.join(w.a, 'local-renamed'));
    let o = await w.run();
    assert.deepEqual(o.actions, ['rename d -> local-renamed']);
    assertScoped(o);
    assert.deepEqual(await readTree(w.b), await readTree(w.a));

    await fs.rename(path.join(w.b, 'e'), path.join(w.b, 'peer-renamed'));
    await fs.rename(path.join(w.b, 'local-renamed/f0.txt'), path.join(w.b, 'local-renamed/moved.txt'));
    o = await w.run();
    assert.deepEqual(o.actions, ['rename e -> peer-renamed', 'rename local-renamed/f0.txt -> local-renamed/moved.txt']);
    assertScoped(o);
    assert.deepEqual(await readTree(w.a), await readTree(w.b));
    assert.equal((await readTree(w.a))['peer-renamed/f2.txt'], 'e content 2');
  });

  test('bidi: a rename whose old name the peer edited meanwhile loses nothing: the edit stays, a conflict is kept', async () => {
    const w = await synced({ 'f.txt': 'base' }, 'bidi');
    await fs.rename(path.join(w.a, 'f.txt'), path.join(w.a, 'g.txt'));
    await fs.writeFile(path.join(w.b, 'f.txt'), 'edited on the peer');
    const o = await w.run();
    assertScoped(o);
    assert.equal(o.summary.conflicts, 1, JSON.stringify(o.summary));
    assert.equal(await fs.readFile(path.join(w.b, 'f.txt'), 'utf8'), 'edited on the peer');
    assert.equal(await fs.readFile(path.join(w.b, 'g.txt'), 'utf8'), 'base');
    assert.equal(await fs.readFile(path.join(w.a, 'g.txt'), 'utf8'), 'base');
    assert.deepEqual((await w.session.conflicts()).map((c) => c.path), ['f.txt']);
    // The conflict is decided about again (it is in the scope), and still kept.
    const again = await w.run();
    assert.equal(again.summary.conflicts, 1);
    assert.equal(await fs.readFile(path.join(w.b, 'f.txt'), 'utf8'), 'edited on the peer');
  });

  test('push: a rename whose old name the peer changed behind the snapshot loses nothing', async () => {
    const w = await synced({ 'f.txt': 'base', 'dir/one.txt': '1' }, 'push', 'never');
    await fs.rename(path.join(w.a, 'f.txt'), path.join(w.a, 'g.txt'));
    await fs.rename(path.join(w.a, 'dir'), path.join(w.a, 'dir2'));
    await fs.writeFile(path.join(w.b, 'f.txt'), 'edited on the peer');
    await fs.writeFile(path.join(w.b, 'dir/one.txt'), 'one edited on the peer');
    const first = await w.run();
    assertScoped(first);
    assert.equal(first.summary.failed, 0, JSON.stringify(first.summary));
    const second = await w.run();
    assert.equal(second.summary.failed, 0, JSON.stringify(second.summary));
    // The new names arrived; the peer's edits are still there (the renamed file's as a conflict).
    const peer = await readTree(w.b);
    assert.equal(peer['g.txt'], 'base');
    assert.equal(peer['f.txt'], 'edited on the peer');
    assert.deepEqual((await w.session.conflicts()).map((c) => c.path), ['f.txt']);
    // (A directory's rename carries the peer's edit inside it along: it is kept, under the new name.)
    assert.ok(Object.values(peer).includes('one edited on the peer'), JSON.stringify(peer));
  });

  test('pull: a rename on the peer is replayed locally within a scoped plan', async () => {
    const w = await synced(many('d', 4), 'pull');
    await fs.rename(path.join(w.b, 'd'), path.join(w.b, 'd2'));
    const o = await w.run();
    assert.deepEqual(o.actions, ['rename d -> d2']);
    assertScoped(o);
    assert.deepEqual(await readTree(w.a), await readTree(w.b));
  });

  test('the mass-delete guard counts the whole side: deleting 120 of 140 files beside a new one halts', async () => {
    const w = await synced({ ...many('big', 120), 'keep.txt': 'k' }, 'push');
    await fs.rm(path.join(w.a, 'big'), { recursive: true });
    await writeTree(w.a, { 'new.txt': 'new' });
    const before = await readTree(w.b);
    const o = await w.run();
    assertScoped(o);
    assert.match(o.summary.halted ?? '', /delete 120 of 141 files on the remote side/);
    assert.deepEqual(await readTree(w.b), before);
  });
});
