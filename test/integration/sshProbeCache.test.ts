import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, promises as fs, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openSshReplica, type SshReplica } from '../../src/replica/ssh';
import { chooseHelper } from '../../src/replica/ssh/helperChoice';
import { HELPER_FILE, HELPER_SCRIPT } from '../../src/replica/ssh/helperScript';
import { ProbeCache } from '../../src/replica/ssh/probeCache';
import type { Sftp } from '../../src/replica/ssh/sftpClient';
import { runCli } from '../helpers/cli';
import { FakeSpawn } from '../helpers/fakeSpawn';
import { folderPairs } from '../helpers/pair';
import { ensureTestUser, homeOf, sshdAvailable, startSshd, TEST_USER_2, type SshdFixture } from '../helpers/sshd';
import { readTree, removeDir, tempDir, waitFor, writeTree } from '../helpers/tmp';

/** Every test here logs in as its own user: it deletes and replaces the helper in that user's home. */
const TEST_USER = TEST_USER_2;

/**
 * The probe's verdict is remembered per server in the state dir, so that a connected run starts the
 * helper's command at once: one exec (one login shell on the server) instead of a probe and then the
 * command. A stale memory (helper deleted, node gone) costs a fresh probe, never a wrong result.
 *
 * The runs are the CLI's, as a non-root user whose PATH (set by this sshd) is a folder holding `node`
 * and `find`: node "goes away" by removing its link there. Exec sessions are counted in sshd's log.
 */
const skip = !sshdAvailable() ? 'OpenSSH server not installed' : process.getuid?.() !== 0 ? `needs root to set up the non-root test user ${TEST_USER}` : false;

