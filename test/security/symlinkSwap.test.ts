import assert from 'node:assert/strict';
import { promises as fs, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Action } from '../../src/engine/plan';
import type { Direction } from '../../src/engine/policy';
import { LocalReplica } from '../../src/replica/local/localReplica';
import type { Replica } from '../../src/replica/replica';
import { openSshReplica, type SshReplicaOpenOptions } from '../../src/replica/ssh';
import type { SessionConfig } from '../../src/session/config';
import type { SyncEvent } from '../../src/session/events';
import { SyncSession } from '../../src/session/syncSession';
import { folderSession } from '../helpers/sessionConfig';
import { sshdAvailable, startSshd, type SshdFixture } from '../helpers/sshd';
import { readTree, removeDir, tempDir, writeTree } from '../helpers/tmp';

/*
 * A directory on the target swapped for a symlink to a folder outside the root after the plan was
 * made and before it is carried out (the window a scan cannot see): no write may land outside the
 * root. The swap is made by a listener of the session's own 'transferring' state event, which the
 * session emits synchronously after planning and before the executor starts.
 */

export interface SwapWorld {
  readonly work: string;
  readonly local: string;
  /** The peer root as seen on this machine (the files of the target side). */
  readonly remote: string;
  /** A folder outside both roots that the swapped-in symlink points to. */
  readonly outside: string;
}

/** Every name under a folder with its bytes, mode and mtime: "unchanged byte for byte". */
export async function fingerprintTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string) => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(abs);
      if (st.isDirectory()) {
        out[r] = `dir ${st.mode & 0o7777}`;
        await walk(abs, r);
      } else if (st.isSymbolicLink()) out[r] = `link ${await fs.readlink(abs)}`;
      else out[r] = `file ${st.mode & 0o7777} ${st.mtimeMs} ${(await fs.readFile(abs)).toString('base64')}`;
    }
  };
  await walk(root, '');
  return out;
}

export function configFor(world: SwapWorld, direction: Direction, peer = world.remote): SessionConfig {
  return folderSession(world.work, world.local, peer, direction);
}

/**
 * Lays out the scenario: a first sync puts `d/` on the target; then the source changes inside `d/`
 * (a file modified, one added, one deleted, a new subfolder) and outside it (`top.txt`). The outside
 * folder holds look-alikes of the target's `d/` files (same size and mtime), so a write that followed
 * the symlink would pass every "is the target still as scanned" check.
 */
export async function prepare(world: SwapWorld, openRemote: () => Promise<Replica>, direction: Direction): Promise<void> {
  await writeTree(world.local, { 'd/changed.txt': 'old content', 'd/gone.txt': 'to be deleted', 'top.txt': 'top v1' });
  const first = new SyncSession(configFor(world, direction), { local: new LocalReplica(world.local), remote: await openRemote() });
  const s = await first.run();
  assert.equal(s.failed + s.problems + s.conflicts, 0, JSON.stringify(s));
  await first.sides.remote.close();
  await fs.cp(path.join(world.remote, 'd'), world.outside, { recursive: true, preserveTimestamps: true });
  await writeTree(world.outside, { 'unrelated.txt': 'precious' });
  await writeTree(world.local, { 'd/changed.txt': 'new content', 'd/new.txt': 'new', 'd/sub/deep.txt': 'deep', 'top.txt': 'top v2' });
  await fs.rm(path.join(world.local, 'd/gone.txt'));
}

/** Runs one sync that swaps `<remote>/d` for a symlink to `outside` once the plan is made; returns what it reported. */
export async function runWithSwap(world: SwapWorld, session: SyncSession): Promise<{ failed: { action: Action; message: string; code: string }[]; swapped: boolean; summary: Awaited<ReturnType<SyncSession['run']>> }> {
  const failed: { action: Action; message: string; code: string }[] = [];
  let swapped = false;
  const saved = path.join(world.work, 'd-moved-away');
  session.onEvent((e: SyncEvent) => {
    if (e.type === 'failed') failed.push({ action: e.action, message: e.error.message, code: e.error.code });
    if (e.type === 'state' && e.state === 'transferring' && !swapped) {
      // Synchronous: done before the executor takes its first step.
      renameSync(path.join(world.remote, 'd'), saved);
      symlinkSync(world.outside, path.join(world.remote, 'd'));
      swapped = true;
    }
  });
  const summary = await session.run();
  return { failed, swapped, summary };
}

