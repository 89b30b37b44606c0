import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Tree } from '../../src/engine/entry';
import { Filter } from '../../src/engine/filter';
import type { RelPath } from '../../src/engine/path';
import { LocalReplica } from '../../src/replica/local/localReplica';
import { walkInParallel, type WalkSide } from '../../src/replica/local/parallelWalk';
import { TEMP_PREFIX } from '../../src/replica/tempName';
import { removeDir, tempDir } from '../helpers/tmp';

/**
 * The parallel walk (listing on this thread, lstat on workers) must give exactly the tree the
 * sequential walk gives: same entries, same order, same problems; and give up, not guess, when the
 * file system changes a directory's type between its two passes.
 */

let root: string;
before(async () => {
  root = await tempDir();
});
after(async () => {
  await removeDir(root);
});

/** A tree big enough for the worker threads (> 4,096 entries), with every odd kind of thing in it. */
async function oddTree(dir: string, files: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (let d = 0; d < files / 50; d++) {
    const sub = path.join(dir, `d${d % 7}`, `s${d}`);
    await fs.mkdir(sub, { recursive: true });
    await Promise.all(Array.from({ length: 50 }, (_, f) => fs.writeFile(path.join(sub, `f${f}.txt`), 'x'.repeat(f))));
  }
  await fs.symlink('d0', path.join(dir, 'link-to-dir'));
  await fs.symlink('nowhere', path.join(dir, 'dangling'));
  await fs.mkdir(path.join(dir, 'node_modules', 'pkg'), { recursive: true });
  await fs.writeFile(path.join(dir, 'node_modules', 'pkg', 'index.js'), '');
  await fs.writeFile(path.join(dir, 'build.log'), 'excluded file');
  await fs.writeFile(path.join(dir, 'cafe\u0301.txt'), 'NFD name'); // listed under its NFC form
  await fs.writeFile(path.join(dir, `${TEMP_PREFIX}${process.pid}.x.f`), 'a temp file is never listed');
  await fs.mkdir(path.join(dir, 'empty'));
  await fs.chmod(path.join(dir, 'd1'), 0o700);
  execFileSync('mkfifo', [path.join(dir, 'a-fifo')]);
}

function ordered(tree: Tree): [RelPath, unknown][] {
  return [...tree].map(([p, e]) => [p, JSON.parse(JSON.stringify(e))]);
}

const filter = () => new Filter([
  { type: 'exclude', pattern: 'node_modules/' },
  { type: 'exclude', pattern: '*.log' },
]);

describe('parallel walk', () => {
  test('a tree of 6,000+ entries: exactly the sequential walk, entry for entry and in order', async () => {
    const dir = path.join(root, 'odd');
    await oddTree(dir, 6000);
    const replica = new LocalReplica(dir);
    for (const symlinks of ['copy', 'skip'] as const) {
      const heard: RelPath[] = [];
      const parallel = await walkInParallel({
        root: dir,
        filter: filter(),
        symlinks,
        noteDiskName: () => undefined,
        removeStaleTemp: () => undefined,
        statExact: (diskRel) => (replica as unknown as { statDiskSync(d: string, f: boolean): never }).statDiskSync(diskRel, false),
        onEntry: (p) => heard.push(p),
      });
      assert.ok(parallel, 'the walk did not give up');
      const sequential = await (replica as unknown as { scanSequential(o: object, u: RelPath): Promise<Tree> }).scanSequential({ filter: filter(), symlinks }, '');
      assert.ok(sequential.size > 6000);
      assert.deepEqual(ordered(parallel), ordered(sequential), symlinks);
      assert.deepEqual(heard, [...parallel.keys()], 'onEntry hears of each entry once, in order');
      // The scan a session runs takes the parallel walk, and says the same.
      assert.deepEqual(ordered(await replica.scan({ filter: filter(), symlinks })), ordered(sequential));
    }
    const tree = await replica.scan({ filter: filter(), symlinks: 'copy' });
    assert.equal(tree.get('a-fifo')?.kind, 'problem');
    assert.equal(tree.get('dangling')?.kind, 'symlink');
    assert.ok(tree.has('caf\u00e9.txt'));
    assert.ok(!tree.has('node_modules') && !tree.has('build.log'));
    assert.ok(![...tree.keys()].some((p) => p.includes(TEMP_PREFIX)));
  });

  test('a directory replaced by a file between listing and lstat: the walk gives up, and the scan walks again', async () => {
    const dir = path.join(root, 'swapped');
    await oddTree(dir, 500);
    const replica = new LocalReplica(dir);
    // The filter is asked about each name as it is listed; at the last directory listed, an early
    // one (listed as a directory, not stat'ed yet) becomes a file.
    let swapped = false;
    const swapping = filter();
    const excludes = swapping.excludes.bind(swapping);
    swapping.excludes = (p: RelPath, isDir: boolean) => {
      if (!swapped && p.startsWith('d6/')) {
        swapped = true;
        execFileSync('rm', ['-rf', path.join(dir, 'd0')]);
        execFileSync('sh', ['-c', `echo now-a-file > '${path.join(dir, 'd0')}'`]);
      }
      return excludes(p, isDir);
    };
    const side: WalkSide = {
      root: dir,
      filter: swapping,
      symlinks: 'copy',
      noteDiskName: () => undefined,
      removeStaleTemp: () => undefined,
      statExact: () => undefined,
    };
    assert.equal(await walkInParallel(side), undefined);
    assert.ok(swapped);

    // Through the replica: the same swap back, and the result is the sequential walk of what is there.
    await fs.rm(path.join(dir, 'd0'));
    await fs.mkdir(path.join(dir, 'd0', 'inner'), { recursive: true });
    await fs.writeFile(path.join(dir, 'd0', 'inner', 'x'), 'x');
    swapped = false;
    const tree = await replica.scan({ filter: swapping, symlinks: 'copy' });
    assert.ok(swapped);
    assert.equal(tree.get('d0')?.kind, 'file');
    assert.ok(![...tree.keys()].some((p) => p.startsWith('d0/')), 'nothing listed under what is now a file');
    assert.deepEqual(ordered(tree), ordered(await replica.scan({ filter: filter(), symlinks: 'copy' })));
  });
});
