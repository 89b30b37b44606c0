import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, type CliOptions } from '../helpers/cli';
import { LiveSync } from '../helpers/live';
import { folderPairs } from '../helpers/pair';
import { ensureTestUser, startSshd, sshdAvailable, TEST_USER, writeClientConfig, type SshdFixture } from '../helpers/sshd';
import { readTree, removeDir, tempDir, tempFilesUnder, waitFor, writeTree } from '../helpers/tmp';

/**
 * End to end over a real OpenSSH server: the CLI as users run it, against a private sshd on loopback.
 */
describe('sync over ssh', { skip: !sshdAvailable() && 'OpenSSH server not installed (.ci/run installs it)' }, () => {
  let sshd: SshdFixture;
  let sftpOnly: SshdFixture;
  let work: string;
  let knownHosts: string;
  let sshConfig: string;

  before(async () => {
    [sshd, sftpOnly] = await Promise.all([startSshd(), startSshd({ sftpOnly: true })]);
    work = await tempDir('ssh-sync-e2e-');
    // The tests that cut connections log in as the non-root test user, who must reach its folders.
    await fs.chmod(work, 0o755);
    knownHosts = sshd.writeKnownHosts({ file: path.join(work, 'known_hosts'), extraLines: [sftpOnly.knownHostsLine()] });
    sshConfig = writeClientConfig(work, [
      { alias: 'devbox', lines: ['HostName 127.0.0.1', `Port ${sshd.port}`, 'User root', `IdentityFile ${sshd.clientKey.privateKey}`, 'IdentitiesOnly yes'] },
    ]);
  });
  after(async () => {
    await Promise.all([sshd?.stop(), sftpOnly?.stop()]);
    if (work) await removeDir(work);
  });

  /** A fresh local folder and remote folder; `remote` is a path on this machine served by sshd. */
  const pair = folderPairs(() => work);
  /**
   * For the tests that cut connections: the remote folder belongs to the non-root test user, who logs
   * in. Killing root's sessions could stop a root shell half-way through its start-up files (root's
   * `.bashrc` runs `pyenv init` here, whose lock then stalled every later root login for 60 s).
   */
  const cutPair = folderPairs(() => path.join(work, 'cut'), { owner: TEST_USER });
  const cutSkip = process.getuid?.() !== 0 && `needs root to set up the non-root test user ${TEST_USER}`;
  const sshArgs = (fixture = sshd) => ['--identity', fixture.clientKey.privateKey, '--known-hosts', knownHosts, '--ssh-config', sshConfig];
  const sync = (local: string, peer: string, state: string, extra: string[], options?: CliOptions) =>
    runCli(['sync', local, peer, '--state-dir', state, ...extra], options);

  for (const direction of ['push', 'pull', 'bidi'] as const) {
    test(`${direction}: creates, updates, deletes and type changes reach the other side`, async () => {
      const p = await pair();
      const [src, dst] = direction === 'pull' ? [p.remote, p.local] : [p.local, p.remote];
      await writeTree(src, { 'a.txt': 'a', 'dir/b.txt': 'b', 'dir/deep/c.txt': 'c', 'gone.txt': 'g', 'link': { link: 'a.txt' }, 'p': 'file' });
      const peer = `root@127.0.0.1:${sshd.port}:${p.remote}`;
      let r = await sync(p.local, peer, p.state, ['--direction', direction, ...sshArgs()]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(await readTree(dst), await readTree(src));

      await writeTree(src, { 'a.txt': 'a2', 'new/n.txt': 'n' });
      await fs.rm(path.join(src, 'gone.txt'));
      await fs.rm(path.join(src, 'p'));
      await writeTree(src, { 'p/inside.txt': 'now a directory' });
      r = await sync(p.local, peer, p.state, ['--direction', direction, ...sshArgs()]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual(await readTree(dst), await readTree(src));
      assert.equal((await readTree(dst))['gone.txt'], undefined);
      assert.deepEqual(await tempFilesUnder(p.remote), []);
    });
  }

  test('bidi conflict over ssh leaves both versions untouched', async () => {
    const p = await pair();
    await writeTree(p.local, { 'f.txt': 'base' });
    const peer = `root@127.0.0.1:${sshd.port}:${p.remote}`;
    assert.equal((await sync(p.local, peer, p.state, sshArgs())).code, 0);
    await writeTree(p.local, { 'f.txt': 'local edit' });
    await writeTree(p.remote, { 'f.txt': 'remote edit!' });
    const r = await sync(p.local, peer, p.state, sshArgs());
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.equal(await fs.readFile(path.join(p.local, 'f.txt'), 'utf8'), 'local edit');
    assert.equal(await fs.readFile(path.join(p.remote, 'f.txt'), 'utf8'), 'remote edit!');
  });

  test('every address form works: user@host:port:/path, ssh://user@host:port/path, and a ~/.ssh/config alias', async () => {
    for (const form of ['scp', 'url', 'alias'] as const) {
      const p = await pair();
      await writeTree(p.local, { [`${form}.txt`]: form });
      const peer = form === 'scp' ? `root@127.0.0.1:${sshd.port}:${p.remote}` : form === 'url' ? `ssh://root@127.0.0.1:${sshd.port}${p.remote}` : `devbox:${p.remote}`;
      const r = await sync(p.local, peer, p.state, ['--direction', 'push', '--known-hosts', knownHosts, '--ssh-config', sshConfig, ...(form === 'alias' ? [] : ['--identity', sshd.clientKey.privateKey])]);
      assert.equal(r.code, 0, `${form}: ${r.stdout}${r.stderr}`);
      assert.equal(await fs.readFile(path.join(p.remote, `${form}.txt`), 'utf8'), form);
    }
  });

  test('an SFTP-only server (no commands) still syncs both ways, hashing on the client', async () => {
    const p = await pair();
    await writeTree(p.local, { 'l.txt': 'local', 'same.txt': 'same' });
    await writeTree(p.remote, { 'r.txt': 'remote', 'same.txt': 'same' });
    const peer = `root@127.0.0.1:${sftpOnly.port}:${p.remote}`;
    const r = await sync(p.local, peer, p.state, [...sshArgs(sftpOnly), '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(summary.copied, 2);
    assert.equal(summary.adopted, 1);
    assert.deepEqual(await readTree(p.local), await readTree(p.remote));
  });

  test('an unknown host key is refused with its SHA256 fingerprint; --accept-new-host-key records it', async () => {
    const p = await pair();
    await writeTree(p.local, { 'x.txt': 'x' });
    const emptyKnownHosts = path.join(p.dir, 'known_hosts');
    const peer = `root@127.0.0.1:${sshd.port}:${p.remote}`;
    const args = ['--identity', sshd.clientKey.privateKey, '--known-hosts', emptyKnownHosts, '--ssh-config', sshConfig];
    let r = await sync(p.local, peer, p.state, args);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SHA256:[A-Za-z0-9+/]{43}/);
    assert.deepEqual(await readTree(p.remote), {});
    r = await sync(p.local, peer, p.state, [...args, '--accept-new-host-key']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(await fs.readFile(emptyKnownHosts, 'utf8'), new RegExp(`\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `));
    r = await sync(p.local, peer, p.state, args);
    assert.equal(r.code, 0, r.stderr);
  });

  test('a changed host key is refused even with --accept-new-host-key, naming the known_hosts line', async () => {
    const p = await pair();
    await writeTree(p.local, { 'x.txt': 'x' });
    const wrong = path.join(p.dir, 'known_hosts');
    await fs.writeFile(wrong, `# comment\n${sftpOnly.hostKeyLine.replace(/^/, `[127.0.0.1]:${sshd.port} `)}\n`);
    const r = await sync(p.local, `root@127.0.0.1:${sshd.port}:${p.remote}`, p.state, ['--identity', sshd.clientKey.privateKey, '--known-hosts', wrong, '--ssh-config', sshConfig, '--accept-new-host-key']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /line 2/);
    assert.deepEqual(await readTree(p.remote), {});
  });

  test('a connection cut mid-transfer fails the run without partial files; the rerun converges', { skip: cutSkip }, async () => {
    assert.ok(ensureTestUser(), `cannot create the test user ${TEST_USER}`);
    const p = await cutPair();
    const chunk = randomBytes(8 << 20);
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 6; i++) files[`big/${i}.bin`] = Buffer.concat([Buffer.from(`${i}`), chunk]);
    await writeTree(p.local, files);
    const peer = `${TEST_USER}@127.0.0.1:${sshd.port}:${p.remote}`;
    let cut = 0;
    const r = await sync(p.local, peer, p.state, ['--direction', 'push', ...sshArgs()], {
      onSpawn: () => {
        void waitFor(async () => (await tempFilesUnder(p.remote).catch(() => [])).length > 0, 30_000, 'a transfer to start').then(() => {
          cut = sshd.killSessionsOf(TEST_USER);
        });
      },
    });
    assert.ok(cut > 0, `no session was cut (run output: ${r.stdout}${r.stderr})`);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /connection was lost|ConnectionLost|connection/i);
    assert.doesNotMatch(r.stderr, /stopped before it finished/);
    for (const [name, data] of Object.entries(files)) {
      const there = await fs.readFile(path.join(p.remote, name)).catch(() => undefined);
      if (there) assert.ok(there.equals(data), `${name} is partial`);
    }
    const again = await sync(p.local, peer, p.state, ['--direction', 'push', ...sshArgs()]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    for (const [name, data] of Object.entries(files)) assert.ok((await fs.readFile(path.join(p.remote, name))).equals(data));
    assert.deepEqual(await tempFilesUnder(p.remote), []);
  });

  test('a copy of content the server already has is made there, and a renamed directory is one mv', async () => {
    const p = await pair();
    const big = randomBytes(200_000);
    await writeTree(p.local, { 'lib/a.bin': big, 'lib/b.txt': 'b', 'lib/c.txt': 'c' });
    const peer = `root@127.0.0.1:${sshd.port}:${p.remote}`;
    assert.equal((await sync(p.local, peer, p.state, ['--direction', 'push', ...sshArgs()])).code, 0);
    await fs.copyFile(path.join(p.local, 'lib/a.bin'), path.join(p.local, 'copy.bin'));
    await fs.rename(path.join(p.local, 'lib'), path.join(p.local, 'src'));
    const r = await sync(p.local, peer, p.state, ['--direction', 'push', '--json', ...sshArgs()]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const ops = events.filter((e) => e.type === 'action').map((e) => `${e.op} ${e.from ?? ''} ${e.path}`.replace(/ +/g, ' ')).sort();
    // The copy is made after the rename, from where the content then is.
    assert.deepEqual(ops, ['cp src/a.bin copy.bin', 'mv lib src']);
    assert.equal(events.at(-1).bytes, 0);
    assert.equal(events.at(-1).tier.remote, 'helper');
    assert.deepEqual(await readTree(p.remote), await readTree(p.local));
  });

  test('continuous bidi over ssh: local and remote changes, a directory rename and a conflict, then Ctrl-C', async () => {
    const p = await pair();
    await writeTree(p.local, { 'keep.txt': 'k', 'dir/x.txt': 'x' });
    const peer = `root@127.0.0.1:${sshd.port}:${p.remote}`;
    const live = await LiveSync.start(['watch', p.local, peer, '--state-dir', p.state, ...sshArgs()]);
    try {
      assert.match(live.stdout, /remote: events/);
      const converge = (what: string) => waitFor(async () => JSON.stringify(await readTree(p.local)) === JSON.stringify(await readTree(p.remote)), 15_000, what);
      await converge('the initial sync');
      await writeTree(p.local, { 'from-local.txt': 'L' });
      await converge('a local create');
      await writeTree(p.remote, { 'from-remote.txt': 'R' });
      await converge('a remote create');
      await fs.rename(path.join(p.local, 'dir'), path.join(p.local, 'dir2'));
      await converge('a directory rename');
      await fs.rm(path.join(p.remote, 'keep.txt'));
      await converge('a remote delete');
      await Promise.all([writeTree(p.local, { 'from-local.txt': 'L edit' }), writeTree(p.remote, { 'from-local.txt': 'R edit!' })]);
      await waitFor(() => /CONFLICT \S+ +from-local\.txt/.test(live.stdout), 15_000, 'the conflict');
      assert.equal(await fs.readFile(path.join(p.local, 'from-local.txt'), 'utf8'), 'L edit');
      assert.equal(await fs.readFile(path.join(p.remote, 'from-local.txt'), 'utf8'), 'R edit!');
    } finally {
      assert.equal(await live.stop(), 0);
    }
  });

  for (const tier of ['helper', 'sftp'] as const) test(`bidi (${tier} tier), first run into a remote folder that does not exist yet: it is created; the next runs list it early`, async () => {
    const p = await pair();
    await writeTree(p.local, { 'a.txt': 'a', 'd/b.txt': 'b' });
    const fresh = path.join(p.remote, 'new', 'deeper');
    const server = tier === 'sftp' ? sftpOnly : sshd;
    const peer = `root@127.0.0.1:${server.port}:${fresh}`;
    let r = await sync(p.local, peer, p.state, ['--direction', 'bidi', ...sshArgs(server)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await readTree(fresh), await readTree(p.local));
    assert.equal((await readTree(fresh))['d/b.txt'], 'b');
    // With a snapshot the peer's listing starts while it loads: a change made there arrives.
    await writeTree(fresh, { 'c.txt': 'from the peer' });
    r = await sync(p.local, peer, p.state, ['--direction', 'bidi', ...sshArgs(server)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((await readTree(p.local))['c.txt'], 'from the peer');
  });

  test('a push with nothing to do does not even connect; a change does', async () => {
    const own = await startSshd();
    try {
      const p = await pair();
      await writeTree(p.local, { 'a.txt': 'a', 'd/b.txt': 'b' });
      const kh = own.writeKnownHosts({ file: path.join(p.dir, 'kh') });
      const args = ['--direction', 'push', '--identity', own.clientKey.privateKey, '--known-hosts', kh, '--ssh-config', sshConfig];
      const peer = `root@127.0.0.1:${own.port}:${p.remote}`;
      assert.equal((await sync(p.local, peer, p.state, args)).code, 0);
      await own.stop();
      // The server is gone: a run with nothing to do still succeeds, because it never connects (not
      // even tries: the ssh layer's debug output would say so).
      const idle = await sync(p.local, peer, p.state, args, { env: { SSH_SYNC_DEBUG: '1' } });
      assert.equal(idle.code, 0, idle.stdout + idle.stderr);
      assert.match(idle.stdout, /in sync: 0 copied/);
      assert.doesNotMatch(idle.stderr, /Trying|connect/i, idle.stderr);
      await writeTree(p.local, { 'a.txt': 'changed' });
      const busy = await sync(p.local, peer, p.state, args);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /ECONNREFUSED|connect/i);
    } finally {
      await own.stop();
    }
  });

  test('continuous mode reconnects after the connection is cut, and syncs what changed meanwhile', { skip: cutSkip }, async () => {
    assert.ok(ensureTestUser(), `cannot create the test user ${TEST_USER}`);
    const p = await cutPair();
    await writeTree(p.local, { 'before.txt': 'b' });
    const peer = `${TEST_USER}@127.0.0.1:${sshd.port}:${p.remote}`;
    const live = await LiveSync.start(['watch', p.local, peer, '--direction', 'push', '--state-dir', p.state, ...sshArgs()]);
    try {
      await waitFor(async () => (await readTree(p.remote))['before.txt'] === 'b', 15_000, 'the initial sync');
      assert.ok(sshd.killSessionsOf(TEST_USER) > 0, 'no ssh session to cut');
      await writeTree(p.local, { 'after.txt': 'written while the connection was down' });
      await waitFor(async () => (await readTree(p.remote))['after.txt'] === 'written while the connection was down', 30_000, 'the change after reconnecting');
      assert.match(live.stdout + live.stderr, /connection/i);
    } finally {
      assert.equal(await live.stop(), 0);
    }
  });
});
