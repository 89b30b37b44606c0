import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SyncError } from '../../src/errors';
import { openSshReplica, SshReplica, type SshReplicaOpenOptions } from '../../src/replica/ssh';
import type { HelperCheck, Recheck } from '../../src/replica/ssh/helperChoice';
import { HELPER_EXIT_OLD_NODE } from '../../src/replica/ssh/helperScript';
import { FakeSpawn, type FakeProcess } from '../helpers/fakeSpawn';
import { sshdAvailable, startSshd, type SshdFixture } from '../helpers/sshd';
import { waitFor } from '../helpers/tmp';

/**
 * How a helper taken on trust (remembered, not probed) starts, on a server whose commands are played
 * by the test (FakeSpawn): the commands' timing and exits are the test's to choose. Files written over
 * SFTP land on a real sshd's folder, so a write that falls back is seen where it lands.
 */
const skip = sshdAvailable() ? false : 'OpenSSH server (/usr/sbin/sshd) is not installed';
const SCRIPT = '/nowhere/helper.js';
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** A HelperCheck whose probe answers when the test says (`answer`), recording what it was asked. */
class ScriptedCheck implements HelperCheck {
  readonly rechecks: string[] = [];
  proofs = 0;
  private settle!: (r: Recheck) => void;
  private readonly answer = new Promise<Recheck>((resolve) => (this.settle = resolve));
  proven(): void {
    this.proofs++;
  }
  recheck(why: string): Promise<Recheck> {
    this.rechecks.push(why);
    return this.answer;
  }
  /** What the probe finds. */
  answers(r: Recheck): void {
    this.settle(r);
  }
}

