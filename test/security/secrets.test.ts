import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, runCli } from '../helpers/cli';
import { ensureTestUser, generateKey, startSshd, sshdAvailable, TEST_PASSWORD, TEST_USER, type SshdFixture } from '../helpers/sshd';
import { removeDir, tempDir, writeTree } from '../helpers/tmp';

/** Runs the CLI on a real terminal (a pty made by `script`), typing `answer` at every prompt. */
function runOnTty(args: string[], answer: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string; prompts: number }> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let output = '';
    let prompts = 0;
    const onData = (d: Buffer) => {
      output += d.toString();
      if (/(Password|Passphrase)[^:\n]*: $/i.test(output)) {
        prompts++;
        child.stdin.write(`${answer}\r`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output, prompts }));
  });
}

/** Every file under `dir` that contains `secret`. */
async function filesContaining(dir: string, secret: string): Promise<string[]> {
  const hits: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const abs = path.join(d, e.name);
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile() && (await fs.readFile(abs)).includes(secret)) hits.push(abs);
    }
  };
  await walk(dir);
  return hits;
}

const canRun = sshdAvailable() && process.getuid?.() === 0;

describe('secrets never leak', { skip: !canRun && 'needs OpenSSH server and root (to create the test user)' }, () => {
  let sshd: SshdFixture;
  let work: string;
  before(async () => {
    ensureTestUser();
    sshd = await startSshd({ passwordAuth: true });
    work = await tempDir('ssh-sync-secrets-');
  });
  after(async () => {
    await sshd?.stop();
    if (work) await removeDir(work);
  });

  test('a password typed at the prompt syncs, and appears nowhere the run wrote', async () => {
    const local = path.join(work, 'pw-local');
    const remote = path.join(work, 'pw-remote');
    await writeTree(local, { 'x.txt': 'x' });
    await fs.mkdir(remote, { mode: 0o777 });
    await fs.chmod(remote, 0o777);
    await fs.chmod(work, 0o755);
    const state = path.join(work, 'pw-state');
    const knownHosts = sshd.writeKnownHosts({ file: path.join(work, 'pw-known_hosts') });
    const args = ['sync', local, `${TEST_USER}@127.0.0.1:${sshd.port}:${remote}`, '--known-hosts', knownHosts, '--ssh-config', '/dev/null', '--state-dir', state, '--json'];
    const r = await runOnTty(args, TEST_PASSWORD, { SSH_AUTH_SOCK: '' });
    assert.equal(r.code, 0, r.output);
    assert.equal(r.prompts, 1);
    assert.equal(await fs.readFile(path.join(remote, 'x.txt'), 'utf8'), 'x');
    assert.ok(!r.output.includes(TEST_PASSWORD), 'the password was echoed or printed');
    assert.deepEqual(await filesContaining(work, TEST_PASSWORD), []);
  });

  test('an encrypted key asks for its passphrase on the terminal; a wrong one fails without showing it', async () => {
    const passphrase = 'correct horse battery staple 7';
    const key = generateKey(work, 'enc_key', { passphrase });
    sshd.authorize(key.publicLine);
    const local = path.join(work, 'key-local');
    const remote = path.join(work, 'key-remote');
    await writeTree(local, { 'y.txt': 'y' });
    const knownHosts = sshd.writeKnownHosts({ file: path.join(work, 'key-known_hosts') });
    const args = ['sync', local, `root@127.0.0.1:${sshd.port}:${remote}`, '--identity', key.privateKey, '--known-hosts', knownHosts, '--ssh-config', '/dev/null', '--state-dir', path.join(work, 'key-state')];
    const ok = await runOnTty(args, passphrase, { SSH_AUTH_SOCK: '' });
    assert.equal(ok.code, 0, ok.output);
    assert.ok(ok.prompts >= 1);
    const wrong = 'not the passphrase 123';
    const bad = await runOnTty([...args, '--rescan'], wrong, { SSH_AUTH_SOCK: '' });
    assert.equal(bad.code, 1, bad.output);
    assert.ok(!bad.output.includes(wrong) && !ok.output.includes(passphrase), `${ok.output}\n---\n${bad.output}`);
    assert.deepEqual(await filesContaining(work, passphrase), []);
    assert.deepEqual(await filesContaining(work, wrong), []);
  });

  test('without a terminal to ask on, it fails clearly instead of hanging', async () => {
    const local = path.join(work, 'notty-local');
    await writeTree(local, { 'z.txt': 'z' });
    const r = await runCli(['sync', local, `${TEST_USER}@127.0.0.1:${sshd.port}:${path.join(work, 'notty-remote')}`, '--known-hosts', sshd.writeKnownHosts({ file: path.join(work, 'notty-kh') }), '--ssh-config', '/dev/null', '--state-dir', path.join(work, 'notty-state')], { env: { SSH_AUTH_SOCK: '' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /auth|password|terminal/i);
  });
});
