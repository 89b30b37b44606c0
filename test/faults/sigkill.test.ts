import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, type CliResult } from '../helpers/cli';
import { removeDir, tempDir, tempFilesUnder } from '../helpers/tmp';
import { content, fileHashes, intFromEnv, mapDiff, rng, seedFromEnv, sha, trialsFromEnv, type HashCache } from './faultHelpers';

/*
 * SIGKILL of the sync process at random points. A tree of a few hundred files of varied sizes, pending
 * changes on both sides on disjoint paths (local under d0..d4, peer under d5..d9), the CLI killed after
 * a random delay between its start-up time (loading its code: nothing is touched before) and a typical
 * run's duration; then a clean run must converge with exit 0 (disjoint changes: no conflict is
 * genuine), lose no update, and leave no temp files.
 *
 * A trial costs about 0.9 s on a 2-core machine (a killed run, a clean run of ~0.45 s, the tree checks;
 * the checks re-read only files changed since they were last hashed), so the 100 trials take ~1.5 min.
 *
 *   SSH_SYNC_FAULT_KILLS      trials (default 100; 0 skips the test)
 *   SSH_SYNC_FAULT_SECONDS    time budget: no new trial starts after it (default 150; a safety net for
 *                             a slow machine, the number of trials run is printed)
 *   SSH_SYNC_FAULT_SEED       replay
 */

const TRIALS = trialsFromEnv('SSH_SYNC_FAULT_KILLS', 100);
const BUDGET_MS = intFromEnv('SSH_SYNC_FAULT_SECONDS', 150) * 1000;
const DIRS = Array.from({ length: 10 }, (_, i) => `d${i}`);

