import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs, watch } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from '../helpers/cli';
import { readTree, tempFilesUnder, writeTree, type TreeSpec } from '../helpers/tmp';
import { sandbox } from './sandbox';

const many = (n: number, prefix = 'f'): TreeSpec => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}/${i}.txt`, `file ${i}`]));

describe('mass-delete guard', () => {
  test('a run that would empty the peer halts, changes nothing, and --force goes ahead', async () => {
    const box = await sandbox(many(5));
    assert.equal((await box.sync('--direction', 'push')).code, 0);
    await fs.rm(path.join(box.a, 'f'), { recursive: true });
    const before = await readTree(box.b);
    const r = await box.sync('--direction', 'push');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /HALTED: the plan would delete all 5 files on the remote side/);
    assert.deepEqual(await readTree(box.b), before);
    const forced = await box.sync('--direction', 'push', '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(await readTree(box.b), {});
  });

  test('deleting more than half of over 100 files halts; --max-delete sets the limit', async () => {
    const box = await sandbox(many(150));
    assert.equal((await box.sync()).code, 0);
    for (let i = 0; i < 100; i++) await fs.rm(path.join(box.a, `f/${i}.txt`));
    let r = await box.sync();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /delete 100 of 150 files on the remote side, more than the limit of 75/);
    assert.equal(Object.keys(await readTree(box.b)).length, 151);
    r = await box.sync('--max-delete', '100');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(Object.keys(await readTree(box.b)).length, 51);
    await fs.rm(path.join(box.a, 'f/100.txt'));
    await fs.rm(path.join(box.a, 'f/101.txt'));
    r = await box.sync('--max-delete', '1');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /more than the limit of 1/);
  });

  test('a peer folder that vanished after a sync halts instead of deleting the local files', async () => {
    const box = await sandbox(many(3));
    assert.equal((await box.sync()).code, 0);
    await fs.rm(box.b, { recursive: true });
    const r = await box.sync();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /peer folder .* is missing although it was synced before/);
    assert.equal(Object.keys(await readTree(box.a)).length, 4);
  });
});

describe('snapshot', () => {
  test('--rescan compares in full: identical files are adopted without sending a byte', async () => {
    const box = await sandbox({ 'x.txt': 'x', 'd/y.txt': 'y' });
    assert.equal((await box.sync()).code, 0);
    const r = await box.sync('--rescan', '--json');
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(summary.copied, 0);
    assert.equal(summary.bytes, 0);
    assert.equal(summary.adopted, 3);
  });

  test('a corrupt snapshot is reported, moved aside and treated as none: nothing is deleted', async () => {
    const box = await sandbox({ 'x.txt': 'x', 'y.txt': 'y' });
    assert.equal((await box.sync('--name', 'corrupt')).code, 0);
    const db = path.join(box.state, 'corrupt.db');
    await fs.writeFile(db, randomBytes(4096));
    await fs.rm(path.join(box.a, 'y.txt'));
    const r = await box.sync('--name', 'corrupt');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: the snapshot .*corrupt\.db is unreadable/);
    // Without a snapshot the deletion cannot be told from a creation on the peer: it comes back.
    assert.deepEqual(await readTree(box.b), { 'x.txt': 'x', 'y.txt': 'y' });
    assert.deepEqual(await readTree(box.a), { 'x.txt': 'x', 'y.txt': 'y' });
    assert.ok((await fs.readdir(box.state)).some((f) => f.startsWith('corrupt.db.corrupt-')));
  });

  test('a truncated snapshot is treated the same way', async () => {
    const box = await sandbox(many(50));
    assert.equal((await box.sync('--name', 'trunc')).code, 0);
    const db = path.join(box.state, 'trunc.db');
    const bytes = await fs.readFile(db);
    await fs.writeFile(db, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r = await box.sync('--name', 'trunc');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /unreadable/);
    assert.equal(Object.keys(await readTree(box.b)).length, 51);
  });

  test('--dry-run reports the plan and changes nothing', async () => {
    const box = await sandbox({ 'x.txt': 'x' }, { 'y.txt': 'y' });
    const r = await box.sync('--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\(dry run\) push {2}x\.txt$/m);
    assert.match(r.stdout, /^\(dry run\) pull {2}y\.txt$/m);
    assert.deepEqual(await readTree(box.a), { 'x.txt': 'x' });
    assert.deepEqual(await readTree(box.b), { 'y.txt': 'y' });
    assert.match((await box.sync()).stdout, /^push {2}x\.txt$/m);
  });
});

describe('preservation', () => {
  test('times and mode are kept by default; --preserve none keeps neither; owner when asked (as root)', async () => {
    const box = await sandbox({ 'x.sh': '#!/bin/sh\n' });
    const src = path.join(box.a, 'x.sh');
    await fs.chmod(src, 0o751);
    await fs.utimes(src, 1_600_000_000, 1_600_000_000);
    assert.equal((await box.sync('--direction', 'push')).code, 0);
    let st = await fs.stat(path.join(box.b, 'x.sh'));
    assert.equal(st.mode & 0o777, 0o751);
    assert.equal(Math.round(st.mtimeMs / 1000), 1_600_000_000);

    await writeTree(box.a, { 'y.txt': 'y' });
    await fs.chmod(path.join(box.a, 'y.txt'), 0o600);
    await fs.utimes(path.join(box.a, 'y.txt'), 1_600_000_000, 1_600_000_000);
    assert.equal((await box.sync('--direction', 'push', '--preserve', 'none')).code, 0);
    st = await fs.stat(path.join(box.b, 'y.txt'));
    assert.notEqual(Math.round(st.mtimeMs / 1000), 1_600_000_000);
    assert.equal(st.mode & 0o777, 0o644);

    if (process.getuid?.() === 0) {
      await writeTree(box.a, { 'owned.txt': 'o' });
      await fs.chown(path.join(box.a, 'owned.txt'), 4242, 4343);
      assert.equal((await box.sync('--direction', 'push', '--preserve', 'times,mode,owner')).code, 0);
      st = await fs.stat(path.join(box.b, 'owned.txt'));
      assert.equal(st.uid, 4242);
      assert.equal(st.gid, 4343);
    }
  });
});

describe('conflict resolution', () => {
  const conflicted = async () => {
    const box = await sandbox({ 'doc.txt': 'base', 'other.txt': 'o' });
    assert.equal((await box.sync('--name', 's')).code, 0);
    await writeTree(box.a, { 'doc.txt': 'local version' });
    await writeTree(box.b, { 'doc.txt': 'peer version' });
    assert.equal((await box.sync('--name', 's')).code, 3);
    return box;
  };

  test('list and show name the conflict and its two sides', async () => {
    const box = await conflicted();
    const list = await box.run(['conflicts', 'list', '--name', 's', '--state-dir', box.state]);
    assert.equal(list.code, 3);
    assert.match(list.stdout, /both-modified +doc\.txt/);
    const show = await box.run(['conflicts', 'show', 'doc.txt', '--name', 's', '--state-dir', box.state]);
    assert.match(show.stdout, /local: +file, 13 bytes/);
    assert.match(show.stdout, /remote: file, 12 bytes/);
  });

  for (const keep of ['local', 'remote'] as const) {
    test(`resolve --keep ${keep} puts that version on both sides`, async () => {
      const box = await conflicted();
      const r = await box.run(['conflicts', 'resolve', 'doc.txt', '--keep', keep, '--name', 's', '--state-dir', box.state]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const want = keep === 'local' ? 'local version' : 'peer version';
      assert.equal(await fs.readFile(path.join(box.a, 'doc.txt'), 'utf8'), want);
      assert.equal(await fs.readFile(path.join(box.b, 'doc.txt'), 'utf8'), want);
      const again = await box.sync('--name', 's');
      assert.equal(again.code, 0, again.stdout);
      assert.doesNotMatch(again.stdout, /^(push|pull|CONFLICT) /m);
    });
  }

  test('resolve --keep both keeps the local version as doc.conflict-<peer>-<time>.txt on both sides', async () => {
    const box = await conflicted();
    const r = await box.run(['conflicts', 'resolve', 'doc.txt', '--keep', 'both', box.a, box.b, '--state-dir', box.state, '--name', 's']).catch((e) => e);
    // --name and <local-dir> <peer> together are a usage error.
    assert.equal(r.code, 2);
    const ok = await box.run(['conflicts', 'resolve', 'doc.txt', '--keep', 'both', '--name', 's', '--state-dir', box.state]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    for (const side of [box.a, box.b]) {
      const tree = await readTree(side);
      assert.equal(tree['doc.txt'], 'peer version');
      const copies = Object.keys(tree).filter((k) => /^doc\.conflict-b-\d{8}T\d{6}Z\.txt$/.test(k));
      assert.equal(copies.length, 1, JSON.stringify(tree));
      assert.equal(tree[copies[0]], 'local version');
    }
    assert.equal((await box.run(['conflicts', '--name', 's', '--state-dir', box.state])).stdout, 'no conflicts\n');
  });
});

describe('bad input', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown direction', ['--direction', 'sideways'], /--direction must be one of push, pull, bidi \(got 'sideways'\)/],
    ['an unknown option', ['--delete-everything'], /unknown option '--delete-everything'/],
    ['a bad --overwrite', ['--overwrite', 'sometimes'], /--overwrite must be one of always, newer, never/],
    ['a bad --max-delete', ['--max-delete', 'many'], /--max-delete must be a whole number/],
    ['a bad --preserve', ['--preserve', 'times,colour'], /--preserve takes a comma list of times, mode, owner/],
    ['a bad --name', ['--name', '../escape'], /--name '..\/escape' may use only/],
  ];
  for (const [what, args, message] of cases) {
    test(`${what} is a usage error (exit 2) that touches nothing`, async () => {
      const box = await sandbox({ 'x.txt': 'x' });
      const r = await box.sync(...args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.deepEqual(await readTree(box.b), {});
      assert.equal(await fs.stat(box.state).catch(() => undefined), undefined);
    });
  }

  test('a missing local folder names the argument, exit 2', async () => {
    const box = await sandbox();
    const r = await runCli(['sync', path.join(box.root, 'nope'), box.b, '--state-dir', box.state]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /<local-dir> '.*nope' does not exist/);
  });
});

describe('status', () => {
  test('lists sessions with synchronized and conflict counts', async () => {
    const box = await sandbox({ 'a.txt': 'a', 'b.txt': 'b' });
    await box.sync('--name', 'work');
    await writeTree(box.a, { 'a.txt': 'a local' });
    await writeTree(box.b, { 'a.txt': 'a peer' });
    await box.sync('--name', 'work');
    const r = await box.run(['status', '--state-dir', box.state, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const row = JSON.parse(r.stdout);
    assert.equal(row.session, 'work');
    assert.equal(row.synchronized, 2);
    assert.equal(row.conflicts, 1);
    assert.equal(row.direction, 'bidi');
  });
});

describe('interrupted runs', () => {
  for (const direction of ['push', 'bidi'] as const) {
    test(`SIGKILL mid-transfer leaves no partial file; the next run converges with no stray temp files (${direction})`, async () => {
      const spec: TreeSpec = {};
      const chunk = randomBytes(16 << 20);
      for (let i = 0; i < 8; i++) spec[`big/${i}.bin`] = Buffer.concat([Buffer.from(`file ${i}\n`), chunk]);
      const box = await sandbox(spec);
      await fs.mkdir(path.join(box.b, 'big'));
      let killed = false;
      const r = await box.run(['sync', box.a, box.b, '--direction', direction, '--state-dir', box.state], {
        onSpawn: (child) => {
          // Kill the moment the third temp file appears in the target folder.
          let temps = 0;
          const watcher = watch(path.join(box.b, 'big'), (_event, name) => {
            if (String(name).startsWith('.ssh-sync-tmp.') && ++temps === 3 && !killed) {
              killed = child.kill('SIGKILL');
              watcher.close();
            }
          });
          child.on('close', () => watcher.close());
        },
      });
      assert.ok(killed, `the run finished before it could be killed: ${r.stdout}`);
      assert.equal(r.code, null);
      // Every file at a target path is complete; only temp files can hold partial data.
      let complete = 0;
      for (let i = 0; i < 8; i++) {
        const data = await fs.readFile(path.join(box.b, `big/${i}.bin`)).catch(() => undefined);
        if (data === undefined) continue;
        assert.ok(data.equals(spec[`big/${i}.bin`] as Buffer), `big/${i}.bin is partial`);
        complete++;
      }
      assert.ok(complete < 8, 'every file had landed before the kill');
      const again = await box.sync('--direction', direction);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.doesNotMatch(again.stdout, /CONFLICT/);
      assert.deepEqual(await tempFilesUnder(box.b), []);
      for (let i = 0; i < 8; i++) {
        assert.ok((await fs.readFile(path.join(box.b, `big/${i}.bin`))).equals(spec[`big/${i}.bin`] as Buffer));
      }
    });
  }
});
