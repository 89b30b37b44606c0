import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Direction } from '../../src/engine/policy';
import { DEFAULT_PRESERVE, type SessionConfig } from '../../src/session/config';
import { SyncSession } from '../../src/session/syncSession';
import { LocalReplica } from '../../src/replica/local/localReplica';
import { runCli } from '../helpers/cli';
import { caseInsensitiveFsUnavailable, mountCaseInsensitive, type CaseInsensitiveMount } from '../helpers/caseInsensitiveFs';
import { readTree, removeDir, tempDir, tempFilesUnder, writeTree } from '../helpers/tmp';

/*
 * Names differing only in case against a real case-insensitive target (an exFAT image mounted through
 * FUSE): reported as a clash naming both paths, never merged or overwritten; everything else syncs; a
 * case-only rename is carried over.
 */

const unavailable = caseInsensitiveFsUnavailable();

/** The names a folder really stores (readTree would look them up, which ignores case here). */
async function storedNames(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((n) => !n.startsWith('.ssh-sync-')).sort();
}

describe('case clash against a case-insensitive target', { skip: unavailable ? `no case-insensitive file system here: ${unavailable}` : false }, () => {
  let mount: CaseInsensitiveMount;
  let work: string;
  let n = 0;
  /** A local folder (case-sensitive disk), a peer folder on the exFAT mount, a state dir. */
  const box = async () => {
    n++;
    const a = path.join(work, `a${n}`);
    const b = path.join(mount.dir, `b${n}`);
    const state = path.join(work, `state${n}`);
    await fs.mkdir(a);
    await fs.mkdir(b);
    return { a, b, state, sync: (...extra: string[]) => runCli(['sync', a, b, '--state-dir', state, ...extra]) };
  };

  before(async () => {
    mount = await mountCaseInsensitive();
    work = await tempDir();
  });
  after(async () => {
    await mount?.unmount();
    if (work) await removeDir(work);
  });

  test('the mount really ignores case, and the probe says so (a local disk is case-sensitive)', async () => {
    // Empty roots: a temp file is made, looked up in upper case and removed.
    assert.equal(await new LocalReplica(mount.dir).caseInsensitive(), true);
    assert.equal(await new LocalReplica(work).caseInsensitive(), false);
    assert.deepEqual(await fs.readdir(mount.dir), []);
    assert.deepEqual(await fs.readdir(work), []);
    // Roots with a name in them: that name is looked up in the other case, nothing is written.
    await fs.writeFile(path.join(mount.dir, 'Probe.txt'), 'x');
    await fs.writeFile(path.join(work, 'Probe.txt'), 'x');
    assert.equal(await fs.readFile(path.join(mount.dir, 'PROBE.TXT'), 'utf8'), 'x');
    assert.equal(await new LocalReplica(mount.dir).caseInsensitive(), true);
    assert.equal(await new LocalReplica(work).caseInsensitive(), false);
    await fs.writeFile(path.join(work, 'PROBE.TXT'), 'y');
    assert.equal(await new LocalReplica(work).caseInsensitive(), false);
    for (const dir of [mount.dir, work]) {
      assert.deepEqual(await tempFilesUnder(dir), []);
      await fs.rm(path.join(dir, 'Probe.txt'));
    }
    await fs.rm(path.join(work, 'PROBE.TXT'));
  });

  for (const direction of ['push', 'bidi'] as const) {
    test(`${direction}: README.md and Readme.md are reported as a clash and neither is written; the rest syncs`, async () => {
      const { a, b, sync } = await box();
      await writeTree(a, { 'README.md': 'upper', 'Readme.md': 'mixed', 'other.txt': 'other', 'sub/x.txt': 'x' });
      const r = await sync('--direction', direction);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      for (const p of ['README.md', 'Readme.md']) {
        assert.match(r.stderr, new RegExp(`PROBLEM remote ${p.replace('.', '\\.')}: case clash: 'README\\.md' and 'Readme\\.md' would be one file on the remote side`));
      }
      assert.deepEqual(await storedNames(b), ['other.txt', 'sub']);
      assert.deepEqual(await readTree(b), { 'other.txt': 'other', sub: '<dir>', 'sub/x.txt': 'x' });
      assert.deepEqual(await readTree(a), { 'README.md': 'upper', 'Readme.md': 'mixed', 'other.txt': 'other', sub: '<dir>', 'sub/x.txt': 'x' });

      // Again, with a snapshot: still a clash, still nothing written.
      const again = await sync('--direction', direction);
      assert.equal(again.code, 1, again.stdout + again.stderr);
      assert.match(again.stderr, /case clash: 'README\.md' and 'Readme\.md'/);
      assert.deepEqual(await storedNames(b), ['other.txt', 'sub']);

      // Renamed by a person: it syncs.
      await fs.rename(path.join(a, 'Readme.md'), path.join(a, 'NOTES.md'));
      const fixed = await sync('--direction', direction);
      assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
      assert.deepEqual(await storedNames(b), ['NOTES.md', 'README.md', 'other.txt', 'sub']);
      assert.equal(await fs.readFile(path.join(b, 'README.md'), 'utf8'), 'upper');
      assert.equal(await fs.readFile(path.join(b, 'NOTES.md'), 'utf8'), 'mixed');
    });
  }

  test('a new name meeting a different-cased file already there (synced before): neither is touched', async () => {
    const { a, b, sync } = await box();
    await writeTree(a, { 'readme.md': 'v1' });
    assert.equal((await sync('--direction', 'push')).code, 0);
    await writeTree(a, { 'README.md': 'another file' });
    const r = await sync('--direction', 'push');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /PROBLEM remote README\.md: case clash: 'README\.md' and 'readme\.md' would be one file on the remote side/);
    assert.deepEqual(await storedNames(b), ['readme.md']);
    assert.equal(await fs.readFile(path.join(b, 'readme.md'), 'utf8'), 'v1');
  });

  test('first bidi run, README.md here and readme.md there: neither copied either way', async () => {
    const { a, b, sync } = await box();
    await writeTree(a, { 'README.md': 'local', 'l.txt': 'l' });
    await writeTree(b, { 'readme.md': 'remote', 'r.txt': 'r' });
    const r = await sync();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /case clash: 'README\.md' and 'readme\.md' would be one file on the remote side/);
    assert.deepEqual(await readTree(a), { 'README.md': 'local', 'l.txt': 'l', 'r.txt': 'r' });
    assert.deepEqual(await storedNames(b), ['l.txt', 'r.txt', 'readme.md']);
    assert.equal(await fs.readFile(path.join(b, 'readme.md'), 'utf8'), 'remote');
  });

  test('directories differing only in case are never merged', async () => {
    const { a, b, sync } = await box();
    await writeTree(a, { 'Docs/a.txt': 'A', 'docs/b.txt': 'B', 'z.txt': 'z' });
    const r = await sync('--direction', 'push');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /case clash: 'Docs' and 'docs' would be one file on the remote side/);
    assert.deepEqual(await storedNames(b), ['z.txt']);
  });

  test('a one-way run meets a directory made on the target under another case since: reported, not merged into', async () => {
    const { a, b, sync } = await box();
    await writeTree(a, { 'x.txt': 'x' });
    assert.equal((await sync('--direction', 'push')).code, 0);
    // Made on the target behind the snapshot's back; then a new 'Docs/' appears at the source.
    await writeTree(b, { 'docs/theirs.txt': 'theirs' });
    await writeTree(a, { 'Docs/mine.txt': 'mine' });
    const r = await sync('--direction', 'push');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /case clash: 'Docs' and 'docs' would be one file on the remote side/);
    assert.deepEqual(await storedNames(b), ['docs', 'x.txt']);
    assert.deepEqual(await storedNames(path.join(b, 'docs')), ['theirs.txt']);
  });

  test('a case-only rename is carried over as a rename (file and directory)', async () => {
    const { a, b, sync } = await box();
    await writeTree(a, { 'foo.txt': 'foo', 'docs/x.txt': 'x' });
    assert.equal((await sync('--direction', 'push')).code, 0);
    await fs.rename(path.join(a, 'foo.txt'), path.join(a, 'Foo.txt'));
    await fs.rename(path.join(a, 'docs'), path.join(a, 'Docs'));
    const r = await sync('--direction', 'push', '--json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(summary.renamed, 2, r.stdout);
    assert.deepEqual(await storedNames(b), ['Docs', 'Foo.txt']);
    assert.deepEqual(await readTree(b), { Docs: '<dir>', 'Docs/x.txt': 'x', 'Foo.txt': 'foo' });
    assert.deepEqual(await tempFilesUnder(b), []);
    assert.equal((await sync('--direction', 'push')).code, 0);
  });

  test('a case-insensitive local side: A.txt and a.txt from the peer are a clash on the local side', async () => {
    n++;
    const local = path.join(mount.dir, `local${n}`);
    const peer = path.join(work, `peer${n}`);
    await writeTree(local, { 'keep.txt': 'k' });
    await writeTree(peer, { 'A.txt': 'upper', 'a.txt': 'lower', 'b.txt': 'b' });
    const r = await runCli(['sync', local, peer, '--state-dir', path.join(work, `state${n}`)]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /PROBLEM local A\.txt: case clash: 'A\.txt' and 'a\.txt' would be one file on the local side/);
    assert.deepEqual(await storedNames(local), ['b.txt', 'keep.txt']);
    assert.deepEqual(await readTree(peer), { 'A.txt': 'upper', 'a.txt': 'lower', 'b.txt': 'b', 'keep.txt': 'k' });
  });

  /**
   * An in-process push session from a local folder to a folder on the mount (what continuous mode
   * drives). `aged`: the files' mtimes are set a minute back first, so that no record is "racy" (to be
   * confirmed by hash, and so decided about, on the next run).
   */
  const pushSession = async (spec: Record<string, string>, { direction = 'push', aged = false }: { direction?: Direction; aged?: boolean } = {}) => {
    n++;
    const a = path.join(work, `a${n}`);
    const b = path.join(mount.dir, `b${n}`);
    await writeTree(a, spec);
    if (aged) {
      const when = Date.now() / 1000 - 60.5;
      for (const rel of Object.keys(spec)) await fs.utimes(path.join(a, rel), when, when);
    }
    await fs.mkdir(b);
    const config: SessionConfig = {
      localRoot: a,
      peer: b,
      direction,
      overwrite: 'always',
      deletes: true,
      symlinks: 'copy',
      preserve: DEFAULT_PRESERVE,
      filters: [],
      stateDir: path.join(work, `state${n}`),
    };
    const session = new SyncSession(config, { local: new LocalReplica(a), remote: new LocalReplica(b) });
    const problems: string[] = [];
    session.onEvent((e) => void (e.type === 'problem' && problems.push(`${e.side} ${e.path}: ${e.message}`)));
    assert.equal((await session.run()).failed, 0);
    return { a, b, session, problems };
  };

  test('a sync of a few paths (an editor save, a watcher) that looks up a name stored under another case sees the clash', async () => {
    const { a, b, session, problems } = await pushSession({ 'readme.md': 'v1' });
    await writeTree(a, { 'README.md': 'another file' });
    // A lookup of README.md on the target finds readme.md: without a look at the stored names, the push
    // would overwrite readme.md with README.md's content.
    const s = await session.syncPaths(['README.md']);
    assert.equal(s.problems, 2, JSON.stringify(problems));
    assert.match(problems.join('\n'), /remote README\.md: case clash: 'README\.md' and 'readme\.md'/);
    assert.deepEqual(await storedNames(b), ['readme.md']);
    assert.equal(await fs.readFile(path.join(b, 'readme.md'), 'utf8'), 'v1');
  });

  test('a sync of a few paths never merges into, nor deletes, a directory stored under another case', async () => {
    const { a, b, session, problems } = await pushSession({ 'x.txt': 'x' });
    await writeTree(b, { 'docs/theirs.txt': 'theirs' });
    await writeTree(a, { 'Docs/mine.txt': 'mine' });
    const s = await session.syncPaths(['Docs/mine.txt']);
    assert.equal(s.problems, 2, JSON.stringify(problems));
    assert.equal(s.deleted + s.copied + s.dirsCreated, 0, JSON.stringify(s));
    assert.match(problems.join('\n'), /remote Docs: case clash: 'Docs' and 'docs' would be one file on the remote side/);
    assert.deepEqual(await storedNames(b), ['docs', 'x.txt']);
    assert.deepEqual(await storedNames(path.join(b, 'docs')), ['theirs.txt']);
  });

  for (const direction of ['push', 'bidi'] as const) {
    test(`${direction}: a run with a snapshot adding a name that clashes with an unchanged one beside it sees the clash (the plan is scoped to the new name)`, async () => {
      const { a, b, session, problems } = await pushSession({ 'docs/readme.md': 'v1', 'docs/guide.md': 'g', 'src/x.txt': 'x' }, { direction, aged: true });
      await writeTree(a, { 'docs/README.md': 'another file' });
      const s = await session.run();
      assert.equal(s.problems, 2, JSON.stringify(problems));
      assert.match(problems.join('\n'), /remote docs\/README\.md: case clash: 'docs\/README\.md' and 'docs\/readme\.md'/);
      assert.equal(s.copied + s.deleted, 0, JSON.stringify(s));
      assert.deepEqual(await storedNames(path.join(b, 'docs')), ['guide.md', 'readme.md']);
      assert.equal(await fs.readFile(path.join(b, 'docs/readme.md'), 'utf8'), 'v1');
    });
  }
});