describe('SSH: a helper taken on trust, starting', { skip }, () => {
  let sshd: SshdFixture;
  let base: string;
  let options: SshReplicaOpenOptions;
  let plain: SshReplica;
  let n = 0;

  before(async () => {
    sshd = await startSshd();
    base = mkdtempSync(nodePath.join(os.tmpdir(), 'ssh-sync-helper-start-'));
    options = { sshConfigFile: null, knownHostsFile: sshd.writeKnownHosts(), identityFiles: [sshd.clientKey.privateKey], agent: false };
    plain = await openSshReplica(`root@127.0.0.1:${sshd.port}:${base}`, { ...options, tier: 'sftp' });
  });
  after(async () => {
    await plain?.close();
    await sshd?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  /** A replica of a fresh folder over the real SFTP connection, with the node helper on trust and commands from `fake`. */
  const trusting = async (fake: FakeSpawn, check: HelperCheck, helperStartTimeoutMs?: number, helperStartLimitMs?: number) => {
    const root = nodePath.join(base, `case-${++n}`);
    const log: string[] = [];
    const debug = (m: string) => void log.push(m);
    const dir = new SshReplica(plain.sftp, root, `test:${root}`, { spawn: fake.spawn, helper: { kind: 'node', script: SCRIPT }, helperCheck: check, helperStartTimeoutMs, helperStartLimitMs, debug });
    await dir.createRoot();
    return { dir, root, log };
  };
  const receives = (fake: FakeSpawn) => fake.started.filter((p) => p.command.endsWith(' receive'));

  test('a connection lost before the write stream says it runs: the write fails as ConnectionLost, no probe; the next write starts a new stream', async () => {
    const fake = new FakeSpawn();
    fake.onStart = (proc) => proc.end(null);
    const check = new ScriptedCheck();
    const { dir } = await trusting(fake, check);
    await assert.rejects(dir.writeFile('a.txt', Buffer.from('a'), {}, undefined), (err: SyncError) => err.code === 'ConnectionLost');
    assert.deepEqual(check.rechecks, [], 'a lost connection says nothing about the helper');
    assert.equal(dir.helperKind, 'node');

    const next = (proc: FakeProcess) => proc.actAsReceiver({ readyNow: true });
    let receiver: ReturnType<FakeProcess['actAsReceiver']> | undefined;
    fake.onStart = (proc) => (receiver = next(proc));
    const written = await dir.writeFile('a.txt', Buffer.from('a'), {}, undefined);
    assert.equal(receives(fake).length, 2);
    assert.equal(receiver!.received.get('a.txt')?.toString(), 'a');
    assert.equal(written.hash, sha256('a'));
    assert.equal(check.proofs, 1);
  });

  test('a slow write stream is not given up: the server is asked alongside, and the stream takes the file once it is ready', async () => {
    const fake = new FakeSpawn();
    let receiver: ReturnType<FakeProcess['actAsReceiver']> | undefined;
    fake.onStart = (proc) => (receiver = proc.actAsReceiver());
    const check = new ScriptedCheck();
    const { dir } = await trusting(fake, check, 50);
    const writing = dir.writeFile('slow.txt', Buffer.from('slow'), {}, undefined);
    await waitFor(() => check.rechecks.length === 1, 10_000, 'the probe alongside');
    check.answers({ runtime: { kind: 'node', script: SCRIPT }, clear: true });
    // Node is there: the stream is left to start, however long it takes.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(receives(fake)[0].killed, false);
    receiver!.ready();
    const written = await writing;
    assert.equal(receiver!.received.get('slow.txt')?.toString(), 'slow');
    assert.equal(written.hash, sha256('slow'));
    assert.equal(receives(fake).length, 1, 'one stream: not restarted');
    assert.equal(receives(fake)[0].killed, false);
    assert.equal(dir.helperKind, 'node');
  });

  test('a write stream that never says it runs is given up at the limit (node is there, but it is stuck); the file goes over SFTP', async () => {
    const fake = new FakeSpawn();
    fake.onStart = (proc) => proc.actAsReceiver(); // never ready
    const check = new ScriptedCheck();
    check.answers({ runtime: { kind: 'node', script: SCRIPT }, clear: true });
    const { dir, root, log } = await trusting(fake, check, 50, 400);
    assert.equal(dir.hashesWrites, true, 'the caller is told writes come back hashed');
    const written = await dir.writeFile('stuck.txt', Buffer.from('over sftp after all'), {}, undefined);
    assert.equal(check.rechecks.length, 1, 'asked alongside once');
    assert.equal(readFileSync(nodePath.join(root, 'stuck.txt'), 'utf8'), 'over sftp after all');
    assert.equal(written.hash, sha256('over sftp after all'));
    assert.equal(receives(fake).length, 1);
    assert.equal(receives(fake)[0].killed, true, 'the stuck stream is stopped');
    assert.ok(log.some((m) => /did not say it runs within 0\.4 s; writes go over SFTP/.test(m)), log.join('\n'));
    // Later writes go over SFTP at once: no second stream.
    await dir.writeFile('next.txt', Buffer.from('next'), {}, undefined);
    assert.equal(receives(fake).length, 1);
    assert.equal(readFileSync(nodePath.join(root, 'next.txt'), 'utf8'), 'next');
  });

  test('closing the side while a slow write stream is waited for ends the wait: the write fails, close returns', async () => {
    const own = await openSshReplica(`root@127.0.0.1:${sshd.port}:${base}`, { ...options, tier: 'sftp' });
    const fake = new FakeSpawn();
    fake.onStart = (proc) => proc.actAsReceiver();
    const check = new ScriptedCheck();
    check.answers({ runtime: { kind: 'node', script: SCRIPT }, clear: true });
    const dir = new SshReplica(own.sftp, base, 'test', { spawn: fake.spawn, helper: { kind: 'node', script: SCRIPT }, helperCheck: check, helperStartTimeoutMs: 50, onClose: () => own.close() });
    const writing = dir.writeFile('never.txt', Buffer.from('x'), {}, undefined);
    writing.catch(() => undefined);
    await waitFor(() => check.rechecks.length === 1, 10_000, 'the probe alongside');
    await dir.close();
    await assert.rejects(writing, (err: SyncError) => err.code === 'ConnectionLost');
    assert.equal(receives(fake)[0].killed, true);
  });

  test('a slow write stream of a helper the probe finds gone is given up; the file goes over SFTP, with its hash', async () => {
    const fake = new FakeSpawn();
    fake.onStart = (proc) => proc.actAsReceiver();
    const check = new ScriptedCheck();
    const { dir, root } = await trusting(fake, check, 50);
    assert.equal(dir.hashesWrites, true, 'the caller is told writes come back hashed');
    const writing = dir.writeFile('gone.txt', Buffer.from('over sftp'), {}, undefined);
    await waitFor(() => check.rechecks.length === 1, 10_000, 'the probe alongside');
    check.answers({ runtime: undefined, clear: true });
    const written = await writing;
    assert.equal(readFileSync(nodePath.join(root, 'gone.txt'), 'utf8'), 'over sftp');
    assert.equal(written.hash, sha256('over sftp'), 'hashed as it was sent: the caller did not hash it');
    assert.equal(receives(fake)[0].killed, true);
    assert.equal(dir.tier, 'sftp');
  });

  test('a write stream that exits at once (node older than 14) did not start: probed, and the write falls back with its hash', async () => {
    const fake = new FakeSpawn();
    fake.onStart = (proc) => proc.end(HELPER_EXIT_OLD_NODE);
    const check = new ScriptedCheck();
    check.answers({ runtime: undefined, clear: true });
    const { dir, root } = await trusting(fake, check);
    assert.equal(dir.hashesWrites, true);
    const content = Buffer.alloc(3 << 20, 7);
    const written = await dir.writeFile('big.bin', content, {}, undefined);
    assert.equal(check.rechecks.length, 1);
    assert.match(check.rechecks[0], /older than 14/);
    assert.equal(written.hash, sha256(content));
    assert.equal(sha256(readFileSync(nodePath.join(root, 'big.bin'))), sha256(content));
  });

  test('a plain SFTP side does not hash what it writes (the caller does)', async () => {
    const root = nodePath.join(base, `case-${++n}`);
    const dir = new SshReplica(plain.sftp, root, `test:${root}`);
    await dir.createRoot();
    assert.equal(dir.hashesWrites, false);
    const written = await dir.writeFile('a.txt', Buffer.from('a'), {}, undefined);
    assert.equal(written.hash, undefined);
  });

  test('hashes queued while the helper turned out not to start go over SFTP: no helper command after the switch', async () => {
    const fake = new FakeSpawn();
    const check = new ScriptedCheck();
    check.answers({ runtime: { kind: 'find' }, clear: true });
    const { dir, root, log } = await trusting(fake, check);
    writeFileSync(nodePath.join(root, 'a.txt'), 'a');
    writeFileSync(nodePath.join(root, 'b.txt'), 'b');
    const first = dir.hash('a.txt');
    await waitFor(() => fake.started.length === 1, 10_000, 'the first hashing command');
    const second = dir.hash('b.txt'); // queued behind the running batch
    fake.started[0].end(127, { stderr: 'sh: node: not found\n' });
    assert.deepEqual(await Promise.all([first, second]), [sha256('a'), sha256('b')]);
    assert.deepEqual(
      fake.commands().filter((c) => c.endsWith(' hash')),
      [`node '${SCRIPT}' hash`],
      'one hashing command, before the switch',
    );
    assert.deepEqual(log.filter((m) => /hashing failed/.test(m)), [], 'no helper command was built for the queue after the switch');
    assert.equal(dir.helperKind, 'find');
  });
});
