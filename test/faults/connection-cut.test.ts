import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/cli';
import { startSshd, sshdAvailable, type SshdFixture } from '../helpers/sshd';
import { removeDir, tempDir, tempFilesUnder } from '../helpers/tmp';
import { content, fileHashes, intFromEnv, rng, seedFromEnv, sha } from './faultHelpers';

/*
 * The SSH connection cut at random points of a push (every sshd process of the session killed, as a
 * dropped link or a server restart would). After each cut: no partial file at any target path; then a
 * clean run converges, with nothing lost and no temp file left.
 *
 *   SSH_SYNC_FAULT_CUTS       trials; the test runs only when it is set (after a cut, the next connection
 *                             to this sshd cannot run commands for a while, so each trial is slow, and
 *                             the suite's other SSH tests are disturbed by the killed sessions)
 *   SSH_SYNC_FAULT_SEED       replay
 */

const TRIALS = intFromEnv('SSH_SYNC_FAULT_CUTS', 0);

const skip = !sshdAvailable() ? 'OpenSSH server not installed' : TRIALS === 0 ? 'set SSH_SYNC_FAULT_CUTS=N to run N trials' : false;

describe('connection cut at random points', { skip }, () => {
  let sshd: SshdFixture;
  let work: string;
  before(async () => {
    sshd = await startSshd();
    work = await tempDir('ssh-sync-cut-');
  });
  after(async () => {
    await sshd?.stop();
    if (work) await removeDir(work);
  });

  test('after every cut, no target file is partial and the next run converges with no temp files', { timeout: 10 * 60_000 }, async () => {
    const seed = seedFromEnv('SSH_SYNC_FAULT_SEED');
    console.log(`[cut] seed=${seed} (replay: SSH_SYNC_FAULT_SEED=${seed})`);
    const random = rng(seed);
    const local = nodePath.join(work, 'local');
    const remote = nodePath.join(work, 'remote');
    const state = nodePath.join(work, 'state');
    const knownHosts = sshd.writeKnownHosts();
    const args = ['sync', local, `root@127.0.0.1:${sshd.port}:${remote}`, '--direction', 'push', '--state-dir', state, '--identity', sshd.clientKey.privateKey, '--known-hosts', knownHosts, '--ssh-config', '/dev/null', '--max-delete', '100000'];
    const expected = new Map<string, string>();
    /** Every complete version ever written at a path: a target file must be one of them. */
    const written = new Map<string, Set<string>>();
    let version = 0;
    const write = async (rel: string) => {
      const size = random() < 0.8 ? Math.floor(random() * 8192) : 200_000 + Math.floor(random() * 2_000_000);
      const data = content(`${rel}@${++version}`, size);
      await fs.mkdir(nodePath.dirname(nodePath.join(local, rel)), { recursive: true });
      await fs.writeFile(nodePath.join(local, rel), data);
      expected.set(rel, sha(data));
      if (!written.has(rel)) written.set(rel, new Set());
      written.get(rel)!.add(sha(data));
    };
    for (let i = 0; i < 120; i++) await write(`d${i % 6}/f${i}.bin`);
    let cuts = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      // Fresh changes for this trial, then a run cut after a random delay.
      for (let i = 0; i < 15; i++) await write(`d${Math.floor(random() * 6)}/f${Math.floor(random() * 160)}.bin`);
      const delay = Math.floor(random() * 400);
      let timer: NodeJS.Timeout | undefined;
      const cut = await runCli(args, {
        onSpawn: () => {
          timer = setTimeout(() => (cuts += sshd.killSessions() > 0 ? 1 : 0), delay);
        },
      });
      clearTimeout(timer);
      assert.ok(cut.code === 0 || cut.code === 1, `trial ${trial}: exit ${cut.code}\n${cut.stderr}`);
      // Whatever is at a target path is a complete version some run sent.
      const there = await fileHashes(remote).catch(() => new Map<string, string>());
      for (const [rel, hash] of there) {
        if (nodePath.basename(rel).startsWith('.ssh-sync-tmp.')) continue;
        assert.ok(written.get(rel)?.has(hash), `trial ${trial}: ${rel} on the server is not a complete version (partial write?)`);
      }
      const clean = await runCli(args);
      assert.equal(clean.code, 0, `trial ${trial} (seed ${seed}, cut after ${delay} ms): the run after the cut failed\n${clean.stdout}${clean.stderr}`);
      const synced = await fileHashes(remote);
      for (const [rel, hash] of expected) assert.equal(synced.get(rel), hash, `trial ${trial}: ${rel} lost or stale after the clean run`);
      assert.deepEqual(await tempFilesUnder(remote), [], `trial ${trial}: temp files left`);
    }
    console.log(`[cut] ${TRIALS} trials, ${cuts} connections cut mid-run`);
    assert.ok(cuts > 0, 'no run was ever cut: the delays are too long for this machine');
  });
});
