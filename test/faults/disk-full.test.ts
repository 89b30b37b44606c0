import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { after, describe, test } from 'node:test';
import { LocalReplica } from '../../src/replica/local/localReplica';
import { DEFAULT_PRESERVE } from '../../src/session/config';
import type { SyncEvent } from '../../src/session/events';
import { SyncSession } from '../../src/session/syncSession';
import { tempFilesUnder } from '../helpers/tmp';
import { content, fileHashes, sha } from './faultHelpers';

/*
 * The peer's disk fills up: a 1 MiB tmpfs as the target of a sync that needs about 2 MiB. Per-path
 * errors, the files that fit are synced, no target path holds a partial file, no temp files stay, and
 * after the space is freed (the tmpfs grown) a retry finishes cleanly.
 */

function tryMountTmpfs(): { dir: string; base: string } | string {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const base = mkdtempSync(nodePath.join(os.tmpdir(), 'ssh-sync-full-'));
  const dir = nodePath.join(base, 'mnt');
  mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
    return { dir, base };
  } catch (err) {
    rmSync(base, { recursive: true, force: true });
    return `cannot mount a tmpfs here (${String((err as { stderr?: Buffer }).stderr ?? err).trim()})`;
  }
}

const mounted = tryMountTmpfs();
const skip = typeof mounted === 'string' ? mounted : false;

describe('peer disk full', { skip }, () => {
  const m = mounted as { dir: string; base: string };
  after(() => {
    try {
      execFileSync('umount', [m.dir]);
    } finally {
      rmSync(m.base, { recursive: true, force: true });
    }
  });

  test('per-path errors, what fits is synced, nothing half-written, clean retry after freeing space', async () => {
    const local = nodePath.join(m.base, 'local');
    const remote = nodePath.join(m.dir, 'peer');
    await fs.mkdir(local);
    const expected = new Map<string, string>();
    for (let i = 0; i < 14; i++) {
      const rel = `d${i % 3}/f${i}.bin`;
      const data = content(rel, 150_000);
      await fs.mkdir(nodePath.dirname(nodePath.join(local, rel)), { recursive: true });
      await fs.writeFile(nodePath.join(local, rel), data);
      expected.set(rel, sha(data));
    }
    for (let i = 0; i < 10; i++) {
      const data = content(`small${i}`, 100);
      await fs.writeFile(nodePath.join(local, `small${i}.txt`), data);
      expected.set(`small${i}.txt`, sha(data));
    }
    const session = new SyncSession(
      { localRoot: local, peer: remote, direction: 'bidi', overwrite: 'never', deletes: true, symlinks: 'copy', preserve: DEFAULT_PRESERVE, filters: [], stateDir: nodePath.join(m.base, 'state'), concurrency: 4 },
      { local: new LocalReplica(local), remote: new LocalReplica(remote) },
    );
    const failures: string[] = [];
    session.onEvent((e: SyncEvent) => {
      if (e.type === 'failed') failures.push(`${e.action.path}: ${e.error.message}`);
    });
    const s1 = await session.run();
    console.log(`[disk-full] first run: copied ${s1.copied}, failed ${s1.failed}: ${failures.slice(0, 2).join('; ')}`);
    assert.ok(s1.failed > 0, 'nothing failed although the peer disk is too small');
    assert.ok(s1.copied > 0, 'nothing was synced although some files fit');
    assert.ok(failures.every((f) => /ENOSPC|no space|space/i.test(f)), `failures other than a full disk: ${failures.join('\n')}`);
    const got = await fileHashes(remote);
    for (const [p, h] of got) assert.equal(h, expected.get(p), `${p} on the full peer is not a complete copy`);
    assert.deepEqual(await tempFilesUnder(remote), [], 'temp files left on the full disk');
    assert.deepEqual(await tempFilesUnder(local), []);

    execFileSync('mount', ['-o', 'remount,size=8m', m.dir]);
    failures.length = 0;
    const s2 = await session.run();
    assert.equal(s2.failed, 0, failures.join('\n'));
    assert.equal(s2.conflicts, 0);
    const final = await fileHashes(remote);
    assert.deepEqual([...final].sort(), [...expected].sort());
    assert.deepEqual(await tempFilesUnder(remote), []);
    const s3 = await session.run();
    assert.equal(s3.copied + s3.deleted + s3.failed + s3.conflicts, 0, 'a run after the retry was not idle');
  });
});