/** Puts the real directory back where the symlink was. */
export function restore(world: SwapWorld): void {
  unlinkSync(path.join(world.remote, 'd'));
  renameSync(path.join(world.work, 'd-moved-away'), path.join(world.remote, 'd'));
}

/** The assertions shared by the local and SSH variants. */
export async function checkSwapOutcome(world: SwapWorld, outsideBefore: Record<string, string>, result: Awaited<ReturnType<typeof runWithSwap>>, converge: () => Promise<SyncSession>): Promise<void> {
  assert.ok(result.swapped, 'the swap happened after planning');
  // Nothing was written outside the root: not a byte, not a name, not a mode or a time.
  assert.deepEqual(await fingerprintTree(world.outside), outsideBefore);
  // Every action under d/ was refused and reported; what lies elsewhere was synced.
  const underD = result.failed.filter((f) => f.action.path.startsWith('d/'));
  assert.ok(underD.length >= 4, `refused actions under d/: ${JSON.stringify(result.failed)}`);
  for (const f of result.failed) {
    assert.ok(f.action.path.startsWith('d/'), `only paths under d/ fail: ${f.action.path}`);
    assert.match(f.message, /d is a symbolic link, not a directory|changed since it was scanned/, f.message);
  }
  assert.ok(result.failed.some((f) => f.code === 'Unsafe'), 'at least one refusal names the symlinked parent');
  assert.ok(result.summary.failed > 0, 'the run reports failures (exit code 1 in the CLI)');
  assert.equal(await fs.readFile(path.join(world.remote, 'top.txt'), 'utf8'), 'top v2');

  // The directory is put back: the next run converges, and the outside folder is still untouched.
  restore(world);
  const session = await converge();
  const s = await session.run();
  await session.sides.remote.close();
  assert.equal(s.failed + s.problems + s.conflicts, 0, JSON.stringify(s));
  assert.deepEqual(await readTree(world.remote), await readTree(world.local));
  assert.deepEqual(await readTree(world.remote), { d: '<dir>', 'd/changed.txt': 'new content', 'd/new.txt': 'new', 'd/sub': '<dir>', 'd/sub/deep.txt': 'deep', 'top.txt': 'top v2' });
  assert.deepEqual(await fingerprintTree(world.outside), outsideBefore);
}

describe('a target directory swapped for a symlink between planning and writing (local peer)', () => {
  const made: string[] = [];
  after(async () => {
    for (const dir of made) await removeDir(dir);
  });

  for (const direction of ['push', 'bidi'] as const) {
    test(`${direction}: nothing lands outside the root, the paths under it are reported, a later run converges`, async () => {
      const work = await tempDir();
      made.push(work);
      const world: SwapWorld = { work, local: path.join(work, 'local'), remote: path.join(work, 'remote'), outside: path.join(work, 'outside') };
      await fs.mkdir(world.local);
      await fs.mkdir(world.remote);
      const openRemote = async () => new LocalReplica(world.remote);
      await prepare(world, openRemote, direction);
      const outsideBefore = await fingerprintTree(world.outside);
      const session = new SyncSession(configFor(world, direction), { local: new LocalReplica(world.local), remote: await openRemote() });
      const result = await runWithSwap(world, session);
      await checkSwapOutcome(world, outsideBefore, result, async () => new SyncSession(configFor(world, direction), { local: new LocalReplica(world.local), remote: await openRemote() }));
    });
  }
});

