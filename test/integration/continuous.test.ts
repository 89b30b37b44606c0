import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSshd, sshdAvailable, type SshdFixture } from '../helpers/sshd';
import { runCli } from '../helpers/cli';
import { LiveSync } from '../helpers/live';
import { readTree, waitFor, writeTree } from '../helpers/tmp';
import { sandbox } from './sandbox';

const running: LiveSync[] = [];
after(async () => {
  for (const l of running) if (l.child.exitCode === null) await l.stop();
});

async function live(args: string[]): Promise<LiveSync> {
  const l = await LiveSync.start(args);
  running.push(l);
  return l;
}

const same = async (a: string, b: string) => JSON.stringify(await readTree(a)) === JSON.stringify(await readTree(b));

for (const kind of ['local folder', 'ssh'] as const) {
describe(`continuous sync with a ${kind} peer`, { skip: kind === 'ssh' && !sshdAvailable() && 'OpenSSH server not installed' }, () => {
  let sshd: SshdFixture | undefined;
  before(async () => {
    if (kind === 'ssh') sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
  });
  /** The peer argument and options for the folder `dir` (served over ssh for the ssh kind). */
  const peer = (dir: string): string[] =>
    kind === 'ssh'
      ? [`root@127.0.0.1:${sshd!.port}:${dir}`, '--identity', sshd!.clientKey.privateKey, '--known-hosts', sshd!.writeKnownHosts(), '--ssh-config', '/dev/null']
      : [dir];

  test('creates, edits, deletes, renames (file and directory), type changes and atomic saves reach the peer; Ctrl-C exits 0', async () => {
    const box = await sandbox({ 'keep.txt': 'k', 'dir/inner.txt': 'i' });
    const l = await live(['watch', box.a, ...peer(box.b), '--direction', 'bidi', '--state-dir', box.state]);
    assert.deepEqual(await readTree(box.b), await readTree(box.a));
    const converge = (what: string) => waitFor(() => same(box.a, box.b), 10_000, what);

    await writeTree(box.a, { 'new.txt': 'created' });
    await converge('a create');
    await writeTree(box.a, { 'new.txt': 'edited' });
    await converge('an edit');
    await fs.copyFile(path.join(box.a, 'new.txt'), path.join(box.a, 'copy.txt'));
    await converge('a copy');
    await fs.rename(path.join(box.a, 'new.txt'), path.join(box.a, 'renamed.txt'));
    await converge('a file rename');
    await fs.rename(path.join(box.a, 'dir'), path.join(box.a, 'moved-dir'));
    await converge('a directory rename');
    // Replayed as a rename (the line is written just after the peer has it).
    await waitFor(() => /mv {4}dir -> moved-dir \(remote\)/.test(l.stdout), 10_000, 'the directory rename replayed as a rename');
    await fs.rm(path.join(box.a, 'keep.txt'));
    await converge('a delete');
    await fs.rm(path.join(box.a, 'renamed.txt'));
    await fs.mkdir(path.join(box.a, 'renamed.txt'));
    await writeTree(box.a, { 'renamed.txt/now-a-dir.txt': 'x' });
    await converge('a type change');
    // Editor-style atomic save: write a temp file, rename it over the original.
    await writeTree(box.a, { '.save.tmp': 'saved atomically' });
    await fs.rename(path.join(box.a, '.save.tmp'), path.join(box.a, 'moved-dir/inner.txt'));
    await converge('an atomic save');
    assert.equal(await fs.readFile(path.join(box.b, 'moved-dir/inner.txt'), 'utf8'), 'saved atomically');
    // And from the peer side.
    await writeTree(box.b, { 'from-peer.txt': 'p' });
    await converge('a peer-side create');
    assert.equal(await l.stop(), 0);
    // The snapshot was saved: a one-time run finds nothing to do.
    const after = await runCli(['sync', box.a, ...peer(box.b), '--state-dir', box.state, '--json']);
    assert.equal(after.code, 0, after.stderr);
    assert.equal(JSON.parse(after.stdout.trim().split('\n').at(-1)!).copied, 0);
  });

  test('changes on both sides at once become a conflict, both left as they are', async () => {
    const box = await sandbox({ 'f.txt': 'base' });
    const l = await live(['watch', box.a, ...peer(box.b), '--state-dir', box.state, '--cooloff-ms', '300']);
    await Promise.all([writeTree(box.a, { 'f.txt': 'local side' }), writeTree(box.b, { 'f.txt': 'peer side!' })]);
    await waitFor(() => /CONFLICT both-modified +f\.txt/.test(l.stdout), 10_000, 'the conflict');
    assert.equal(await fs.readFile(path.join(box.a, 'f.txt'), 'utf8'), 'local side');
    assert.equal(await fs.readFile(path.join(box.b, 'f.txt'), 'utf8'), 'peer side!');
    assert.equal(await l.stop(), 0);
  });

  test('a burst of 5,000 new files is batched into a few plans and converges', async () => {
    const box = await sandbox({ 'seed.txt': 's' });
    const l = await live(['watch', box.a, ...peer(box.b), '--direction', 'push', '--state-dir', box.state]);
    const burst: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) burst[`burst/d${i % 50}/f${i}.txt`] = `file ${i}`;
    await writeTree(box.a, burst);
    let seen = 0;
    try {
      await waitFor(async () => (seen = Object.keys(await readTree(box.b)).length) === 5000 + 50 + 2, 120_000, '5,000 files on the peer');
    } catch (err) {
      // What the next person needs to see if this ever hangs: how far it got, and what the process said.
      const tail = (text: string) => text.split('\n').slice(-40).join('\n');
      throw new Error(`${(err as Error).message}: ${seen} of ${5000 + 50 + 2} paths on the peer; process exit code ${l.child.exitCode}\nstdout (end):\n${tail(l.stdout)}\nstderr (end):\n${tail(l.stderr)}`);
    }
    assert.deepEqual(await readTree(box.b), await readTree(box.a));
    const plans = (l.stdout.match(/^in sync: /gm) ?? []).length;
    assert.ok(plans < 100, `${plans} separate syncs for one burst`);
    assert.equal(await l.stop(), 0);
  });

  test('--interval runs again on a schedule, without change events', async () => {
    const box = await sandbox({ 'a.txt': 'a' });
    const l = await live(['sync', box.a, ...peer(box.b), '--interval', '1', '--state-dir', box.state]);
    await writeTree(box.b, { 'b.txt': 'from the peer' });
    await waitFor(async () => (await readTree(box.a))['b.txt'] === 'from the peer', 10_000, 'the interval run');
    assert.equal(await l.stop(), 0);
  });
});
}

