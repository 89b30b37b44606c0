import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { readTree, setMtime, writeTree } from '../helpers/tmp';
import { sandbox } from './sandbox';

describe('push', () => {
  test('creates, updates and deletes on the peer; a drifted peer file is overwritten where local changed, and in full with --rescan', async () => {
    const box = await sandbox({ 'x.txt': 'x1', 'd/y.txt': 'y1', 'gone.txt': 'g' }, { 'extra.txt': 'only on peer' });
    let r = await box.sync('--direction', 'push');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readTree(box.b), { d: '<dir>', 'd/y.txt': 'y1', 'gone.txt': 'g', 'x.txt': 'x1' });

    await writeTree(box.a, { 'x.txt': 'x2', 'new/z.txt': 'z' });
    await fs.rm(path.join(box.a, 'gone.txt'));
    await writeTree(box.b, { 'd/y.txt': 'edited on the peer', 'x.txt': 'also edited on the peer' });
    r = await box.sync('--direction', 'push');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^push {2}x\.txt$/m);
    assert.match(r.stdout, /^del {3}gone\.txt \(remote\)$/m);
    // With a snapshot a push looks at the peer only where it writes: x.txt (changed on both) follows
    // --overwrite (always: the local version wins); d/y.txt, changed on the peer alone, is not seen.
    assert.equal(await fs.readFile(path.join(box.b, 'x.txt'), 'utf8'), 'x2');
    assert.equal(await fs.readFile(path.join(box.b, 'd/y.txt'), 'utf8'), 'edited on the peer');
    r = await box.sync('--direction', 'push', '--rescan');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readTree(box.b), await readTree(box.a));
    assert.deepEqual(await readTree(box.a), { d: '<dir>', 'd/y.txt': 'y1', new: '<dir>', 'new/z.txt': 'z', 'x.txt': 'x2' });
  });

  test('never writes to the local folder', async () => {
    const box = await sandbox({ 'x.txt': 'x' }, { 'peer.txt': 'p' });
    const r = await box.sync('--direction', 'push');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readTree(box.a), { 'x.txt': 'x' });
  });

  test('--no-delete keeps files on the peer that are gone locally', async () => {
    const box = await sandbox({ 'x.txt': 'x', 'y.txt': 'y' });
    await box.sync('--direction', 'push');
    await fs.rm(path.join(box.a, 'y.txt'));
    const r = await box.sync('--direction', 'push', '--no-delete');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readTree(box.b), { 'x.txt': 'x', 'y.txt': 'y' });
  });

  test('--overwrite newer leaves a newer peer file alone and replaces an older one', async () => {
    const box = await sandbox({ 'old-on-peer.txt': 'local', 'new-on-peer.txt': 'local' }, { 'old-on-peer.txt': 'peer!', 'new-on-peer.txt': 'peer!' });
    await setMtime(path.join(box.a, 'old-on-peer.txt'), 2_000_000_000);
    await setMtime(path.join(box.b, 'old-on-peer.txt'), 1_000_000_000);
    await setMtime(path.join(box.a, 'new-on-peer.txt'), 1_000_000_000);
    await setMtime(path.join(box.b, 'new-on-peer.txt'), 2_000_000_000);
    const r = await box.sync('--direction', 'push', '--overwrite', 'newer');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readTree(box.b), { 'new-on-peer.txt': 'peer!', 'old-on-peer.txt': 'local' });
    assert.match(r.stdout, /skip {2}new-on-peer\.txt: the remote copy is newer/);
  });

  test('--overwrite never turns a drifted peer file into a conflict and leaves both sides as they are', async () => {
    const box = await sandbox({ 'f.txt': 'v1' });
    await box.sync('--direction', 'push');
    await writeTree(box.b, { 'f.txt': 'peer edit' });
    await writeTree(box.a, { 'f.txt': 'local edit' });
    const r = await box.sync('--direction', 'push', '--overwrite', 'never');
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /CONFLICT both-modified +f\.txt/);
    assert.equal(await fs.readFile(path.join(box.b, 'f.txt'), 'utf8'), 'peer edit');
    assert.equal(await fs.readFile(path.join(box.a, 'f.txt'), 'utf8'), 'local edit');
  });
});

describe('pull', () => {
  test('brings creates, updates and deletes from the peer and never writes to it', async () => {
    const box = await sandbox({ 'local-only.txt': 'l' }, { 'p.txt': 'p1', 'd/q.txt': 'q1' });
    let r = await box.sync('--direction', 'pull');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readTree(box.a), { d: '<dir>', 'd/q.txt': 'q1', 'p.txt': 'p1' });

    await writeTree(box.b, { 'p.txt': 'p2' });
    await fs.rm(path.join(box.b, 'd'), { recursive: true });
    const peerBefore = await readTree(box.b);
    r = await box.sync('--direction', 'pull');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^pull {2}p\.txt$/m);
    assert.deepEqual(await readTree(box.a), { 'p.txt': 'p2' });
    assert.deepEqual(await readTree(box.b), peerBefore);
  });
});

