import assert from 'node:assert/strict';
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { promises as fs, chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, type CliResult } from '../helpers/cli';
import { ensureTestUser, startSshd, sshdAvailable, TEST_USER, type SshdFixture } from '../helpers/sshd';
import { removeDir, tempFilesUnder, waitFor } from '../helpers/tmp';
import { content, fileHashes, intFromEnv, mapDiff, rng, seedFromEnv, sha, trialsFromEnv, type HashCache } from './faultHelpers';

/*
 * The SSH connection cut at random points of a push (every sshd process of the session killed, as a
 * dropped link or a server restart would). After each cut: no partial file at any target path (every
 * file there is a complete version some user wrote); then a clean run converges, with nothing lost,
 * nothing extra and no temp file left.
 *
 * The peer is reached as the non-root user `sshsynctest` (login shell /bin/sh, in a folder it owns), and
 * only that user's connections to this test's own sshd are ever killed. Cutting root sessions is what
 * once made this test opt-in: root's commands ran through bash, whose ~/.bashrc runs `pyenv rehash`,
 * and a session killed at the wrong moment left pyenv's shim lock behind, hanging every later command
 * on the machine.
 *
 * The cut lands at a random moment from when a typical run's connection reaches sshd to a little after
 * such a run ends (both measured first), so it falls in the handshake, probing, scanning, transferring
 * and committing alike. A trial
 * costs about 1 s on a 2-core machine (a cut run, a clean run, hashing what changed on the server).
 *
 *   SSH_SYNC_FAULT_CUTS           trials (default 100; 0 skips the test)
 *   SSH_SYNC_FAULT_SEED           replay (the files and the cut points as fractions of the measured
 *                                 timings: the same trial, though not to the millisecond)
 *   SSH_SYNC_FAULT_HANG_SECONDS   a run still going after this long is taken to hang (default 60)
 */

const TRIALS = trialsFromEnv('SSH_SYNC_FAULT_CUTS', 100);
/** A run that takes this long after a cut is taken to hang (killed, and the trial fails). */
const HANG_MS = intFromEnv('SSH_SYNC_FAULT_HANG_SECONDS', 60) * 1000;

const skip = !sshdAvailable()
  ? 'OpenSSH server not installed'
  : process.getuid?.() !== 0
    ? `needs root to set up the non-root test user ${TEST_USER}`
    : TRIALS === 0
      ? 'SSH_SYNC_FAULT_CUTS=0'
      : false;

