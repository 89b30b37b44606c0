import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import type { FileEntry, SyncableEntry } from '../../src/engine/entry';
import { Filter } from '../../src/engine/filter';
import { SyncError } from '../../src/errors';
import { openSshReplica, type SshReplica, type SshReplicaOpenOptions } from '../../src/replica/ssh';
import { Sftp } from '../../src/replica/ssh/sftpClient';
import { SshReplica as SshReplicaClass } from '../../src/replica/ssh/sshReplica';
import { ensureTestUser, sshdAvailable, startSshd, TEST_USER, type SshdFixture } from '../helpers/sshd';

const skip = sshdAvailable() ? false : 'OpenSSH server (/usr/sbin/sshd) is not installed';
const noFilter = new Filter([]);

async function text(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function rejectsWith(p: Promise<unknown>, code: SyncError['code'], path?: string): Promise<SyncError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SyncError, `expected SyncError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (path !== undefined) assert.equal(err.path, path);
    return err;
  }
  assert.fail(`expected a ${code} SyncError`);
}

describe('SshReplica over a real sshd', { skip }, () => {
  let sshd: SshdFixture;
  let base: string;
  let options: SshReplicaOpenOptions;
  const open: SshReplica[] = [];
  const connect = async (root: string, extra: Partial<SshReplicaOpenOptions> = {}, user = 'root') => {
    const r = await openSshReplica(`${user}@127.0.0.1:${sshd.port}:${root}`, { ...options, ...extra });
    open.push(r);
    return r;
  };

  before(async () => {
    sshd = await startSshd();
    base = mkdtempSync(nodePath.join(os.tmpdir(), 'ssh-sync-remote-'));
    options = { sshConfigFile: null, knownHostsFile: sshd.writeKnownHosts(), identityFiles: [sshd.clientKey.privateKey], agent: false };
  });
  after(async () => {
    for (const r of open) await r.close();
    await sshd?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  test('createRoot, write, scan, read and hash round trip', async () => {
    const root = nodePath.join(base, 'rt/nested');
    const r = await connect(root);
    assert.equal(r.description, `root@127.0.0.1:${sshd.port}:${root}`);
    assert.equal(r.mtimeToleranceMs, 1000);
    assert.equal(await r.rootExists(), false);
    assert.equal(await r.createRoot(), true, 'made here');
    assert.equal(await r.rootExists(), true);
    assert.equal(await r.createRoot(), false, 'already there');

    const content = Buffer.from('hello over sftp\n');
    const written = await r.writeFile('a/b/c.txt', Readable.from([content]), { mtimeMs: 1_700_000_000_000, mode: 0o640 }, undefined);
    assert.equal(written.kind, 'file');
    assert.equal(written.size, content.length);
    assert.equal(written.mtimeMs, 1_700_000_000_000);
    assert.equal(written.mode, 0o640);
    assert.equal(written.uid, 0);
    assert.deepEqual(readFileSync(nodePath.join(root, 'a/b/c.txt')), content);

    const tree = await r.scan({ filter: noFilter, symlinks: 'copy' });
    assert.deepEqual([...tree.keys()].sort(), ['a', 'a/b', 'a/b/c.txt']);
    // The node helper also says what it received (hashesWrites): the SHA-256 of the bytes written.
    const expected = createHash('sha256').update(content).digest('hex');
    const { hash: receivedHash, ...writtenStat } = written;
    assert.equal(r.hashesWrites, true);
    assert.equal(receivedHash, expected);
    assert.deepEqual(tree.get('a/b/c.txt'), writtenStat);
    assert.equal(tree.get('a')?.kind, 'dir');

    assert.deepEqual(await text(await r.read('a/b/c.txt')), content);
    assert.equal(await r.hash('a/b/c.txt'), expected);
    const noExec = await connect(root, { allowExec: false });
    assert.equal(await noExec.hash('a/b/c.txt'), expected);
    await rejectsWith(r.read('missing.txt'), 'NotFound', 'missing.txt');
    await rejectsWith(noExec.hash('missing.txt'), 'NotFound', 'missing.txt');
  });

  test('large files are pipelined both ways intact', async () => {
    const root = nodePath.join(base, 'large');
    mkdirSync(root);
    const r = await connect(root);
    const data = randomBytes(5 * 1024 * 1024 + 123);
    const pieces = [data.subarray(0, 1000), data.subarray(1000, 3_000_000), data.subarray(3_000_000)];
    const entry = await r.writeFile('big.bin', Readable.from(pieces), {}, undefined);
    assert.equal(entry.size, data.length);
    assert.ok(readFileSync(nodePath.join(root, 'big.bin')).equals(data));
    assert.ok((await text(await r.read('big.bin'))).equals(data));
    assert.equal(await r.hash('big.bin'), createHash('sha256').update(data).digest('hex'));
    const empty = await r.writeFile('empty', Readable.from([]), {}, undefined);
    assert.equal(empty.size, 0);
    assert.equal((await text(await r.read('empty'))).length, 0);
  });

  test('replace re-checks the target against expect; creates never replace', async () => {
    const root = nodePath.join(base, 'expect');
    mkdirSync(root);
    writeFileSync(nodePath.join(root, 'f.txt'), 'v1');
    utimesSync(nodePath.join(root, 'f.txt'), 1_600_000_000, 1_600_000_000);
    const r = await connect(root);
    const seen = (await r.stat('f.txt')) as FileEntry;

    const updated = await r.writeFile('f.txt', Readable.from([Buffer.from('v2!')]), {}, seen);
    assert.equal(readFileSync(nodePath.join(root, 'f.txt'), 'utf8'), 'v2!');
    assert.equal(updated.size, 3);

    // The plan still believes in `seen` (v1): refused, nothing touched, no temp left.
    await rejectsWith(r.writeFile('f.txt', Readable.from([Buffer.from('v3')]), {}, seen), 'Changed', 'f.txt');
    assert.equal(readFileSync(nodePath.join(root, 'f.txt'), 'utf8'), 'v2!');
    await rejectsWith(r.writeFile('f.txt', Readable.from([Buffer.from('new')]), {}, undefined), 'Changed', 'f.txt');

    // A target appearing while the data is written (beforeCommit runs just before the commit).
    await rejectsWith(
      r.writeFile('late.txt', Readable.from([Buffer.from('mine')]), {}, undefined, async () => writeFileSync(nodePath.join(root, 'late.txt'), 'theirs')),
      'Changed',
      'late.txt',
    );
    assert.equal(readFileSync(nodePath.join(root, 'late.txt'), 'utf8'), 'theirs');
    // beforeCommit failing aborts the write and removes the temp.
    await assert.rejects(r.writeFile('x.txt', Readable.from([Buffer.from('x')]), {}, undefined, async () => Promise.reject(new Error('source changed'))));
    assert.equal(existsSync(nodePath.join(root, 'x.txt')), false);
    assert.deepEqual(
      (await r.scan({ filter: noFilter, symlinks: 'copy' })).size,
      2,
      'no temp files remain visible',
    );
    assert.deepEqual(readdirNames(root), ['f.txt', 'late.txt']);

    await rejectsWith(r.remove('f.txt', seen), 'Changed', 'f.txt');
    assert.ok(existsSync(nodePath.join(root, 'f.txt')));
    await rejectsWith(r.setMetadata('f.txt', { mode: 0o600 }, seen), 'Changed', 'f.txt');
  });

  test('bytes that are not the bytes read (their SHA-256 given) are not put in place, whole or streamed', async () => {
    const root = nodePath.join(base, 'endToEnd');
    mkdirSync(root);
    writeFileSync(nodePath.join(root, 'old.txt'), 'old');
    utimesSync(nodePath.join(root, 'old.txt'), 1_600_000_000, 1_600_000_000);
    const r = await connect(root);
    const read = Buffer.from('the bytes as read');
    const sha = createHash('sha256').update(read).digest('hex');
    // The right bytes land, and the hash answered is theirs.
    const ok = await r.writeFile('ok.txt', read, {}, undefined, undefined, sha);
    assert.equal(ok.hash, sha);
    assert.equal(readFileSync(nodePath.join(root, 'ok.txt'), 'utf8'), 'the bytes as read');
    // Other bytes (same length: a wrong slice), as one buffer or as a stream, create nothing and replace
    // nothing; no temp is left behind.
    const wrong = Buffer.from('the bytes as reaD');
    let err = await rejectsWith(r.writeFile('new.txt', wrong, {}, undefined, undefined, sha), 'Io', 'new.txt');
    assert.match(err.message, /not the bytes read/);
    const seen = (await r.stat('old.txt')) as FileEntry;
    err = await rejectsWith(r.writeFile('old.txt', Readable.from([wrong]), {}, seen, undefined, sha), 'Io', 'old.txt');
    assert.match(err.message, /not the bytes read/);
    assert.equal(readFileSync(nodePath.join(root, 'old.txt'), 'utf8'), 'old');
    assert.deepEqual(readdirNames(root), ['ok.txt', 'old.txt']);
  });

  test('mkdir, rename, remove, setMetadata', async () => {
    const root = nodePath.join(base, 'ops');
    mkdirSync(root);
    const r = await connect(root);
    const dir = await r.mkdir('d/e', { mode: 0o750, mtimeMs: 1_600_000_000_000 });
    assert.equal(dir.kind, 'dir');
    assert.equal(dir.mode, 0o750);
    assert.equal((await r.mkdir('d/e', { mode: 0o750 })).kind, 'dir', 'mkdir of an existing directory is fine');
    const f = await r.writeFile('d/e/f', Readable.from([Buffer.from('f')]), {}, undefined);
    await rejectsWith(r.mkdir('d/e/f', {}), 'Changed', 'd/e/f');

    const g = await r.writeFile('g', Readable.from([Buffer.from('g')]), {}, undefined);
    await rejectsWith(r.rename('g', 'd/e/f', g), 'Changed', 'd/e/f');
    await r.rename('d/e/f', 'moved/f2', f);
    assert.equal(readFileSync(nodePath.join(root, 'moved/f2'), 'utf8'), 'f');
    assert.equal(await r.stat('d/e/f'), undefined);

    const meta = await r.setMetadata('g', { mode: 0o604, mtimeMs: 1_500_000_000_000 }, g);
    assert.equal((meta as FileEntry).mode, 0o604);
    assert.equal(meta.mtimeMs, 1_500_000_000_000);
    assert.equal(lstatSync(nodePath.join(root, 'g')).mode & 0o7777, 0o604);

    await rejectsWith(r.remove('d', (await r.stat('d')) as SyncableEntry), 'NotEmpty', 'd');
    await r.remove('g', meta);
    assert.equal(existsSync(nodePath.join(root, 'g')), false);
    await r.remove('d/e', (await r.stat('d/e')) as SyncableEntry);
    await r.remove('d', (await r.stat('d')) as SyncableEntry);
    assert.deepEqual(readdirNames(root), ['moved']);
  });

  test('symlinks: copy, skip, follow, loops, and never written through', async () => {
    const root = nodePath.join(base, 'links');
    const outside = mkdtempSync(nodePath.join(os.tmpdir(), 'ssh-sync-outside-'));
    try {
      mkdirSync(nodePath.join(root, 'dir'), { recursive: true });
      writeFileSync(nodePath.join(root, 'dir/file'), 'x');
      const r = await connect(root);
      const link = await r.writeSymlink('ln', 'dir', undefined);
      assert.equal(link.kind, 'symlink');
      assert.equal(link.target, 'dir');
      assert.equal(readlinkSync(nodePath.join(root, 'ln')), 'dir');
      assert.equal(await r.readSymlink('ln'), 'dir');
      await rejectsWith(r.writeSymlink('ln', 'other', undefined), 'Changed', 'ln');
      const relinked = await r.writeSymlink('ln', 'dir/file', link);
      assert.equal(relinked.target, 'dir/file');
      await r.writeSymlink('ln', 'dir', relinked);

      const copy = await r.scan({ filter: noFilter, symlinks: 'copy' });
      assert.equal(copy.get('ln')?.kind, 'symlink');
      assert.equal(copy.has('ln/file'), false);
      const skipped = await r.scan({ filter: noFilter, symlinks: 'skip' });
      assert.equal(skipped.has('ln'), false);
      symlinkSync('..', nodePath.join(root, 'dir/up'));
      symlinkSync('nowhere', nodePath.join(root, 'dangling'));
      const followed = await r.scan({ filter: noFilter, symlinks: 'follow' });
      assert.equal(followed.get('ln')?.kind, 'dir');
      assert.equal(followed.get('ln/file')?.kind, 'file');
      assert.equal(followed.get('dangling')?.kind, 'problem');
      const loops = [...followed.entries()].filter(([, e]) => e.kind === 'problem' && e.message.includes('loop'));
      assert.ok(loops.length > 0, 'a link to an ancestor is reported as a loop');
      assert.ok(followed.size < 30, 'the walk terminates');

      symlinkSync(outside, nodePath.join(root, 'evil'));
      await rejectsWith(r.writeFile('evil/x', Readable.from([Buffer.from('x')]), {}, undefined), 'Unsafe', 'evil/x');
      await rejectsWith(r.mkdir('evil/sub', {}), 'Unsafe', 'evil/sub');
      assert.deepEqual(readdirNames(outside), []);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test('temp files are hidden, stale ones removed; filters prune', async () => {
    const root = nodePath.join(base, 'temps');
    mkdirSync(nodePath.join(root, 'node_modules/pkg'), { recursive: true });
    writeFileSync(nodePath.join(root, 'node_modules/pkg/i.js'), '');
    writeFileSync(nodePath.join(root, 'keep.txt'), 'k');
    const stale = nodePath.join(root, '.ssh-sync-tmp.999999999.abcd.keep.txt');
    const fresh = nodePath.join(root, `.ssh-sync-tmp.${process.pid}.abcd.keep.txt`);
    writeFileSync(stale, 'half');
    writeFileSync(fresh, 'half');
    const r = await connect(root);
    const tree = await r.scan({ filter: new Filter([{ type: 'exclude', pattern: 'node_modules/' }]), symlinks: 'copy' });
    assert.deepEqual([...tree.keys()], ['keep.txt']);
    assert.equal(existsSync(stale), false, 'stale temp removed');
    assert.equal(existsSync(fresh), true, 'a live writer’s temp is left alone');
    const under = await r.scan({ filter: noFilter, symlinks: 'copy', under: 'node_modules' });
    assert.deepEqual([...under.keys()].sort(), ['node_modules', 'node_modules/pkg', 'node_modules/pkg/i.js']);
  });

  test('hostile and odd names', async () => {
    const root = nodePath.join(base, 'names');
    mkdirSync(root);
    writeFileSync(nodePath.join(root, 'new\nline'), 'n');
    writeFileSync(nodePath.join(root, 'e\u0301.txt'), 'nfd');
    writeFileSync(Buffer.concat([Buffer.from(root + '/bad-'), Buffer.from([0xff, 0xfe])]), 'latin1');
    const r = await connect(root);
    const tree = await r.scan({ filter: noFilter, symlinks: 'copy' });
    assert.equal(tree.get('new\nline')?.kind, 'file');
    assert.equal(tree.get('\u00e9.txt')?.kind, 'file', 'NFD names are seen as NFC');
    assert.equal((await text(await r.read('\u00e9.txt'))).toString(), 'nfd', 'and read back through the on-disk name');
    const bad = [...tree.entries()].find(([p]) => p.startsWith('bad-'));
    assert.equal(bad?.[1].kind, 'problem', 'a name that is not UTF-8 cannot round-trip over SFTP');
    const written = await r.writeFile('tab\there', Readable.from([Buffer.from('t')]), {}, undefined);
    assert.equal(written.kind, 'file');
    assert.equal(await r.hash('new\nline'), createHash('sha256').update('n').digest('hex'));

    // A hostile server listing: names that could escape the root become problems, nothing is followed.
    const fake = new (class extends Sftp {
      override async readdir() {
        const attrs = { mode: 0o100644, uid: 0, gid: 0, size: 1, atime: 0, mtime: 1 };
        return ['../../etc/passwd', 'a/b', '', '..', 'ok'].map((name) => ({ name, attrs }));
      }
      override async realpath(p: string) {
        return p;
      }
    })(undefined as never);
    const hostile = await new SshReplicaClass(fake, '/srv', 'fake').scan({ filter: noFilter, symlinks: 'copy' });
    assert.equal(hostile.get('ok')?.kind, 'file');
    for (const [path, entry] of hostile) if (path !== 'ok') assert.equal(entry.kind, 'problem', path);
    assert.ok(hostile.has('../../etc/passwd') && hostile.get('a/b')?.kind === 'problem');
  });

  test('permission denied is reported per path (non-root user)', { skip: ensureTestUser() ? false : 'cannot create the non-root test user' }, async () => {
    const root = nodePath.join(base, 'perm');
    mkdirSync(nodePath.join(root, 'locked'), { recursive: true });
    writeFileSync(nodePath.join(root, 'locked/secret'), 's');
    writeFileSync(nodePath.join(root, 'readonly.txt'), 'r');
    const uid = Number(execFileSync('id', ['-u', TEST_USER]).toString());
    const gid = Number(execFileSync('id', ['-g', TEST_USER]).toString());
    chmodSync(base, 0o755); // mkdtemp made it private to root
    chownSync(root, uid, gid);
    chmodSync(nodePath.join(root, 'locked'), 0o000); // owned by root: the test user cannot enter
    chmodSync(nodePath.join(root, 'readonly.txt'), 0o444);
    const r = await connect(root, {}, TEST_USER);
    const tree = await r.scan({ filter: noFilter, symlinks: 'copy' });
    const locked = tree.get('locked');
    assert.equal(locked?.kind, 'problem');
    assert.match((locked as { message: string }).message, /permission denied/);
    await rejectsWith(r.writeFile('locked/new', Readable.from([Buffer.from('n')]), {}, undefined), 'PermissionDenied', 'locked/new');
    await rejectsWith(r.read('locked/secret'), 'PermissionDenied', 'locked/secret');
    const lockedRoot = await connect(nodePath.join(root, 'locked'), {}, TEST_USER);
    await rejectsWith(lockedRoot.scan({ filter: noFilter, symlinks: 'copy' }), 'PermissionDenied');
  });

  test('an SFTP-only server (no exec) still works, hashing client-side', async () => {
    const sftpOnly = await startSshd({ sftpOnly: true });
    try {
      const root = nodePath.join(base, 'sftponly');
      mkdirSync(root);
      writeFileSync(nodePath.join(root, 'f'), 'abc');
      const r = await openSshReplica(`root@127.0.0.1:${sftpOnly.port}:${root}`, {
        ...options,
        knownHostsFile: sftpOnly.writeKnownHosts(),
        identityFiles: [sftpOnly.clientKey.privateKey],
      });
      try {
        assert.equal(await r.hash('f'), createHash('sha256').update('abc').digest('hex'));
        await r.writeFile('g', Readable.from([Buffer.from('g')]), {}, undefined);
        assert.equal(readFileSync(nodePath.join(root, 'g'), 'utf8'), 'g');
      } finally {
        await r.close();
      }
    } finally {
      await sftpOnly.stop();
    }
  });

  test('~ paths resolve under the remote home; a closed connection is ConnectionLost', async () => {
    const r = await connect('~');
    assert.equal(r.root, os.homedir());
    await r.close();
    await rejectsWith(r.stat('anything'), 'ConnectionLost');
  });
});

function readdirNames(dir: string): string[] {
  return readdirSync(dir).sort();
}