describe('a target directory swapped for a symlink between planning and writing (SSH peer)', { skip: sshdAvailable() ? false : 'OpenSSH server (/usr/sbin/sshd) is not installed' }, () => {
  let sshd: SshdFixture;
  let options: SshReplicaOpenOptions;
  const made: string[] = [];
  before(async () => {
    sshd = await startSshd();
    options = { sshConfigFile: null, knownHostsFile: sshd.writeKnownHosts(), identityFiles: [sshd.clientKey.privateKey], agent: false };
  });
  after(async () => {
    await sshd?.stop();
    for (const dir of made) await removeDir(dir);
  });
  const world = async (): Promise<SwapWorld & { address: string }> => {
    const work = await tempDir();
    made.push(work);
    const w = { work, local: path.join(work, 'local'), remote: path.join(work, 'remote'), outside: path.join(work, 'outside') };
    await fs.mkdir(w.local);
    await fs.mkdir(w.remote);
    return { ...w, address: `root@127.0.0.1:${sshd.port}:${w.remote}` };
  };

  const tiers = [
    { name: 'sftp tier', extra: { tier: 'sftp' } },
    { name: 'helper tier', extra: { tier: 'helper', helperRuntime: 'node' } },
  ] as const;
  for (const { name, extra } of tiers) {
    test(`${name}, push: nothing lands outside the root, the paths under it are reported, a later run converges`, async () => {
      const w = await world();
      const openRemote = () => openSshReplica(w.address, { ...options, ...extra });
      await prepare(w, openRemote, 'push');
      const outsideBefore = await fingerprintTree(w.outside);
      const session = new SyncSession(configFor(w, 'push', w.address), { local: new LocalReplica(w.local), remote: await openRemote() });
      const result = await runWithSwap(w, session);
      await session.sides.remote.close();
      await checkSwapOutcome(w, outsideBefore, result, async () => new SyncSession(configFor(w, 'push', w.address), { local: new LocalReplica(w.local), remote: await openRemote() }));
    });
  }

  test('sftp tier: a swap right after the parent check, before the temp file is opened, still lands nothing outside', async () => {
    // The narrowest window over SFTP: each parent was lstat-ed a round trip before the temp file is
    // created by path, which the server resolves through whatever the parent is by then.
    const w = await world();
    const openRemote = () => openSshReplica(w.address, { ...options, tier: 'sftp' });
    await prepare(w, openRemote, 'push');
    const outsideBefore = await fingerprintTree(w.outside);
    const remote = await openRemote();
    const session = new SyncSession(configFor(w, 'push', w.address), { local: new LocalReplica(w.local), remote });
    const sftp = remote.sftp;
    const open = sftp.open.bind(sftp);
    let swapped = false;
    sftp.open = async (p, flags, attrs) => {
      if (!swapped && flags === 'wx' && p.startsWith(`${w.remote}/d/.ssh-sync-tmp.`)) {
        renameSync(path.join(w.remote, 'd'), path.join(w.work, 'd-moved-away'));
        symlinkSync(w.outside, path.join(w.remote, 'd'));
        swapped = true;
      }
      return open(p, flags, attrs);
    };
    const failed: { action: Action; message: string; code: string }[] = [];
    session.onEvent((e) => void (e.type === 'failed' && failed.push({ action: e.action, message: e.error.message, code: e.error.code })));
    const summary = await session.run();
    await remote.close();
    assert.ok(swapped, 'a temp file under d/ was opened');
    assert.deepEqual(await fingerprintTree(w.outside), outsideBefore);
    assert.ok(summary.failed > 0 && failed.every((f) => f.action.path.startsWith('d/')), JSON.stringify(failed));
    restore(w);
    const again = new SyncSession(configFor(w, 'push', w.address), { local: new LocalReplica(w.local), remote: await openRemote() });
    const s = await again.run();
    await again.sides.remote.close();
    assert.equal(s.failed + s.problems + s.conflicts, 0, JSON.stringify(s));
    assert.deepEqual(await readTree(w.remote), await readTree(w.local));
    assert.deepEqual(await fingerprintTree(w.outside), outsideBefore);
  });
});
