import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Entry, Tree } from '../../src/engine/entry';
import { Filter } from '../../src/engine/filter';
import type { RelPath } from '../../src/engine/path';
import { SyncError } from '../../src/errors';
import type { WatchListener } from '../../src/replica/replica';
import { openSshReplica, type SshReplica, type SshReplicaOpenOptions } from '../../src/replica/ssh';
import { HELPER_FILE, HELPER_SCRIPT } from '../../src/replica/ssh/helperScript';
import { ensureTestUser, sshdAvailable, startSshd, TEST_USER, type SshdFixture } from '../helpers/sshd';

const skip = sshdAvailable() ? false : 'OpenSSH server (/usr/sbin/sshd) is not installed';
const noFilter = new Filter([]);
const pruneFilter = new Filter([
  { type: 'exclude', pattern: 'node_modules/' },
  { type: 'exclude', pattern: '*.log' },
]);

type Variant = { readonly name: string; readonly options: Partial<SshReplicaOpenOptions>; readonly tier: 'helper' | 'sftp'; readonly kind?: 'node' | 'find' };
const VARIANTS: readonly Variant[] = [
  { name: 'sftp', options: { tier: 'sftp' }, tier: 'sftp' },
  { name: 'helper (node)', options: { tier: 'helper', helperRuntime: 'node' }, tier: 'helper', kind: 'node' },
  { name: 'helper (find)', options: { tier: 'helper', helperRuntime: 'find' }, tier: 'helper', kind: 'find' },
];