describe('bidi', () => {
  test('changes on each side reach the other, deletions included', async () => {
    const box = await sandbox({ 'a.txt': 'a', 'shared.txt': 's' }, { 'b.txt': 'b' });
    let r = await box.sync();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readTree(box.a), await readTree(box.b));

    await writeTree(box.a, { 'a.txt': 'a2' });
    await writeTree(box.b, { 'b.txt': 'b2', 'sub/new.txt': 'n' });
    await fs.rm(path.join(box.b, 'shared.txt'));
    r = await box.sync();
    assert.equal(r.code, 0, r.stderr);
    const expected = { 'a.txt': 'a2', 'b.txt': 'b2', sub: '<dir>', 'sub/new.txt': 'n' };
    assert.deepEqual(await readTree(box.a), expected);
    assert.deepEqual(await readTree(box.b), expected);
  });

  test('a file changed on both sides is a conflict: both sides stay exactly as they are, exit 3', async () => {
    const box = await sandbox({ 'f.txt': 'base' });
    await box.sync();
    await writeTree(box.a, { 'f.txt': 'local edit' });
    await writeTree(box.b, { 'f.txt': 'peer edit' });
    for (let i = 0; i < 2; i++) {
      const r = await box.sync();
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stdout, /CONFLICT both-modified +f\.txt/);
      assert.equal(await fs.readFile(path.join(box.a, 'f.txt'), 'utf8'), 'local edit');
      assert.equal(await fs.readFile(path.join(box.b, 'f.txt'), 'utf8'), 'peer edit');
    }
  });

  test('the same edit on both sides is agreement, not a conflict', async () => {
    const box = await sandbox({ 'f.txt': 'base' });
    await box.sync();
    await writeTree(box.a, { 'f.txt': 'same edit' });
    await writeTree(box.b, { 'f.txt': 'same edit' });
    const r = await box.sync();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /^(CONFLICT|push|pull) /m);
  });

  test('modified on one side and deleted on the other is a conflict; nothing is deleted', async () => {
    const box = await sandbox({ 'f.txt': 'base', 'd/g.txt': 'g' });
    await box.sync();
    await writeTree(box.a, { 'f.txt': 'edited', 'd/g.txt': 'edited too' });
    await fs.rm(path.join(box.b, 'f.txt'));
    await fs.rm(path.join(box.b, 'd'), { recursive: true });
    const r = await box.sync();
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /CONFLICT modified-vs-deleted +f\.txt/);
    assert.match(r.stdout, /CONFLICT modified-vs-deleted +d$/m);
    assert.deepEqual(await readTree(box.a), { d: '<dir>', 'd/g.txt': 'edited too', 'f.txt': 'edited' });
    assert.deepEqual(await readTree(box.b), {});
  });

  test('first run: identical files are adopted without transfer; same size and mtime but other content is a conflict', async () => {
    const box = await sandbox({ 'same.txt': 'identical', 'diff.txt': 'abc' }, { 'same.txt': 'identical', 'diff.txt': 'xyz' });
    for (const f of ['diff.txt', 'same.txt']) {
      await setMtime(path.join(box.a, f), 1_700_000_000);
      await setMtime(path.join(box.b, f), 1_700_000_000);
    }
    const r = await box.sync('--json');
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(events.filter((e) => e.type === 'action'), []);
    assert.deepEqual(events.filter((e) => e.type === 'conflict').map((e) => [e.path, e.kind]), [['diff.txt', 'undeterminable']]);
    assert.equal(events.at(-1).type, 'summary');
    assert.equal(events.at(-1).bytes, 0);
    assert.equal(await fs.readFile(path.join(box.b, 'diff.txt'), 'utf8'), 'xyz');
  });

  test('--overwrite newer in bidi lets the newer version win instead of a conflict', async () => {
    const box = await sandbox({ 'f.txt': 'base' });
    await box.sync();
    await writeTree(box.a, { 'f.txt': 'older local edit' });
    await writeTree(box.b, { 'f.txt': 'newer peer edit' });
    await setMtime(path.join(box.a, 'f.txt'), 1_800_000_000);
    await setMtime(path.join(box.b, 'f.txt'), 1_800_000_100);
    const r = await box.sync('--overwrite', 'newer');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await fs.readFile(path.join(box.a, 'f.txt'), 'utf8'), 'newer peer edit');
  });
});

describe('output', () => {
  test('--quiet prints only conflicts, problems and the summary', async () => {
    const box = await sandbox({ 'x.txt': 'x', 'c.txt': 'base' });
    assert.equal((await box.sync()).code, 0);
    await writeTree(box.a, { 'y.txt': 'y', 'c.txt': 'local' });
    await writeTree(box.b, { 'c.txt': 'peer!' });
    const r = await box.sync('--quiet');
    assert.equal(r.code, 3);
    assert.deepEqual(
      r.stdout.trim().split('\n').map((l) => l.replace(/\(.*\)$/, '').trim()),
      ['CONFLICT both-modified       c.txt', 'finished with conflicts: 1 copied, 0 deleted, 1 conflicts'],
    );
  });
});
