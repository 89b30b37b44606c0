import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { readTree, writeTree } from '../helpers/tmp';
import { sandbox } from './sandbox';

const summaryOf = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!);
const actionsOf = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === 'action')
    .map((e) => `${e.op} ${e.from ? `${e.from} -> ` : ''}${e.path}`);

describe('renames and moves (one-time runs)', () => {
  test('a renamed file and a renamed directory of 50 files are replayed as renames: nothing is re-sent', async () => {
    const files = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`lib/f${i}.txt`, `content ${i}`]));
    const box = await sandbox({ ...files, 'notes.txt': 'notes' });
    assert.equal((await box.sync('--direction', 'push')).code, 0);
    await fs.rename(path.join(box.a, 'lib'), path.join(box.a, 'src'));
    await fs.rename(path.join(box.a, 'notes.txt'), path.join(box.a, 'README.txt'));
    const r = await box.sync('--direction', 'push', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(actionsOf(r.stdout).sort(), ['mv lib -> src', 'mv notes.txt -> README.txt']);
    assert.equal(summaryOf(r.stdout).bytes, 0);
    assert.equal(summaryOf(r.stdout).renamed, 2);
    assert.deepEqual(await readTree(box.b), await readTree(box.a));
    // The snapshot followed the rename: the next run has nothing to do.
    const again = await box.sync('--direction', 'push', '--json');
    assert.deepEqual(actionsOf(again.stdout), []);
  });

  test('a file moved and edited at once is sent as a new file and the old one deleted (a rename keeps size and mtime)', async () => {
    const box = await sandbox({ 'a/x.txt': 'original', 'b/keep.txt': 'k' });
    assert.equal((await box.sync()).code, 0);
    await fs.rename(path.join(box.a, 'a/x.txt'), path.join(box.a, 'b/x.txt'));
    await fs.appendFile(path.join(box.a, 'b/x.txt'), ' plus an edit');
    const r = await box.sync('--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(actionsOf(r.stdout), ['del a/x.txt', 'push b/x.txt']);
    assert.equal(await fs.readFile(path.join(box.b, 'b/x.txt'), 'utf8'), 'original plus an edit');
    assert.equal((await readTree(box.b))['a/x.txt'], undefined);
  });

  test('bidi: a rename on the peer is replayed locally', async () => {
    const box = await sandbox({ 'd/one.txt': '1', 'd/two.txt': '2' });
    assert.equal((await box.sync()).code, 0);
    await fs.rename(path.join(box.b, 'd'), path.join(box.b, 'renamed'));
    const r = await box.sync('--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(actionsOf(r.stdout), ['mv d -> renamed']);
    assert.deepEqual(await readTree(box.a), { renamed: '<dir>', 'renamed/one.txt': '1', 'renamed/two.txt': '2' });
  });

  test('a rename whose target was changed on the other side is not replayed blindly', async () => {
    const box = await sandbox({ 'f.txt': 'base' });
    assert.equal((await box.sync()).code, 0);
    await fs.rename(path.join(box.a, 'f.txt'), path.join(box.a, 'g.txt'));
    await writeTree(box.b, { 'f.txt': 'edited on the peer' });
    const r = await box.sync('--json');
    assert.equal(r.code, 3, r.stdout);
    // The local rename reaches the peer as a new file; the peer's edit of the old name is a conflict.
    assert.equal(await fs.readFile(path.join(box.b, 'f.txt'), 'utf8'), 'edited on the peer');
    assert.equal(await fs.readFile(path.join(box.b, 'g.txt'), 'utf8'), 'base');
  });
});

describe('copies', () => {
  test('a copy of a file the peer already has is made on the peer: no bytes sent', async () => {
    const big = 'x'.repeat(100_000);
    const box = await sandbox({ 'assets/logo.bin': big, 'other.txt': 'o' });
    assert.equal((await box.sync('--direction', 'push')).code, 0);
    await fs.copyFile(path.join(box.a, 'assets/logo.bin'), path.join(box.a, 'assets/logo-copy.bin'));
    await writeTree(box.a, { 'docs/logo.bin': big });
    const r = await box.sync('--direction', 'push', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(actionsOf(r.stdout).sort(), ['cp assets/logo.bin -> assets/logo-copy.bin', 'cp assets/logo.bin -> docs/logo.bin', 'mkdir docs']);
    assert.equal(summaryOf(r.stdout).bytes, 0);
    assert.deepEqual(await readTree(box.b), await readTree(box.a));
    const again = await box.sync('--direction', 'push', '--json');
    assert.deepEqual(actionsOf(again.stdout), []);
  });
});
