import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, describe, mock, test } from 'node:test';
import type { BaseRecord } from '../../src/engine/base';
import type { Direction } from '../../src/engine/policy';
import { LocalReplica } from '../../src/replica/local/localReplica';
import { DEFAULT_PRESERVE } from '../../src/session/config';
import { SyncSession } from '../../src/session/syncSession';
import { SnapshotStore } from '../../src/store/snapshotStore';
import { removeDir, tempDir, writeTree } from '../helpers/tmp';

/*
 * A record made right after a write is "racy": its side is confirmed by hash on the next run that reads
 * that side. Once confirmed, with its mtime well before that run, it is racy no more: it is not hashed
 * on every later run. A side the run did not read (a one-way run's target) stays racy.
 */

const made: string[] = [];
after(async () => {
  for (const dir of made) await removeDir(dir);
});

async function synced(direction: Direction) {
  const root = await tempDir();
  made.push(root);
  const a = path.join(root, 'a');
  const b = path.join(root, 'b');
  await fs.mkdir(a);
  await fs.mkdir(b);
  await writeTree(a, { 'x.txt': 'x content', 'y.txt': 'y content' });
  const minuteAgo = Date.now() / 1000 - 60;
  for (const f of ['x.txt', 'y.txt']) await fs.utimes(path.join(a, f), minuteAgo, minuteAgo);
  const replicas = { local: new LocalReplica(a), remote: new LocalReplica(b) };
  const session = new SyncSession(
    { localRoot: a, peer: b, direction, overwrite: direction === 'bidi' ? 'never' : 'always', deletes: true, symlinks: 'copy', preserve: DEFAULT_PRESERVE, filters: [], stateDir: path.join(root, 'state') },
    replicas,
  );
  const first = await session.run();
  assert.equal(first.copied, 2);
  return { a, b, session, replicas };
}

async function record(session: SyncSession, p: string): Promise<BaseRecord | undefined> {
  const { store } = await SnapshotStore.open(session.snapshotFile);
  try {
    return store.base.get(p);
  } finally {
    store.close();
  }
}

async function makeRacy(session: SyncSession, p: string, racy: BaseRecord['racy']): Promise<void> {
  const { store } = await SnapshotStore.open(session.snapshotFile);
  store.setBase(p, { ...(store.base.get(p) as BaseRecord), racy });
  await store.save();
  store.close();
}

/** The paths each side was asked to hash during one run. */
async function hashedDuring(replicas: Record<'local' | 'remote', LocalReplica>, run: () => Promise<unknown>): Promise<Record<'local' | 'remote', string[]>> {
  const spies = { local: mock.method(replicas.local, 'hash'), remote: mock.method(replicas.remote, 'hash') };
  try {
    await run();
    return { local: spies.local.mock.calls.map((c) => String(c.arguments[0])), remote: spies.remote.mock.calls.map((c) => String(c.arguments[0])) };
  } finally {
    spies.local.mock.restore();
    spies.remote.mock.restore();
  }
}

describe('racy records', () => {
  test('bidi: a racy record is confirmed by hash once, then left alone', async () => {
    const { session, replicas } = await synced('bidi');
    assert.equal((await record(session, 'x.txt'))?.racy, undefined);
    await makeRacy(session, 'x.txt', true);
    const first = await hashedDuring(replicas, () => session.run());
    assert.deepEqual(first, { local: ['x.txt'], remote: ['x.txt'] });
    assert.equal((await record(session, 'x.txt'))?.racy, undefined, 'confirmed on both sides: racy no more');
    const second = await hashedDuring(replicas, () => session.run());
    assert.deepEqual(second, { local: [], remote: [] }, 'nothing to confirm any more');
  });

  test('push: the source side is cleared when confirmed, the unread target side stays racy', async () => {
    const { session, replicas } = await synced('push');
    await makeRacy(session, 'x.txt', 'local');
    await makeRacy(session, 'y.txt', true);
    const hashed = await hashedDuring(replicas, () => session.run());
    assert.deepEqual(hashed.local.sort(), ['x.txt', 'y.txt']);
    assert.deepEqual(hashed.remote, [], 'a push does not read its target');
    assert.equal((await record(session, 'x.txt'))?.racy, undefined);
    assert.equal((await record(session, 'y.txt'))?.racy, 'remote');
  });

  test('a confirmed side whose mtime is still within the window stays racy', async () => {
    const { a, session, replicas } = await synced('bidi');
    // The same content with an mtime ahead of the clock: the next run is still within its window.
    const ahead = Date.now() / 1000 + 3600;
    await fs.utimes(path.join(a, 'x.txt'), ahead, ahead);
    const { store } = await SnapshotStore.open(session.snapshotFile);
    const was = store.base.get('x.txt') as BaseRecord;
    const stat = await fs.stat(path.join(a, 'x.txt'));
    store.setBase('x.txt', { ...was, local: { ...was.local, mtimeMs: stat.mtimeMs }, racy: 'local' });
    await store.save();
    store.close();
    const hashed = await hashedDuring(replicas, () => session.run());
    assert.deepEqual(hashed.local, ['x.txt']);
    assert.equal((await record(session, 'x.txt'))?.racy, 'local');
  });
});
