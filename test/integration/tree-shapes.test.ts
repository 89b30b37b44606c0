import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { readTree, writeTree } from '../helpers/tmp';
import { sandbox } from './sandbox';

describe('type changes', () => {
  for (const direction of ['push', 'bidi'] as const) {
    test(`file -> directory -> symlink -> file reach the peer (${direction})`, async () => {
      const box = await sandbox({ 'p': 'a file', 'keep.txt': 'k' });
      assert.equal((await box.sync('--direction', direction)).code, 0);

      await fs.rm(path.join(box.a, 'p'));
      await writeTree(box.a, { 'p/inner.txt': 'inside', 'p/deeper/x': 'x' });
      let r = await box.sync('--direction', direction);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(await readTree(box.b), await readTree(box.a));

      await fs.rm(path.join(box.a, 'p'), { recursive: true });
      await writeTree(box.a, { p: { link: 'keep.txt' } });
      r = await box.sync('--direction', direction);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(await readTree(box.b), { 'keep.txt': 'k', p: '-> keep.txt' });

      await fs.rm(path.join(box.a, 'p'));
      await writeTree(box.a, { p: 'a file again' });
      r = await box.sync('--direction', direction);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(await readTree(box.b), { 'keep.txt': 'k', p: 'a file again' });
    });
  }

  test('a type changed on both sides differently is a type-clash conflict (bidi)', async () => {
    const box = await sandbox({ p: 'file' });
    await box.sync();
    await fs.rm(path.join(box.a, 'p'));
    await fs.rm(path.join(box.b, 'p'));
    await writeTree(box.a, { 'p/x': 'dir on local' });
    await writeTree(box.b, { p: { link: 'elsewhere' } });
    const r = await box.sync();
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /CONFLICT type-clash +p$/m);
    assert.deepEqual(await readTree(box.b), { p: '-> elsewhere' });
    assert.deepEqual(await readTree(box.a), { p: '<dir>', 'p/x': 'dir on local' });
  });
});

describe('filters', () => {
  test('excluded paths are neither copied nor deleted on the target; an excluded directory is pruned', async () => {
    const box = await sandbox(
      { 'src/a.ts': 'a', 'src/a.log': 'log', 'node_modules/m/index.js': 'm', 'build/out.js': 'o' },
      { 'peer.log': 'peer log kept', 'node_modules/keep.js': 'kept' },
    );
    const r = await box.sync('--direction', 'push', '--exclude', '*.log', '--exclude', 'node_modules/', '--exclude', '/build');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await readTree(box.b), { node_modules: '<dir>', 'node_modules/keep.js': 'kept', 'peer.log': 'peer log kept', src: '<dir>', 'src/a.ts': 'a' });
  });

  test('first match wins: include *.ts before exclude * keeps only TypeScript files and directories', async () => {
    const box = await sandbox({ 'a.ts': 'a', 'b.js': 'b', 'lib/c.ts': 'c', 'lib/d.md': 'd' });
    const r = await box.sync('--direction', 'push', '--include', '*/', '--include', '*.ts', '--exclude', '*');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await readTree(box.b), { 'a.ts': 'a', lib: '<dir>', 'lib/c.ts': 'c' });
  });
});

describe('symlinks', () => {
  test('copy recreates links as links, skip ignores them, follow syncs what they point to', async () => {
    const box = await sandbox({ 'real/f.txt': 'data', 'ln-file': { link: 'real/f.txt' }, 'ln-dir': { link: 'real' } });
    let r = await box.sync('--direction', 'push', '--symlinks', 'copy', '--name', 'copy');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readTree(box.b), { 'ln-dir': '-> real', 'ln-file': '-> real/f.txt', real: '<dir>', 'real/f.txt': 'data' });

    await fs.rm(box.b, { recursive: true });
    r = await box.sync('--direction', 'push', '--symlinks', 'skip', '--name', 'skip');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readTree(box.b), { real: '<dir>', 'real/f.txt': 'data' });

    await fs.rm(box.b, { recursive: true });
    r = await box.sync('--direction', 'push', '--symlinks', 'follow', '--name', 'follow');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readTree(box.b), { 'ln-dir': '<dir>', 'ln-dir/f.txt': 'data', 'ln-file': 'data', real: '<dir>', 'real/f.txt': 'data' });
  });

  test('a symlinked directory on the target is never written through', async () => {
    const box = await sandbox({ 'd/f.txt': 'x' });
    const outside = path.join(box.root, 'outside');
    await fs.mkdir(outside);
    await fs.symlink(outside, path.join(box.b, 'd'));
    const r = await box.sync('--direction', 'push', '--overwrite', 'never');
    assert.notEqual(r.code, 0);
    assert.deepEqual(await fs.readdir(outside), []);
  });
});

describe('odd names', () => {
  test('spaces, unicode (NFC and NFD), newlines, emoji and very long paths sync both ways', async () => {
    const nfd = 'cafe\u0301.txt';
    const long = Array.from({ length: 12 }, (_, i) => `segment-${i}-${'x'.repeat(180)}`).join('/');
    const box = await sandbox({ 'with space.txt': 's', [nfd]: 'nfd', 'line\nbreak.txt': 'nl', '😀.md': 'emoji', [`${long}/leaf.txt`]: 'deep' });
    let r = await box.sync();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const b = await readTree(box.b);
    assert.equal(b['with space.txt'], 's');
    assert.equal(b['line\nbreak.txt'], 'nl');
    assert.equal(b['😀.md'], 'emoji');
    assert.equal(b[`${long}/leaf.txt`], 'deep');
    assert.equal(b['caf\u00e9.txt'] ?? b[nfd], 'nfd');
    // A second run finds nothing to do: the NFD name on disk maps to the same path every time.
    r = await box.sync();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /^(push|pull|del|mkdir) /m);
    await writeTree(box.a, { [nfd]: 'nfd edited' });
    r = await box.sync();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const b2 = await readTree(box.b);
    assert.equal(b2['caf\u00e9.txt'] ?? b2[nfd], 'nfd edited');
  });
});
