import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalReplica } from '../../src/replica/local/localReplica';
import { openSshReplica, type SshReplica } from '../../src/replica/ssh';
import { DEFAULT_PRESERVE } from '../../src/session/config';
import type { SyncEvent } from '../../src/session/events';
import { SyncSession } from '../../src/session/syncSession';
import { ensureTestUser, sshdAvailable, startSshd, TEST_USER, type SshdFixture } from '../helpers/sshd';
import { tempFilesUnder } from '../helpers/tmp';

/*
 * Permission denied on the peer. As root nothing is denied on a local folder, so the peer is reached
 * over the sshd fixture as the non-root user `sshsynctest`, in a folder it owns holding a root-owned,
 * read-only directory and a root-only file. The other paths sync, the denied ones are reported per
 * path, nothing is left half-written, and a run after the permissions are fixed finishes cleanly.
 */

const skip = !sshdAvailable() ? 'OpenSSH server not installed' : process.getuid?.() !== 0 ? 'needs root to set up a non-root test user' : false;

describe('permission denied on the peer (non-root ssh user)', { skip }, () => {
  let sshd: SshdFixture;
  let base: string;
  let remote: SshReplica | undefined;
  before(async () => {
    if (!ensureTestUser()) throw new Error(`cannot create the test user ${TEST_USER}`);
    sshd = await startSshd();
    base = mkdtempSync(nodePath.join(os.tmpdir(), 'ssh-sync-perm-'));
    chmodSync(base, 0o755);
  });
  after(async () => {
    await remote?.close();
    await sshd?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  test('denied paths fail one by one, the rest syncs, a retry after fixing permissions is clean', async () => {
    const local = nodePath.join(base, 'local');
    const peerDir = nodePath.join(base, 'peer');
    await fs.mkdir(local);
    await fs.mkdir(peerDir);
    // Synced state first: both sides hold ok/ and locked/ (root-owned on the peer).
    for (const root of [local, peerDir]) {
      await fs.mkdir(nodePath.join(root, 'ok'));
      await fs.mkdir(nodePath.join(root, 'locked'));
      await fs.writeFile(nodePath.join(root, 'locked/old.txt'), 'old');
      await fs.writeFile(nodePath.join(root, 'ok/a.txt'), 'a');
    }
    execFileSync('chown', ['-R', `${TEST_USER}:${TEST_USER}`, peerDir]);
    execFileSync('chown', ['-R', 'root:root', nodePath.join(peerDir, 'locked')]);
    chmodSync(nodePath.join(peerDir, 'locked'), 0o755);

    const peer = `${TEST_USER}@127.0.0.1:${sshd.port}:${peerDir}`;
    remote = await openSshReplica(peer, { sshConfigFile: null, knownHostsFile: sshd.writeKnownHosts(), identityFiles: [sshd.clientKey.privateKey], agent: false });
    const session = new SyncSession(
      { localRoot: local, peer, direction: 'bidi', overwrite: 'never', deletes: true, symlinks: 'copy', preserve: { ...DEFAULT_PRESERVE, mode: false }, filters: [], stateDir: nodePath.join(base, 'state') },
      { local: new LocalReplica(local), remote },
    );
    const failures: string[] = [];
    const problems: string[] = [];
    session.onEvent((e: SyncEvent) => {
      if (e.type === 'failed') failures.push(`${e.action.path}: ${e.error.message}`);
      if (e.type === 'problem') problems.push(`${e.side} ${e.path}: ${e.message}`);
    });
    let s = await session.run();
    assert.equal(s.failed + s.conflicts + s.problems, 0, `first run: ${failures.join('\n')}${problems.join('\n')}`);

    // Pending changes: into the locked directory (denied) and elsewhere (allowed).
    await fs.writeFile(nodePath.join(local, 'locked/old.txt'), 'edited locally');
    await fs.writeFile(nodePath.join(local, 'locked/new.txt'), 'new in locked');
    await fs.writeFile(nodePath.join(local, 'ok/b.txt'), 'b');
    await fs.writeFile(nodePath.join(local, 'ok/a.txt'), 'a2');
    await fs.writeFile(nodePath.join(local, 'top.txt'), 'top');
    s = await session.run();
    console.log(`[perm] run with denied paths: copied ${s.copied}, failed ${s.failed}, problems ${s.problems}: ${failures.join('; ')}`);
    const failedPaths = failures.map((f) => f.split(':')[0]).sort();
    assert.deepEqual(failedPaths, ['locked/new.txt', 'locked/old.txt'], failures.join('\n'));
    assert.ok(failures.every((f) => /denied|permission|EACCES/i.test(f)), failures.join('\n'));
    assert.equal(await fs.readFile(nodePath.join(peerDir, 'ok/b.txt'), 'utf8'), 'b');
    assert.equal(await fs.readFile(nodePath.join(peerDir, 'ok/a.txt'), 'utf8'), 'a2');
    assert.equal(await fs.readFile(nodePath.join(peerDir, 'top.txt'), 'utf8'), 'top');
    assert.equal(await fs.readFile(nodePath.join(peerDir, 'locked/old.txt'), 'utf8'), 'old');
    await assert.rejects(fs.stat(nodePath.join(peerDir, 'locked/new.txt')));
    assert.deepEqual(await tempFilesUnder(peerDir), []);

    // Fixed: the next run sends what was denied, and nothing else is disturbed.
    // (Only the directory's mode: chown of the file would be an ownership change on the peer, which
    // today conflicts with the local edit even though owners are not preserved; see the next test.)
    chmodSync(nodePath.join(peerDir, 'locked'), 0o777);
    failures.length = 0;
    s = await session.run();
    const conflicts = (await session.conflicts()).map((c) => `${c.kind} ${c.path}`);
    assert.equal(s.failed + s.conflicts + s.problems, 0, `after fixing permissions: ${failures.join('\n')}${problems.join('\n')}${conflicts.join('\n')}`);
    assert.equal(await fs.readFile(nodePath.join(peerDir, 'locked/old.txt'), 'utf8'), 'edited locally');
    assert.equal(await fs.readFile(nodePath.join(peerDir, 'locked/new.txt'), 'utf8'), 'new in locked');
    assert.deepEqual(await tempFilesUnder(peerDir), []);

    // An unreadable file on the peer: a problem or a per-path failure for it alone, nothing deleted.
    await fs.writeFile(nodePath.join(peerDir, 'secret.txt'), 'root only');
    chmodSync(nodePath.join(peerDir, 'secret.txt'), 0o600); // still owned by root: unreadable for the user
    await fs.writeFile(nodePath.join(peerDir, 'ok/c.txt'), 'c');
    failures.length = 0;
    problems.length = 0;
    s = await session.run();
    console.log(`[perm] run with an unreadable peer file: failed ${s.failed}, problems ${s.problems}: ${[...failures, ...problems].join('; ')}`);
    assert.ok(s.failed + s.problems > 0, 'the unreadable file was not reported');
    assert.ok([...failures, ...problems].every((f) => f.includes('secret.txt')), [...failures, ...problems].join('\n'));
    assert.equal(await fs.readFile(nodePath.join(local, 'ok/c.txt'), 'utf8'), 'c');
    await assert.rejects(fs.stat(nodePath.join(local, 'secret.txt')));
    assert.equal(await fs.readFile(nodePath.join(peerDir, 'secret.txt'), 'utf8'), 'root only');
    assert.deepEqual(await tempFilesUnder(local), []);
  });

  test('an ownership-only change on the peer (owners not preserved) does not conflict with a local edit', async () => {
    const local = nodePath.join(base, 'local2');
    const peerDir = nodePath.join(base, 'peer2');
    await fs.mkdir(local);
    await fs.mkdir(peerDir);
    await fs.writeFile(nodePath.join(local, 'f.txt'), 'v1');
    await fs.writeFile(nodePath.join(peerDir, 'f.txt'), 'v1');
    execFileSync('chown', ['-R', `${TEST_USER}:${TEST_USER}`, peerDir]);
    chmodSync(nodePath.join(peerDir, 'f.txt'), 0o666);
    const peer = `${TEST_USER}@127.0.0.1:${sshd.port}:${peerDir}`;
    const r = await openSshReplica(peer, { sshConfigFile: null, knownHostsFile: sshd.writeKnownHosts(), identityFiles: [sshd.clientKey.privateKey], agent: false });
    try {
      const session = new SyncSession(
        { localRoot: local, peer, direction: 'bidi', overwrite: 'never', deletes: true, symlinks: 'copy', preserve: { ...DEFAULT_PRESERVE, mode: false }, filters: [], stateDir: nodePath.join(base, 'state2') },
        { local: new LocalReplica(local), remote: r },
      );
      let s = await session.run();
      assert.equal(s.conflicts + s.failed, 0);
      // An admin fixes the owner on the server; the user edits locally.
      execFileSync('chown', ['root:root', nodePath.join(peerDir, 'f.txt')]);
      await fs.writeFile(nodePath.join(local, 'f.txt'), 'v2 local');
      s = await session.run();
      const conflicts = (await session.conflicts()).map((c) => `${c.kind} ${c.path}`);
      assert.deepEqual(conflicts, [], 'an owner change alone (owners not preserved) made a conflict');
      assert.equal(await fs.readFile(nodePath.join(peerDir, 'f.txt'), 'utf8'), 'v2 local');
    } finally {
      await r.close();
    }
  });
});
