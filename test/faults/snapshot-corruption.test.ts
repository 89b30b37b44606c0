import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir, tempFilesUnder } from '../helpers/tmp';
import { content, fileHashes } from './faultHelpers';

/*
 * A snapshot corrupted or truncated mid-way must never read as "these files were deleted": after a
 * synced tree, pending changes on both sides (edits, new files, and deletions on the local side), the
 * snapshot file is cut or scribbled over. If the snapshot is reported unreadable, the next run may not
 * delete or overwrite anything (the locally deleted files come back, edits become conflicts). If it is
 * still readable, only the users' own changes may travel: no path nobody deleted disappears.
 */

const DAMAGE = [
  { name: 'emptied', apply: (b: Buffer) => b.subarray(0, 0) },
  { name: 'truncated to 100 bytes', apply: (b: Buffer) => b.subarray(0, 100) },
  { name: 'truncated to half', apply: (b: Buffer) => b.subarray(0, Math.floor(b.length / 2)) },
  { name: 'truncated at the first page boundary', apply: (b: Buffer) => b.subarray(0, 4096) },
  { name: 'last byte cut', apply: (b: Buffer) => b.subarray(0, b.length - 1) },
  { name: 'middle scribbled over', apply: (b: Buffer) => Buffer.concat([b.subarray(0, b.length >> 1), Buffer.alloc(512, 0xa5), b.subarray((b.length >> 1) + 512)]) },
  { name: 'header scribbled over', apply: (b: Buffer) => Buffer.concat([Buffer.alloc(100, 0x5a), b.subarray(100)]) },
];

describe('corrupted or truncated snapshot', () => {
  let work: string;
  before(async () => {
    work = await tempDir('ssh-sync-corrupt-');
  });
  after(async () => {
    if (work) await removeDir(work);
  });

  for (const damage of DAMAGE) {
    test(`snapshot ${damage.name}: nothing is deleted`, async () => {
      const dir = nodePath.join(work, damage.name.replace(/\W+/g, '-'));
      const a = nodePath.join(dir, 'a');
      const b = nodePath.join(dir, 'b');
      const state = nodePath.join(dir, 'state');
      for (let i = 0; i < 200; i++) {
        const rel = `d${i % 8}/f${i}.txt`;
        await fs.mkdir(nodePath.dirname(nodePath.join(a, rel)), { recursive: true });
        await fs.writeFile(nodePath.join(a, rel), content(rel, 100 + ((i * 37) % 3000)));
      }
      let r = await runCli(['sync', a, b, '--state-dir', state]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const snapshots = (await fs.readdir(state)).filter((n) => n.endsWith('.db'));
      assert.equal(snapshots.length, 1, `one snapshot expected in ${state}: ${snapshots}`);
      const db = nodePath.join(state, snapshots[0]);

      // Pending changes: local deletes, edits on both sides (disjoint), new files on both sides.
      for (let i = 0; i < 200; i += 10) await fs.rm(nodePath.join(a, `d${i % 8}/f${i}.txt`));
      for (let i = 1; i < 200; i += 10) await fs.writeFile(nodePath.join(a, `d${i % 8}/f${i}.txt`), 'local edit');
      for (let i = 2; i < 200; i += 10) await fs.writeFile(nodePath.join(b, `d${i % 8}/f${i}.txt`), 'remote edit');
      await fs.writeFile(nodePath.join(a, 'new-local.txt'), 'new local');
      await fs.writeFile(nodePath.join(b, 'new-remote.txt'), 'new remote');
      const before = { a: await fileHashes(a), b: await fileHashes(b) };

      await fs.writeFile(db, damage.apply(await fs.readFile(db)));
      r = await runCli(['sync', a, b, '--state-dir', state, '--json']);
      assert.ok(r.code === 0 || r.code === 3, `exit ${r.code}\n${r.stdout.slice(-2000)}${r.stderr}`);
      const after = { a: await fileHashes(a), b: await fileHashes(b) };
      const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      const warned = events.some((e) => e.type === 'warning' && /snapshot/.test(e.message ?? ''));
      // Allowed: what a user did on one side reaching the other (when the snapshot was still readable).
      // Never: a path disappearing that no user deleted, or a version replaced by anything but the
      // other side's user edit of that same path.
      for (const [side, other] of [['a', 'b'], ['b', 'a']] as const) {
        for (const [p, h] of before[side]) {
          const now = after[side].get(p);
          if (now === h) continue;
          const userDeletedOnOther = before[other].get(p) === undefined;
          if (now === undefined) {
            assert.ok(userDeletedOnOther && !warned, `${side} ${p}: deleted by a run with a ${damage.name} snapshot${warned ? ' (reported unreadable)' : ''}`);
          } else {
            assert.equal(now, before[other].get(p), `${side} ${p}: replaced by something no user wrote there`);
            assert.ok(!warned, `${side} ${p}: overwritten without a usable snapshot`);
          }
        }
      }
      console.log(`[corrupt] ${damage.name}: ${warned ? 'reported unreadable, full compare' : 'still readable'}; exit ${r.code}`);
      assert.deepEqual([...(await tempFilesUnder(a)), ...(await tempFilesUnder(b))], []);

      // And a run after that is a normal run again.
      r = await runCli(['sync', a, b, '--state-dir', state]);
      assert.ok(r.code === 0 || r.code === 3, `second run: exit ${r.code}\n${r.stdout.slice(-2000)}${r.stderr}`);
    });
  }
});