describe('SSH: the helper probe is remembered between runs', { skip }, () => {
  let sshd: SshdFixture;
  let work: string;
  let bin: string;
  let knownHosts: string;
  let helperFile: string;

  before(async () => {
    if (!ensureTestUser(TEST_USER)) throw new Error(`cannot create the test user ${TEST_USER}`);
    work = await tempDir('ssh-sync-probe-cache-');
    chmodSync(work, 0o755);
    bin = path.join(work, 'bin');
    await fs.mkdir(bin, { mode: 0o755 });
    symlinkSync(process.execPath, path.join(bin, 'node'));
    for (const tool of ['find', 'cp', 'sha256sum']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), path.join(bin, tool));
    sshd = await startSshd({ extraConfig: [`SetEnv PATH=${bin}`] });
    knownHosts = sshd.writeKnownHosts({ file: path.join(work, 'known_hosts') });
    helperFile = path.join(homeOf(TEST_USER), '.cache/ssh-sync', HELPER_FILE);
  });
  after(async () => {
    await sshd?.stop();
    if (work) await removeDir(work);
  });

  const folders = folderPairs(() => work, { owner: TEST_USER });
  const pair = async () => {
    const p = await folders();
    return { ...p, peer: `${TEST_USER}@127.0.0.1:${sshd.port}:${p.remote}` };
  };

  /**
   * Runs the CLI and counts the commands (exec sessions) its connection started on the server, and
   * among them the node probes (in its debug output, which names each command it sends).
   */
  const sync = async (p: { local: string; peer: string; state: string }, ...extra: string[]) => {
    const mark = sshd.log().length;
    const r = await runCli(['sync', p.local, p.peer, '--state-dir', p.state, '--identity', sshd.clientKey.privateKey, '--known-hosts', knownHosts, '--ssh-config', '/dev/null', '--json', ...extra], { env: { SSH_SYNC_DEBUG: '1' } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // The connection's last line: every session it started was logged before it.
    await waitFor(() => sshd.log().slice(mark).includes(`Disconnected from user ${TEST_USER}`), 10_000, 'sshd to log the disconnect');
    const execs = sshd.log().slice(mark).split('\n').filter((l) => l.startsWith(`Starting session: command for ${TEST_USER} `)).length;
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { copied: number; tier: { remote: string } };
    const probes = r.stderr.split('\n').filter((l) => l.includes('exec: node --version)')).length;
    return { execs, probes, summary };
  };
  const remembered = (state: string) => ProbeCache.for(state, { host: '127.0.0.1', port: sshd.port, user: TEST_USER, hostKey: sshd.hostKeyBlob }).read();

  test('a push with a change runs one command on the server once the probe is remembered', async () => {
    rmSync(helperFile, { force: true });
    const p = await pair();
    await writeTree(p.local, { 'a.txt': 'a', 'dir/b.txt': 'b' });
    const first = await sync(p, '--direction', 'push');
    assert.equal(first.probes, 1, 'a first run to a server without the helper probes');
    assert.deepEqual(await remembered(p.state), { kind: 'node', script: helperFile });

    await writeTree(p.local, { 'a.txt': 'a changed' });
    const second = await sync(p, '--direction', 'push');
    assert.equal(second.execs, 1, 'the helper is started at once: no probe');
    assert.equal(second.probes, 0);
    assert.equal(second.summary.copied, 1);
    assert.equal(second.summary.tier.remote, 'helper');
    assert.deepEqual(await readTree(p.remote), await readTree(p.local));

    // A new state dir (another machine, a wiped cache) with the helper already on the server: no probe
    // either (this run has no snapshot, so it lists and hashes the target too).
    await writeTree(p.local, { 'c.txt': 'c' });
    const fresh = await sync({ ...p, state: path.join(p.state, '..', 'state-2') }, '--direction', 'push');
    assert.equal(fresh.probes, 0, 'an installed helper is trusted (by hash) without a probe');
    assert.deepEqual(await readTree(p.remote), await readTree(p.local));
  });

  test('a bidi run with a remembered helper starts no probe', async () => {
    rmSync(helperFile, { force: true });
    const p = await pair();
    await writeTree(p.local, { 'a.txt': 'a' });
    assert.equal((await sync(p)).probes, 1);
    await writeTree(p.local, { 'a.txt': 'a again' });
    await writeTree(p.remote, { 'r.txt': 'from the server' });
    execFileSync('chown', ['-R', `${TEST_USER}:${TEST_USER}`, p.remote]);
    const second = await sync(p);
    assert.equal(second.probes, 0);
    assert.deepEqual(await readTree(p.remote), await readTree(p.local));
    assert.equal((await readTree(p.local))['r.txt'], 'from the server');
  });

  test('the remembered helper deleted on the server: the run probes again, reinstalls it and syncs', async () => {
    const p = await pair();
    await writeTree(p.local, { 'a.txt': 'a' });
    await sync(p, '--direction', 'push');
    rmSync(helperFile);
    await writeTree(p.local, { 'a.txt': 'a2', 'new.txt': 'n' });
    const stale = await sync(p, '--direction', 'push');
    assert.equal(stale.execs, 2, 'one more command than a remembered run: the probe');
    assert.equal(stale.probes, 1);
    assert.equal(stale.summary.tier.remote, 'helper');
    assert.equal(readFileSync(helperFile, 'utf8'), HELPER_SCRIPT, 'reinstalled');
    assert.deepEqual(await readTree(p.remote), await readTree(p.local));
    await writeTree(p.local, { 'a.txt': 'a3' });
    assert.equal((await sync(p, '--direction', 'push')).execs, 1, 'remembered again');
    assert.deepEqual(await readTree(p.remote), await readTree(p.local));
  });

  test('node gone since the last run: the run falls to the next tier, writes every file, and remembers to probe', async () => {
    const p = await pair();
    await writeTree(p.local, { 'a.txt': 'a', 'big.bin': Buffer.alloc(3 << 20, 5) });
    await sync(p, '--direction', 'push');
    assert.equal((await remembered(p.state))?.kind, 'node');
    unlinkSync(path.join(bin, 'node'));
    try {
      assert.ok(existsSync(helperFile), 'the helper itself is still there');
      await writeTree(p.local, { 'a.txt': 'a2', 'b.txt': 'b', 'big.bin': Buffer.alloc(3 << 20, 6) });
      const stale = await sync(p, '--direction', 'push');
      assert.equal(stale.summary.copied, 3, 'no write is lost to the helper that did not start');
      assert.equal(stale.summary.tier.remote, 'helper', 'GNU find still lists');
      assert.deepEqual(await readTree(p.remote), await readTree(p.local));
      assert.deepEqual(await remembered(p.state), { kind: 'probe' });

      await writeTree(p.local, { 'a.txt': 'a3' });
      const next = await sync(p, '--direction', 'push');
      assert.equal(next.execs, 2, 'probed as before: node --version, then find');
      assert.equal(next.probes, 1);
      assert.deepEqual(await readTree(p.remote), await readTree(p.local));
    } finally {
      symlinkSync(process.execPath, path.join(bin, 'node'));
    }
    // node back: found by the probe and remembered again.
    await writeTree(p.local, { 'a.txt': 'a4' });
    await sync(p, '--direction', 'push');
    assert.equal((await remembered(p.state))?.kind, 'node');
  });

  test('a host whose node is older than 14, sharing a home where the helper is installed: the helper refuses, the run falls to find', async () => {
    const p = await pair();
    await writeTree(p.local, { 'a.txt': 'a' });
    await sync(p, '--direction', 'push');
    assert.ok(existsSync(helperFile), 'installed by a host with a new node');
    // Another host of the same home: its `node --version` says 12, and so does process.versions there.
    const oldNode = path.join(work, 'old-node.js');
    writeFileSync(oldNode, "Object.defineProperty(process.versions, 'node', { value: '12.22.12' });\n", { mode: 0o644 });
    const node = path.join(bin, 'node');
    unlinkSync(node);
    writeFileSync(node, `#!/bin/sh\nif [ "$1" = --version ]; then echo v12.22.12; exit 0; fi\nexec ${process.execPath} -r ${oldNode} "$@"\n`, { mode: 0o755 });
    try {
      await writeTree(p.local, { 'a.txt': 'a2', 'b.txt': 'b' });
      // Nothing remembered in this state dir: the helper found installed is run on trust.
      const fresh = { ...p, state: path.join(p.dir, 'state-old-node') };
      const run = await sync(fresh, '--direction', 'push');
      assert.equal(run.probes, 1, 'the helper did not start: probed');
      assert.equal(run.summary.tier.remote, 'helper', 'GNU find lists');
      assert.deepEqual(await remembered(fresh.state), { kind: 'probe' }, 'node too old is remembered: the next run probes');
      assert.deepEqual(await readTree(p.remote), await readTree(p.local));
    } finally {
      unlinkSync(node);
      symlinkSync(process.execPath, node);
    }
  });

  describe('the helper\'s place is looked at once per choice, and a missing helper does not hold up the probe', () => {
    let replica: SshReplica;
    before(async () => {
      const p = await pair();
      replica = await openSshReplica(p.peer, { tier: 'sftp', sshConfigFile: null, knownHostsFile: knownHosts, identityFiles: [sshd.clientKey.privateKey], agent: false });
    });
    after(async () => {
      await replica?.close();
    });

    /** Chooses with a fresh state dir (nothing remembered) and a server that answers `node --version` at once; counts reads of the helper. */
    const choose = async () => {
      const events: string[] = [];
      const sftp = new Proxy(replica.sftp, {
        get(target, key) {
          if (key === 'download') {
            return (file: string) => {
              if (file === helperFile) events.push('read helper');
              return target.download(file);
            };
          }
          const value = Reflect.get(target, key, target) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      }) as Sftp;
      const fake = new FakeSpawn();
      fake.onStart = (proc) => {
        events.push(`exec ${proc.command}`);
        proc.end(0, { stdout: 'v20.0.0\n' });
      };
      const state = await tempDir('ssh-sync-probe-once-');
      try {
        const cache = ProbeCache.for(state, { host: '127.0.0.1', port: sshd.port, user: TEST_USER });
        const chosen = await chooseHelper(fake.spawn, Promise.resolve(sftp), { want: 'auto', insist: false, label: 'test', cache });
        assert.deepEqual(typeof chosen === 'string' ? chosen : chosen.runtime, { kind: 'node', script: helperFile });
        return events;
      } finally {
        await removeDir(state);
      }
    };

    test('no helper installed: the probe starts before anything is read, and only the upload is read back', async () => {
      rmSync(helperFile, { force: true });
      assert.deepEqual(await choose(), ['exec node --version', 'read helper']);
      assert.equal(readFileSync(helperFile, 'utf8'), HELPER_SCRIPT);
    });

    test('a stale helper installed: it is read once before the probe, and the new one once after the upload', async () => {
      writeFileSync(helperFile, '// an older build\n');
      const { uid, gid } = await fs.stat(path.dirname(helperFile));
      chownSync(helperFile, uid, gid);
      assert.deepEqual(await choose(), ['read helper', 'exec node --version', 'read helper']);
      assert.equal(readFileSync(helperFile, 'utf8'), HELPER_SCRIPT);
    });
  });
});
