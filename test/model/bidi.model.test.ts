import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { LocalReplica } from '../../src/replica/local/localReplica';
import { openSshReplica } from '../../src/replica/ssh';
import { sshdAvailable, startSshd, type SshdFixture } from '../helpers/sshd';
import { removeDir, tempDir } from '../helpers/tmp';
import { numRunsFromEnv, opsArbitrary, seedFromEnv, World, type Op } from './harness';

/*
 * Randomized model-based test of bidirectional sessions (see harness.ts for the oracle).
 *
 *   SSH_SYNC_MODEL_RUNS      sequences against a local peer (default below)
 *   SSH_SYNC_MODEL_SSH_RUNS  sequences against the ssh peer (default below)
 *   SSH_SYNC_MODEL_SEED      replay a seed printed by an earlier run
 *   SSH_SYNC_MODEL_PATH      replay a shrunk counterexample path (with the seed)
 */

const LOCAL_RUNS = numRunsFromEnv('SSH_SYNC_MODEL_RUNS', 1000);
const SSH_RUNS = numRunsFromEnv('SSH_SYNC_MODEL_SSH_RUNS', 20);

function params(numRuns: number, label: string): fc.Parameters<[Op[]]> {
  const seed = seedFromEnv();
  const path = process.env.SSH_SYNC_MODEL_PATH;
  console.log(`[model ${label}] seed=${seed} numRuns=${numRuns}${path ? ` path=${path}` : ''} (replay: SSH_SYNC_MODEL_SEED=${seed})`);
  return { numRuns, seed, path, endOnFailure: false, verbose: 1, includeErrorInReport: true };
}

describe('bidi model (local peer)', () => {
  let work: string;
  before(async () => {
    work = await tempDir('ssh-sync-model-');
  });
  after(async () => {
    if (work) await removeDir(work);
  });

  test(`random operation sequences keep every version and converge (${LOCAL_RUNS} sequences)`, { timeout: 30 * 60_000 }, async () => {
    let n = 0;
    const started = Date.now();
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(opsArbitrary(30), async (ops) => {
        const dir = nodePath.join(work, `seq-${++n}`);
        const roots = { local: nodePath.join(dir, 'local'), remote: nodePath.join(dir, 'remote') };
        await fs.mkdir(roots.local, { recursive: true });
        await fs.mkdir(roots.remote, { recursive: true });
        try {
          const world = new World({
            roots,
            stateDir: nodePath.join(dir, 'state'),
            peer: roots.remote,
            replicas: { local: new LocalReplica(roots.local), remote: new LocalReplica(roots.remote) },
          });
          for (const op of ops) await world.apply(op);
          await world.finish();
          runs += world.runs;
        } finally {
          await removeDir(dir);
        }
      }),
      params(LOCAL_RUNS, 'local'),
    );
    console.log(`[model local] ${LOCAL_RUNS} sequences, ${runs} checked runs, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
});

describe('bidi model (ssh peer, real sshd)', { skip: !sshdAvailable() && 'OpenSSH server not installed' }, () => {
  let sshd: SshdFixture;
  let work: string;
  before(async () => {
    sshd = await startSshd();
    work = await tempDir('ssh-sync-model-ssh-');
  });
  after(async () => {
    await sshd?.stop();
    if (work) await removeDir(work);
  });

  test(`random operation sequences over ssh (${SSH_RUNS} sequences)`, { timeout: 30 * 60_000 }, async () => {
    const options = { sshConfigFile: null, knownHostsFile: sshd.writeKnownHosts(), identityFiles: [sshd.clientKey.privateKey], agent: false } as const;
    let n = 0;
    const started = Date.now();
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(opsArbitrary(25), async (ops) => {
        const dir = nodePath.join(work, `seq-${++n}`);
        const roots = { local: nodePath.join(dir, 'local'), remote: nodePath.join(dir, 'remote') };
        await fs.mkdir(roots.local, { recursive: true });
        await fs.mkdir(roots.remote, { recursive: true });
        const peer = `root@127.0.0.1:${sshd.port}:${roots.remote}`;
        const remote = await openSshReplica(peer, options);
        try {
          const world = new World({ roots, stateDir: nodePath.join(dir, 'state'), peer, replicas: { local: new LocalReplica(roots.local), remote } });
          for (const op of ops) await world.apply(op);
          await world.finish();
          runs += world.runs;
        } finally {
          await remote.close();
          await removeDir(dir);
        }
      }),
      params(SSH_RUNS, 'ssh'),
    );
    console.log(`[model ssh] ${SSH_RUNS} sequences, ${runs} checked runs, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
});