describe('connection cut at random points', { skip }, () => {
  let sshd: SshdFixture;
  let work: string;
  before(async () => {
    if (!ensureTestUser()) throw new Error(`cannot create the test user ${TEST_USER}`);
    sshd = await startSshd();
    // Under /tmp (1777), itself 0755: the test user must reach its folder inside.
    work = mkdtempSync(nodePath.join(os.tmpdir(), 'ssh-sync-cut-'));
    chmodSync(work, 0o755);
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
    await fs.mkdir(local);
    await fs.mkdir(remote);
    execFileSync('chown', [`${TEST_USER}:${TEST_USER}`, remote]);
    const knownHosts = sshd.writeKnownHosts();
    const args = ['sync', local, `${TEST_USER}@127.0.0.1:${sshd.port}:${remote}`, '--direction', 'push', '--state-dir', state, '--identity', sshd.clientKey.privateKey, '--known-hosts', knownHosts, '--ssh-config', '/dev/null', '--max-delete', '100000', '--json'];
    /** A run; one still going after HANG_MS is killed and reported as hung (exit code null). */
    const push = async (onSpawn?: (child: ChildProcess) => void): Promise<CliResult & { hung: boolean }> => {
      let hung = false;
      let watchdog: NodeJS.Timeout | undefined;
      const r = await runCli(args, {
        onSpawn: (child) => {
          watchdog = setTimeout(() => {
            hung = true;
            child.kill('SIGKILL');
          }, HANG_MS);
          onSpawn?.(child);
        },
      });
      clearTimeout(watchdog);
      return { ...r, hung };
    };
    const summaryOf = (r: CliResult) =>
      r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((e) => e.type === 'summary');

    /** The local tree, path -> sha256: after a clean run the server must hold exactly this. */
    const expected = new Map<string, string>();
    /** Every complete version ever written at a path: a file on the server must be one of them. */
    const written = new Map<string, Set<string>>();
    const hashCache: HashCache = new Map();
    let version = 0;
    const write = async (rel: string) => {
      const size = random() < 0.8 ? Math.floor(random() * 8192) : 200_000 + Math.floor(random() * 1_500_000);
      const data = content(`${rel}@${++version}`, size);
      await fs.mkdir(nodePath.dirname(nodePath.join(local, rel)), { recursive: true });
      await fs.writeFile(nodePath.join(local, rel), data);
      expected.set(rel, sha(data));
      if (!written.has(rel)) written.set(rel, new Set());
      written.get(rel)!.add(sha(data));
    };
    const changes = async () => {
      for (let i = 0; i < 12; i++) await write(`d${Math.floor(random() * 6)}/f${Math.floor(random() * 160)}.bin`);
    };
    const converged = async (what: string) => {
      const synced = await fileHashes(remote, hashCache);
      assert.deepEqual(mapDiff(synced, expected), [], `${what}: the server differs from the local tree (lost, stale or stray files)`);
      assert.deepEqual(await tempFilesUnder(remote), [], `${what}: temp files left on the server`);
      assert.deepEqual(await tempFilesUnder(local), [], `${what}: temp files left locally`);
    };

    // The starting tree, sent in full.
    for (let i = 0; i < 100; i++) await write(`d${i % 6}/f${i}.bin`);
    let r = await push();
    assert.equal(r.code, 0, `first run: ${r.stdout}${r.stderr}`);
    await converged('first run');
    console.log(`[cut] server side: ${JSON.stringify(summaryOf(r)?.tier?.remote)}`);

    // A typical run with a trial's changes: how long until its connection reaches sshd, and how long in
    // all. The median of three (one alone is noisy on a busy machine).
    const listener = Number(readFileSync(nodePath.join(sshd.dir, 'sshd.pid'), 'utf8'));
    const connected = (): Promise<boolean> =>
      new Promise((resolve) => execFile('pgrep', ['-P', String(listener)], (err) => resolve(!err)));
    const durations: number[] = [];
    const connects: number[] = [];
    let t0 = 0;
    for (let i = 0; i < 3; i++) {
      await changes();
      t0 = Date.now();
      let running = true;
      let connectedAt: number | undefined;
      const watching = waitFor(async () => !running || (await connected()), 30_000, 'the connection').then(() => (connectedAt = Date.now() - t0));
      r = await push();
      durations.push(Date.now() - t0);
      running = false;
      await watching;
      connects.push(Math.min(connectedAt!, durations[i]));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      await converged('a timing run');
    }
    const median = (xs: readonly number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    const connectMs = median(connects);
    console.log(`[cut] a typical run takes ${median(durations)} ms (${durations.join(', ')}), connecting after ${connectMs} ms (${connects.join(', ')})`);
    // Cuts land from just before the connection is made to a little after a typical run's end; the
    // runs that finished uncut keep "typical" up to date (the machine's load changes as the test runs).
    const earliest = Math.floor(connectMs * 0.9);
    const recent = [...durations];
    const latest = () => Math.max(earliest + 50, Math.ceil(median(recent) * 1.05));

    const started = Date.now();
    const spent = { writes: 0, cut: 0, clean: 0, checks: 0 };
    const lap = (k: keyof typeof spent, since: number) => (spent[k] += Date.now() - since);
    let cuts = 0;
    let interrupted = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      t0 = Date.now();
      await changes();
      lap('writes', t0);
      // A run cut after a random delay (only sshsynctest's sessions of this test's own sshd).
      const delay = earliest + Math.floor(random() * (latest() - earliest));
      const what = `trial ${trial} (seed ${seed}, cut after ${delay} ms)`;
      let timer: NodeJS.Timeout | undefined;
      let killed = 0;
      t0 = Date.now();
      const cut = await push(() => {
        timer = setTimeout(() => (killed = sshd.killSessionsOf(TEST_USER)), delay);
      });
      clearTimeout(timer);
      lap('cut', t0);
      if (killed > 0) cuts++;
      else if (cut.code === 0 && recent.push(Date.now() - t0) > 9) recent.shift();
      assert.ok(!cut.hung, `${what}: the run hung after the cut (killed after ${HANG_MS / 1000} s)\n${cut.stdout.slice(-2000)}${cut.stderr}`);
      // Finished before the cut: 0; cut: 1 (connection lost), never anything else (a conflict, a crash).
      assert.ok(cut.code === 0 || cut.code === 1, `${what}: exit ${cut.code}\n${cut.stdout.slice(-2000)}${cut.stderr}`);
      if (cut.code === 1) {
        interrupted++;
        assert.ok(killed > 0, `${what}: the run failed with no cut\n${cut.stdout.slice(-2000)}${cut.stderr}`);
      }

      t0 = Date.now();
      // What the server still does for the cut session (a command started as it was cut, removing its
      // temp files at the end of its input) ends before anything is looked at.
      await waitFor(() => sshd.sessionProcessesOf(TEST_USER).length === 0, 15_000, `${what}: the server side of the session to end`);
      // A run that says it finished (exit 0) must have left the server in step, cut or no cut.
      if (cut.code === 0) await converged(`${what}: a run that exited 0${killed > 0 ? ' despite the cut' : ''}`);
      // Whatever is at a target path is a complete version some user wrote.
      for (const [rel, hash] of await fileHashes(remote, hashCache)) {
        if (nodePath.basename(rel).startsWith('.ssh-sync-tmp.')) continue;
        assert.ok(written.get(rel)?.has(hash), `${what}: ${rel} on the server is not a complete version (partial write?)`);
      }
      lap('checks', t0);

      t0 = Date.now();
      const clean = await push();
      lap('clean', t0);
      assert.ok(!clean.hung, `${what}: the run after the cut hung\n${clean.stdout.slice(-2000)}${clean.stderr}`);
      assert.equal(clean.code, 0, `${what}: the run after the cut failed\n${clean.stdout.slice(-2000)}${clean.stderr}`);
      assert.equal(summaryOf(clean)?.conflicts, 0, `${what}: conflicts after the cut`);
      t0 = Date.now();
      await converged(what);
      lap('checks', t0);
    }
    // Converged means the snapshot agrees too: one more run finds nothing to do.
    r = await push();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const last = summaryOf(r);
    const leftover = ['copied', 'renamed', 'deleted', 'metadata', 'conflicts', 'failed', 'problems'].filter((k) => last?.[k] !== 0);
    assert.deepEqual(leftover, [], `a run after the last trial still had work: ${JSON.stringify(last)}`);
    await converged('the final run');

    console.log(`[cut] cuts fell between ${earliest} and ${latest()} ms at the end`);
    console.log(`[cut] time spent (s): ${Object.entries(spent).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(', ')}`);
    console.log(`[cut] ${TRIALS} trials in ${((Date.now() - started) / 1000).toFixed(1)} s: ${cuts} connections cut, ${interrupted} runs failed by the cut, ${TRIALS - interrupted} finished`);
    assert.ok(cuts > 0 && interrupted > 0, 'no run was ever cut: the delays are too long for this machine');
  });
});