/** Sorted entries, for comparing trees whatever order they were found in. */
function sorted(tree: Tree): [RelPath, Entry][] {
  return [...tree.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Polls `condition` every 20 ms until it holds; fails after `ms`. */
async function waitFor(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A listener that records every path reported. */
function recorder() {
  const seen = new Set<string>();
  let overflows = 0;
  const errors: Error[] = [];
  const listener: WatchListener = {
    onChange(paths) {
      if (paths === 'overflow') overflows++;
      else for (const p of paths) seen.add(p);
    },
    onError(err) {
      errors.push(err);
    },
  };
  return { seen, listener, errors, overflows: () => overflows };
}

/** Files, dirs, links, odd names, an excluded tree, logs, and an old mtime with a fraction. */
function buildTree(root: string): void {
  mkdirSync(nodePath.join(root, 'src/deep/er/still'), { recursive: true });
  mkdirSync(nodePath.join(root, 'node_modules/pkg/lib'), { recursive: true });
  mkdirSync(nodePath.join(root, 'sub/node_modules/x'), { recursive: true });
  mkdirSync(nodePath.join(root, 'e\u0301-dir'), { recursive: true });
  writeFileSync(nodePath.join(root, 'node_modules/pkg/lib/i.js'), 'module');
  writeFileSync(nodePath.join(root, 'sub/node_modules/x/y'), 'y');
  writeFileSync(nodePath.join(root, 'sub/keep.txt'), 'keep');
  writeFileSync(nodePath.join(root, 'debug.log'), 'log');
  writeFileSync(nodePath.join(root, 'src/a.ts'), 'export const a = 1;\n');
  writeFileSync(nodePath.join(root, 'src/deep/er/still/b.bin'), Buffer.alloc(70_000, 7));
  writeFileSync(nodePath.join(root, 'empty'), '');
  writeFileSync(nodePath.join(root, 'new\nline'), 'n');
  writeFileSync(nodePath.join(root, 'tab\there'), 't');
  writeFileSync(nodePath.join(root, "quote'\"$(x)`"), 'q');
  writeFileSync(nodePath.join(root, 'e\u0301.txt'), 'nfd');
  writeFileSync(nodePath.join(root, 'e\u0301-dir/inner'), 'inner');
  writeFileSync(Buffer.concat([Buffer.from(root + '/bad-'), Buffer.from([0xff, 0xfe])]), 'latin1');
  writeFileSync(nodePath.join(root, 'mode.sh'), '#!/bin/sh\n');
  chmodSync(nodePath.join(root, 'mode.sh'), 0o4755);
  utimesSync(nodePath.join(root, 'src/a.ts'), 1_600_000_000.75, 1_600_000_000.999_999);
  symlinkSync('src', nodePath.join(root, 'link-dir'));
  symlinkSync('src/a.ts', nodePath.join(root, 'link-file'));
  symlinkSync('nowhere', nodePath.join(root, 'dangling'));
  symlinkSync('..', nodePath.join(root, 'src/up'));
  execFileSync('mkfifo', [nodePath.join(root, 'fifo')]);
}

describe('SSH capability ladder: helper and sftp tiers over a real sshd', { skip }, () => {
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
    base = mkdtempSync(nodePath.join(os.tmpdir(), 'ssh-sync-tier-'));
    options = { sshConfigFile: null, knownHostsFile: sshd.writeKnownHosts(), identityFiles: [sshd.clientKey.privateKey], agent: false };
  });
  after(async () => {
    for (const r of open) await r.close();
    await sshd?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  test('auto picks the node helper here; it is installed under ~/.cache/ssh-sync and checked', async () => {
    const r = await connect(base);
    assert.equal(r.tier, 'helper');
    assert.equal(r.helperKind, 'node');
    assert.equal(r.mtimeToleranceMs, 1000);
    const installed = nodePath.join(os.homedir(), '.cache/ssh-sync', HELPER_FILE);
    assert.equal(readFileSync(installed, 'utf8'), HELPER_SCRIPT);
    const forced = await connect(base, { tier: 'sftp' });
    assert.equal(forced.tier, 'sftp');
    assert.equal(forced.helperKind, undefined);
    const noExec = await connect(base, { allowExec: false });
    assert.equal(noExec.tier, 'sftp');
    await assert.rejects(connect(base, { allowExec: false, tier: 'helper' }), (err: SyncError) => err.code === 'Usage');
  });

  test('a helper with the wrong checksum on the server is replaced', async () => {
    const dir = nodePath.join(os.homedir(), '.cache/ssh-sync');
    mkdirSync(dir, { recursive: true });
    const installed = nodePath.join(dir, HELPER_FILE);
    writeFileSync(installed, "'use strict'; process.stdout.write('tampered'); process.exit(0);\n");
    const r = await connect(base, { tier: 'helper', helperRuntime: 'node' });
    assert.equal(r.helperKind, 'node');
    assert.equal(readFileSync(installed, 'utf8'), HELPER_SCRIPT, 'the tampered copy was replaced');
    rmSync(installed);
    const again = await connect(base, { tier: 'helper', helperRuntime: 'node' });
    assert.equal(again.helperKind, 'node');
    assert.equal(readFileSync(installed, 'utf8'), HELPER_SCRIPT, 'a missing copy is uploaded');
  });

  test('every tier scans the same tree the SFTP walk does', async () => {
    const root = nodePath.join(base, 'same');
    mkdirSync(root);
    buildTree(root);
    const reference = await connect(root, { tier: 'sftp' });
    const helpers = await Promise.all(VARIANTS.slice(1).map((v) => connect(root, v.options)));
    assert.deepEqual(
      helpers.map((h) => h.helperKind),
      ['node', 'find'],
    );
    const cases = [
      { filter: pruneFilter, symlinks: 'copy' as const },
      { filter: noFilter, symlinks: 'copy' as const },
      { filter: noFilter, symlinks: 'skip' as const },
      { filter: pruneFilter, symlinks: 'follow' as const },
      { filter: pruneFilter, symlinks: 'copy' as const, under: 'src' },
      { filter: noFilter, symlinks: 'copy' as const, under: '\u00e9-dir' },
      { filter: noFilter, symlinks: 'copy' as const, under: 'src/a.ts' },
      { filter: noFilter, symlinks: 'copy' as const, under: 'missing' },
    ];
    for (const scan of cases) {
      const expected = sorted(await reference.scan(scan));
      for (const h of helpers) {
        assert.deepEqual(sorted(await h.scan(scan)), expected, `${h.helperKind}: ${JSON.stringify({ ...scan, filter: scan.filter.isEmpty ? 'none' : 'prune' })}`);
      }
    }
    // Spot checks that the comparison compares something.
    const tree = await helpers[0].scan({ filter: pruneFilter, symlinks: 'copy' });
    assert.equal(tree.has('node_modules'), false);
    assert.equal(tree.has('sub/node_modules'), false);
    assert.equal(tree.has('debug.log'), false);
    assert.equal(tree.get('sub/keep.txt')?.kind, 'file');
    assert.equal(tree.get('new\nline')?.kind, 'file');
    assert.equal(tree.get('\u00e9.txt')?.kind, 'file');
    assert.equal(tree.get('\u00e9-dir/inner')?.kind, 'file');
    assert.deepEqual(tree.get('src/a.ts'), { kind: 'file', size: 20, mtimeMs: 1_600_000_000_000, mode: 0o644, uid: 0, gid: 0 });
    assert.equal((tree.get('mode.sh') as { mode: number }).mode, 0o4755);
    assert.deepEqual(tree.get('link-dir'), { kind: 'symlink', target: 'src', mtimeMs: (tree.get('link-dir') as { mtimeMs: number }).mtimeMs, uid: 0, gid: 0 });
    assert.equal(tree.get('fifo')?.kind, 'problem');
    assert.equal([...tree.entries()].find(([p]) => p.startsWith('bad-'))?.[1].kind, 'problem');
    const followed = await helpers[0].scan({ filter: pruneFilter, symlinks: 'follow' });
    assert.equal(followed.get('link-dir')?.kind, 'dir');
    assert.equal(followed.get('link-dir/a.ts')?.kind, 'file');
    assert.equal(followed.get('src/up')?.kind, 'problem', 'a link to an ancestor is a loop');
    // Paths found by a helper scan are read back through their on-disk names.
    assert.equal(await helpers[0].hash('\u00e9-dir/inner'), createHash('sha256').update('inner').digest('hex'));
  });

  for (const v of VARIANTS) {
    test(`${v.name}: temp files hidden, stale ones removed; a missing root fails`, async () => {
      const root = nodePath.join(base, `temps-${v.tier}-${v.kind ?? ''}`);
      mkdirSync(root);
      writeFileSync(nodePath.join(root, 'keep.txt'), 'k');
      const stale = nodePath.join(root, '.ssh-sync-tmp.999999999.abcd.keep.txt');
      const fresh = nodePath.join(root, `.ssh-sync-tmp.${process.pid}.abcd.keep.txt`);
      const staleDir = nodePath.join(root, '.ssh-sync-tmp.999999999.beef.dir');
      writeFileSync(stale, 'half');
      writeFileSync(fresh, 'half');
      mkdirSync(staleDir);
      const r = await connect(root, v.options);
      assert.equal(r.tier, v.tier);
      const tree = await r.scan({ filter: noFilter, symlinks: 'copy' });
      assert.deepEqual([...tree.keys()], ['keep.txt']);
      assert.equal(existsSync(stale), false, 'stale temp removed');
      assert.equal(existsSync(staleDir), false, 'stale temp directory removed');
      assert.equal(existsSync(fresh), true, 'a live writer’s temp is left alone');
      const gone = await connect(nodePath.join(base, 'no-such-root'), v.options);
      await assert.rejects(gone.scan({ filter: noFilter, symlinks: 'copy' }), (err: SyncError) => err.code === 'NotFound');
    });

    test(`${v.name}: hashes match, in batches, and a missing file is NotFound`, async () => {
      const root = nodePath.join(base, `hash-${v.tier}-${v.kind ?? ''}`);
      mkdirSync(nodePath.join(root, 'd'), { recursive: true });
      const contents = Array.from({ length: 40 }, (_, i) => Buffer.alloc(i * 997, i));
      contents.forEach((c, i) => writeFileSync(nodePath.join(root, `d/f${i}`), c));
      writeFileSync(nodePath.join(root, 'new\nline'), 'n');
      const r = await connect(root, v.options);
      const got = await Promise.all(contents.map((_, i) => r.hash(`d/f${i}`)));
      assert.deepEqual(
        got,
        contents.map((c) => createHash('sha256').update(c).digest('hex')),
      );
      assert.equal(await r.hash('new\nline'), createHash('sha256').update('n').digest('hex'));
      await assert.rejects(r.hash('missing.txt'), (err: SyncError) => err.code === 'NotFound' && err.path === 'missing.txt');
      if (v.kind === 'node') {
        // A FIFO where a file was: an error, not a helper waiting for a writer for good.
        execFileSync('mkfifo', [nodePath.join(root, 'pipe')]);
        await assert.rejects(r.hash('pipe'), (err: SyncError) => err.code === 'Io' && err.path === 'pipe');
      }
    });

    test(`${v.name}: watch reports created, modified, deleted files and a renamed directory`, async () => {
      const root = nodePath.join(base, `watch-${v.tier}-${v.kind ?? ''}`);
      mkdirSync(nodePath.join(root, 'dir/inner'), { recursive: true });
      mkdirSync(nodePath.join(root, 'node_modules/pkg'), { recursive: true });
      writeFileSync(nodePath.join(root, 'mod.txt'), 'v1');
      writeFileSync(nodePath.join(root, 'del.txt'), 'bye');
      writeFileSync(nodePath.join(root, 'dir/inner/f'), 'f');
      utimesSync(nodePath.join(root, 'mod.txt'), 1_600_000_000, 1_600_000_000);
      const r = await connect(root, v.options);
      const rec = recorder();
      const watcher = await r.watch({ filter: pruneFilter, pollSeconds: 0.2 }, rec.listener);
      try {
        assert.equal(watcher.method, v.kind === 'node' ? 'events' : 'poll');
        writeFileSync(nodePath.join(root, 'created.txt'), 'new');
        await waitFor('a created file', () => rec.seen.has('created.txt'));
        writeFileSync(nodePath.join(root, 'mod.txt'), 'v2!');
        await waitFor('a modified file', () => rec.seen.has('mod.txt'));
        unlinkSync(nodePath.join(root, 'del.txt'));
        await waitFor('a deleted file', () => rec.seen.has('del.txt'));
        renameSync(nodePath.join(root, 'dir'), nodePath.join(root, 'renamed'));
        await waitFor('a renamed directory', () => rec.seen.has('dir') && rec.seen.has('renamed'));
        // Inside the renamed directory, and in a directory created after the watch started.
        writeFileSync(nodePath.join(root, 'renamed/inner/g'), 'g');
        await waitFor('a file in the renamed directory', () => rec.seen.has('renamed/inner/g'));
        mkdirSync(nodePath.join(root, 'fresh/sub'), { recursive: true });
        writeFileSync(nodePath.join(root, 'fresh/sub/h'), 'h');
        await waitFor('a file in a new directory', () => rec.seen.has('fresh/sub/h'));
        writeFileSync(nodePath.join(root, 'fresh/sub/h2'), 'h2');
        await waitFor('a second file in a new directory', () => rec.seen.has('fresh/sub/h2'));
        // Excluded trees and temp files are not reported.
        writeFileSync(nodePath.join(root, 'node_modules/pkg/x.js'), 'x');
        writeFileSync(nodePath.join(root, `.ssh-sync-tmp.${process.pid}.aaaa.t`), 't');
        writeFileSync(nodePath.join(root, 'marker'), 'm');
        await waitFor('the marker', () => rec.seen.has('marker'));
        assert.equal([...rec.seen].some((p) => p.startsWith('node_modules/') || p.includes('.ssh-sync-tmp.')), false, [...rec.seen].join(', '));
        assert.deepEqual(rec.errors, []);
      } finally {
        await watcher.close();
      }
    });
  }

  test('the node watcher dies with its channel: close() ends the remote helper', async () => {
    const root = nodePath.join(base, 'watch-close');
    mkdirSync(root);
    const r = await connect(root, { tier: 'helper', helperRuntime: 'node' });
    const count = () => Number(execFileSync('sh', ['-c', `pgrep -fc '${HELPER_FILE} watch' || true`]).toString().trim());
    const before = count();
    const w = await r.watch({ filter: noFilter, pollSeconds: 1 }, recorder().listener);
    await waitFor('the helper watcher to run', () => count() === before + 1);
    await w.close();
    await waitFor('the helper watcher to exit', () => count() === before);
  });

  test('an SFTP-only server falls back to sftp with polling; forcing the helper there is an error', async () => {
    const sftpOnly = await startSshd({ sftpOnly: true });
    try {
      const root = nodePath.join(base, 'sftponly');
      mkdirSync(root);
      writeFileSync(nodePath.join(root, 'f'), 'abc');
      const opts = { ...options, knownHostsFile: sftpOnly.writeKnownHosts(), identityFiles: [sftpOnly.clientKey.privateKey] };
      const address = `root@127.0.0.1:${sftpOnly.port}:${root}`;
      const r = await openSshReplica(address, opts);
      try {
        assert.equal(r.tier, 'sftp');
        assert.equal(r.helperKind, undefined);
        assert.deepEqual([...(await r.scan({ filter: noFilter, symlinks: 'copy' })).keys()], ['f']);
        assert.equal(await r.hash('f'), createHash('sha256').update('abc').digest('hex'));
        const rec = recorder();
        const w = await r.watch({ filter: noFilter, pollSeconds: 0.2 }, rec.listener);
        try {
          assert.equal(w.method, 'poll');
          writeFileSync(nodePath.join(root, 'g'), 'g');
          await waitFor('a polled change', () => rec.seen.has('g'));
        } finally {
          await w.close();
        }
      } finally {
        await r.close();
      }
      await assert.rejects(openSshReplica(address, { ...opts, tier: 'helper' }), (err: SyncError) => err.code === 'Usage' && /helper tier is not available/.test(err.message));
    } finally {
      await sftpOnly.stop();
    }
  });

  test('permission denied is the same problem on every tier (non-root user)', { skip: ensureTestUser() ? false : 'cannot create the non-root test user' }, async () => {
    const root = nodePath.join(base, 'perm');
    mkdirSync(nodePath.join(root, 'locked/inside'), { recursive: true });
    mkdirSync(nodePath.join(root, 'open'), { recursive: true });
    writeFileSync(nodePath.join(root, 'locked/secret'), 's');
    writeFileSync(nodePath.join(root, 'open/f'), 'f');
    const uid = Number(execFileSync('id', ['-u', TEST_USER]).toString());
    const gid = Number(execFileSync('id', ['-g', TEST_USER]).toString());
    chmodSync(base, 0o755);
    chownSync(root, uid, gid);
    chownSync(nodePath.join(root, 'open'), uid, gid);
    chmodSync(nodePath.join(root, 'locked'), 0o000);
    const trees = [];
    for (const v of VARIANTS) {
      const r = await connect(root, v.options, TEST_USER);
      assert.equal(r.tier, v.tier);
      trees.push(sorted(await r.scan({ filter: noFilter, symlinks: 'copy' })));
    }
    assert.match(JSON.stringify(trees[0]), /cannot list directory: permission denied/);
    assert.deepEqual(trees[1], trees[0]);
    assert.deepEqual(trees[2], trees[0]);
    for (const v of VARIANTS) {
      const lockedRoot = await connect(nodePath.join(root, 'locked'), v.options, TEST_USER);
      await assert.rejects(lockedRoot.scan({ filter: noFilter, symlinks: 'copy' }), (err: SyncError) => err.code === 'PermissionDenied');
    }
  });

  test('timing: a 10,000-file tree, SFTP walk vs helper listing', async (t) => {
    const root = nodePath.join(base, 'big');
    for (let d = 0; d < 100; d++) {
      const dir = nodePath.join(root, `d${d % 10}`, `e${d}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(nodePath.join(dir, `f${f}.txt`), `${d}/${f}`);
    }
    const runs: Record<string, number[]> = {};
    let expected: [RelPath, Entry][] | undefined;
    // Loopback, and through a proxy adding 10 ms each way (a 20 ms round trip, like a nearby server).
    const proxy = await delayProxy(sshd.port, 10);
    try {
      const slowHosts = nodePath.join(sshd.dir, 'known_hosts.slow');
      writeFileSync(slowHosts, `[127.0.0.1]:${proxy.port} ${sshd.hostKeyLine}\n`);
      for (const [where, port, knownHostsFile] of [['loopback', sshd.port, options.knownHostsFile], ['20 ms RTT', proxy.port, slowHosts]] as const) {
        for (const v of VARIANTS) {
          const r = await openSshReplica(`root@127.0.0.1:${port}:${root}`, { ...options, knownHostsFile, ...v.options });
          try {
            for (let i = 0; i < 3; i++) {
              const t0 = process.hrtime.bigint();
              const tree = await r.scan({ filter: noFilter, symlinks: 'copy' });
              (runs[`${where}, ${v.name}`] ??= []).push(Number(process.hrtime.bigint() - t0) / 1e6);
              assert.equal(tree.size, 10_000 + 110);
              const s = sorted(tree);
              if (expected) assert.deepEqual(s, expected);
              else expected = s;
            }
          } finally {
            await r.close();
          }
        }
      }
    } finally {
      await proxy.close();
    }
    for (const [name, ms] of Object.entries(runs)) t.diagnostic(`${name}: ${ms.map((m) => m.toFixed(0)).join(' / ')} ms`);
  });
});

/** A TCP proxy to 127.0.0.1:`port` that delays every chunk by `ms` in each direction (order kept). */
async function delayProxy(port: number, ms: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    const pipe = (from: net.Socket, to: net.Socket) => {
      from.on('data', (d) => setTimeout(() => to.write(d), ms));
      from.on('end', () => setTimeout(() => to.end(), ms));
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