describe('SIGKILL at random points', { skip: TRIALS === 0 && 'SSH_SYNC_FAULT_KILLS=0' }, () => {
  let work: string;
  before(async () => {
    work = await tempDir('ssh-sync-kill-');
  });
  after(async () => {
    if (work) await removeDir(work);
  });

  test('after every kill the next run converges, loses nothing and leaves no temp files', { timeout: 10 * 60_000 }, async () => {
    const seed = seedFromEnv('SSH_SYNC_FAULT_SEED');
    console.log(`[sigkill] seed=${seed} (replay: SSH_SYNC_FAULT_SEED=${seed})`);
    const random = rng(seed);
    const a = nodePath.join(work, 'a');
    const b = nodePath.join(work, 'b');
    const state = nodePath.join(work, 'state');
    const sync = (onSpawn?: (child: ChildProcess) => void): Promise<CliResult> =>
      runCli(['sync', a, b, '--state-dir', state, '--json', '--max-delete', '100000'], { onSpawn });

    // The expected tree: relative path -> sha256, kept in step with every user change.
    const expected = new Map<string, string>();
    const hashCache: HashCache = new Map();
    let version = 0;
    const sizeFor = () => {
      const r = random();
      if (r < 0.05) return 0;
      if (r < 0.75) return Math.floor(random() * 4096);
      if (r < 0.97) return 16_384 + Math.floor(random() * 200_000);
      return 1_000_000 + Math.floor(random() * 3_000_000);
    };
    const write = async (root: string, rel: string, size = sizeFor()) => {
      const data = content(`${rel}@${++version}`, size);
      await fs.mkdir(nodePath.dirname(nodePath.join(root, rel)), { recursive: true });
      await fs.writeFile(nodePath.join(root, rel), data);
      expected.set(rel, sha(data));
    };

    // A few hundred files, both sides equal after a first run.
    await fs.mkdir(a, { recursive: true });
    for (let i = 0; i < 300; i++) await write(a, `${DIRS[i % DIRS.length]}/s${i % 7}/f${i}.bin`);
    let r = await sync();
    assert.equal(r.code, 0, r.stdout + r.stderr);

    const pending = async () => {
      for (const [side, root, dirs] of [['local', a, DIRS.slice(0, 5)], ['peer', b, DIRS.slice(5)]] as const) {
        const mine = [...expected.keys()].filter((p) => dirs.includes(p.split('/')[0]));
        for (let i = 0; i < 12; i++) {
          const p = mine[Math.floor(random() * mine.length)];
          if (!expected.has(p)) continue;
          const roll = random();
          if (roll < 0.5) await write(root, p);
          else if (roll < 0.7) {
            await fs.rm(nodePath.join(root, p));
            expected.delete(p);
          } else {
            const to = `${dirs[Math.floor(random() * dirs.length)]}/m${side}${++version}.bin`;
            await fs.rename(nodePath.join(root, p), nodePath.join(root, to));
            expected.set(to, expected.get(p)!);
            expected.delete(p);
          }
        }
        for (let i = 0; i < 8; i++) await write(root, `${dirs[Math.floor(random() * dirs.length)]}/n${side}${++version}.bin`);
        // One big file per side per trial: kills land in transfers too.
        await write(root, `${dirs[0]}/big-${side}.bin`, 2_000_000 + Math.floor(random() * 2_000_000));
      }
    };

    // A typical run's duration, pending changes included.
    await pending();
    let t0 = Date.now();
    r = await sync();
    const typicalMs = Date.now() - t0;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // Before the CLI has loaded its code it touches nothing: kills that early test nothing.
    const startups: number[] = [];
    for (let i = 0; i < 3; i++) {
      t0 = Date.now();
      const v = await runCli(['--version']);
      startups.push(Date.now() - t0);
      assert.equal(v.code, 0, v.stderr);
    }
    const earliest = Math.floor(Math.min(typicalMs / 2, startups.sort((x, y) => x - y)[1] * 0.8));
    console.log(`[sigkill] a typical run takes ${typicalMs} ms; the CLI starts in ${startups.join(', ')} ms; kills fall from ${earliest} ms`);

    const started = Date.now();
    const spent = { writes: 0, killed: 0, clean: 0, checks: 0 };
    const lap = (k: keyof typeof spent, since: number) => (spent[k] += Date.now() - since);
    let kills = 0;
    let finishedBeforeKill = 0;
    let trials = 0;
    for (let trial = 0; trial < TRIALS && Date.now() - started < BUDGET_MS; trial++) {
      trials++;
      t0 = Date.now();
      await pending();
      lap('writes', t0);
      const delay = earliest + Math.floor(random() * (typicalMs - earliest));
      t0 = Date.now();
      const killed = await sync((child) => {
        setTimeout(() => child.kill('SIGKILL'), delay);
      });
      lap('killed', t0);
      if (killed.code === null) kills++;
      else finishedBeforeKill++;
      const what = `trial ${trial} (seed ${seed}, kill after ${delay} ms)`;
      // A finished run is an ordinary one: it must have succeeded.
      if (killed.code !== null) assert.equal(killed.code, 0, `${what}: ${killed.stdout}${killed.stderr}`);

      t0 = Date.now();
      r = await sync();
      lap('clean', t0);
      t0 = Date.now();
      const summary = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((e) => e.type === 'summary');
      assert.equal(r.code, 0, `${what}: the run after the kill did not converge (exit ${r.code}; 3 would be a false conflict)\n${r.stdout.slice(-3000)}${r.stderr}`);
      assert.equal(summary?.conflicts, 0, `${what}: false conflicts`);
      const [ha, hb] = [await fileHashes(a, hashCache), await fileHashes(b, hashCache)];
      assert.deepEqual(mapDiff(ha, expected), [], `${what}: local differs from what the users wrote (lost update or stray file)`);
      assert.deepEqual(mapDiff(hb, expected), [], `${what}: peer differs from what the users wrote (lost update or stray file)`);
      assert.deepEqual([...(await tempFilesUnder(a)), ...(await tempFilesUnder(b))], [], `${what}: temp files left after the next run`);
      lap('checks', t0);
    }
    console.log(`[sigkill] time spent (s): ${Object.entries(spent).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(', ')}`);
    console.log(`[sigkill] ${trials} of ${TRIALS} trials: ${kills} kills injected (${finishedBeforeKill} runs finished before their kill) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (trials < TRIALS) console.log(`[sigkill] WARNING: the ${BUDGET_MS / 1000} s budget ran out after ${trials} of ${TRIALS} trials (slow machine?)`);
    assert.ok(kills > 0, 'no kill landed');
  });
});