describe('several peers', () => {
  test('a peer made as a copy of the local folder, marker and all, is a root of its own; one folder twice is refused', async () => {
    const box = await sandbox({ 'x.txt': 'x' });
    const marker = async (root: string) => JSON.parse(await fs.readFile(path.join(root, '.ssh-sync-marker.json'), 'utf8'));
    const sync = (a: string, b: string) => runCli(['sync', a, b, '--state-dir', box.state]);
    assert.equal((await sync(box.a, box.b)).code, 0);
    // Copies of the local folder with its marker (as cp -a makes them), each then synced with it.
    for (const copy of ['copy1', 'copy2']) {
      const dir = path.join(box.root, copy);
      await fs.cp(box.a, dir, { recursive: true, preserveTimestamps: true });
      const r = await sync(box.a, dir);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.notEqual((await marker(dir)).id, (await marker(box.a)).id);
    }
    // No session is recorded as feeding the local folder from the local folder itself.
    const local = await marker(box.a);
    assert.deepEqual(local.writers.filter((w: { from: string }) => w.from === local.id), []);
    // The same folder under another name: refused, and nothing else is touched.
    const alias = path.join(box.root, 'alias');
    await fs.symlink(box.a, alias);
    const r = await sync(box.a, alias);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /are the same folder/);
    assert.deepEqual(await readTree(box.a), { 'x.txt': 'x' });
  });

  test('a session that would sync back upstream refuses to start and names the session closing the loop', async () => {
    const box = await sandbox({ 'x.txt': 'x' });
    const c = path.join(box.root, 'c');
    await fs.mkdir(c);
    const push = (from: string, to: string) => runCli(['sync', from, to, '--direction', 'push', '--state-dir', box.state]);
    assert.equal((await push(box.a, box.b)).code, 0);
    // Directly back: b -> a while a -> b exists.
    let r = await push(box.b, box.a);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refusing to sync: .* already feeds .*\/b .*would close a loop/);
    // Through a chain: a -> b -> c, then c -> a.
    assert.equal((await push(box.b, c)).code, 0);
    r = await push(c, box.a);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /would close a loop/);
    assert.deepEqual(await readTree(box.a), { 'x.txt': 'x' });
    // Each root has its marker; it is never synced itself, and the existing sessions keep working.
    for (const root of [box.a, box.b, c]) assert.ok(JSON.parse(await fs.readFile(path.join(root, '.ssh-sync-marker.json'), 'utf8')).id);
    assert.equal((await push(box.a, box.b)).code, 0);
    assert.deepEqual(await readTree(c), { 'x.txt': 'x' });
  });

  test('one local folder syncs with two peers at once, each with its own snapshot', async () => {
    const box = await sandbox({ 'x.txt': 'x' });
    const c = path.join(box.root, 'c');
    await fs.mkdir(c);
    const r = await runCli(['sync', box.a, box.b, c, '--direction', 'push', '--state-dir', box.state]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^\\[${box.b.replace(/[/.]/g, '\\$&')}\\] push {2}x\\.txt$`, 'm'));
    assert.deepEqual(await readTree(box.b), { 'x.txt': 'x' });
    assert.deepEqual(await readTree(c), { 'x.txt': 'x' });
    assert.equal((await fs.readdir(box.state)).filter((f) => f.endsWith('.db')).length, 2);
  });
});
