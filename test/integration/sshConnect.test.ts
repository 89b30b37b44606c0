import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SyncError } from '../../src/errors';
import { openSshReplica, parseSshAddress, type SshReplicaOpenOptions } from '../../src/replica/ssh';
import { fingerprint, hostFieldMatches } from '../../src/replica/ssh/hostKeys';
import { ensureTestUser, generateKey, sshdAvailable, startSshd, TEST_PASSWORD, TEST_USER, writeClientConfig, type SshdFixture } from '../helpers/sshd';

const skip = sshdAvailable() ? false : 'OpenSSH server (/usr/sbin/sshd) is not installed';

async function rejectsWith(p: Promise<unknown>, code: SyncError['code']): Promise<SyncError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SyncError, `expected SyncError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected a ${code} SyncError`);
}

describe('parseSshAddress', () => {
  test('scp-like, ssh:// and alias forms', () => {
    assert.deepEqual(parseSshAddress('alice@example.com:/srv/site'), { user: 'alice', host: 'example.com', port: undefined, path: '/srv/site', original: 'alice@example.com:/srv/site' });
    assert.deepEqual(parseSshAddress('example.com:2222:/srv')?.port, 2222);
    assert.equal(parseSshAddress('example.com:2222:/srv')?.path, '/srv');
    assert.equal(parseSshAddress('myhost:/data')?.host, 'myhost');
    assert.equal(parseSshAddress('myhost:~/data')?.path, '~/data');
    assert.equal(parseSshAddress('[::1]:/x')?.host, '::1');
    assert.equal(parseSshAddress('bob@[fe80::1]:22:/x')?.port, 22);
    const url = parseSshAddress('ssh://bob@host.example:2200/var/www');
    assert.deepEqual({ ...url, original: undefined }, { user: 'bob', host: 'host.example', port: 2200, path: '/var/www', original: undefined });
    assert.equal(parseSshAddress('ssh://host/~/site')?.path, '~/site');
    assert.equal(parseSshAddress('ssh://[::1]:2222/x')?.host, '::1');
  });

  test('local paths are not addresses', () => {
    for (const local of ['./b', '/tmp/x', 'C:\\x', 'c:/x', 'relative', '../up', '~/local', './a:b', 'dir/with:colon']) {
      assert.equal(parseSshAddress(local), undefined, local);
    }
  });

  test('a relative or missing remote path is refused, naming the argument', () => {
    for (const bad of ['host:relative/path', 'host:', 'ssh://host', 'user@host:22:data']) {
      assert.throws(() => parseSshAddress(bad), (err: unknown) => err instanceof SyncError && err.code === 'Usage' && err.message.includes(`'${bad}'`), bad);
    }
    assert.throws(() => parseSshAddress('host:99999:/x'), /not a valid TCP port/);
  });
});

describe('SSH connection: host keys, config, auth', { skip }, () => {
  let sshd: SshdFixture;
  let dir: string;
  let root: string;
  let base: SshReplicaOpenOptions;
  const address = () => `root@127.0.0.1:${sshd.port}:${root}`;
  const openClose = async (addr: string, options: SshReplicaOpenOptions) => {
    const r = await openSshReplica(addr, options);
    try {
      assert.equal(await r.rootExists(), true);
    } finally {
      await r.close();
    }
  };

  before(async () => {
    sshd = await startSshd({ passwordAuth: true });
    dir = mkdtempSync(nodePath.join(os.tmpdir(), 'ssh-sync-conn-'));
    root = nodePath.join(dir, 'root');
    execFileSync('mkdir', ['-p', root]);
    base = { sshConfigFile: null, identityFiles: [sshd.clientKey.privateKey], agent: false };
  });
  after(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('unknown host key is refused with its SHA256 fingerprint', async () => {
    const knownHostsFile = nodePath.join(dir, 'kh-empty');
    writeFileSync(knownHostsFile, '');
    const err = await rejectsWith(openSshReplica(address(), { ...base, knownHostsFile }), 'HostKeyUnknown');
    // The same fingerprint OpenSSH prints.
    const openssh = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', nodePath.join(sshd.dir, 'host_ed25519.pub')]).toString().split(/\s+/)[1];
    assert.equal(fingerprint(sshd.hostKeyBlob), openssh);
    assert.ok(err.message.includes(openssh), err.message);
    assert.equal(readFileSync(knownHostsFile, 'utf8'), '', 'nothing recorded without consent');
  });

  test('acceptNewHostKey records the key, which is then known', async () => {
    const knownHostsFile = nodePath.join(dir, 'sub/kh-accept');
    await openClose(address(), { ...base, knownHostsFile, acceptNewHostKey: true });
    const text = readFileSync(knownHostsFile, 'utf8');
    assert.equal(text.trim(), sshd.knownHostsLine());
    // OpenSSH finds it there too.
    assert.match(execFileSync('ssh-keygen', ['-F', `[127.0.0.1]:${sshd.port}`, '-f', knownHostsFile]).toString(), /ssh-ed25519/);
    await openClose(address(), { ...base, knownHostsFile });
  });

  test('acceptHostKeyFingerprint trusts only the key the user was shown', async () => {
    const knownHostsFile = nodePath.join(dir, 'kh-fingerprint');
    writeFileSync(knownHostsFile, '');
    const other = fingerprint(Buffer.from('not the server key'));
    await rejectsWith(openSshReplica(address(), { ...base, knownHostsFile, acceptNewHostKey: true, acceptHostKeyFingerprint: other }), 'HostKeyUnknown');
    assert.equal(readFileSync(knownHostsFile, 'utf8'), '');
    await openClose(address(), { ...base, knownHostsFile, acceptNewHostKey: true, acceptHostKeyFingerprint: fingerprint(sshd.hostKeyBlob) });
    assert.equal(readFileSync(knownHostsFile, 'utf8').trim(), sshd.knownHostsLine());
  });

  test('a changed host key is refused, naming the file and line, even with acceptNewHostKey', async () => {
    const other = generateKey(dir, 'other-host-key');
    const stale = `[127.0.0.1]:${sshd.port} ${other.publicLine.split(' ').slice(0, 2).join(' ')}`;
    const knownHostsFile = nodePath.join(dir, 'kh-changed');
    writeFileSync(knownHostsFile, `# comment\n${stale}\n`);
    const err = await rejectsWith(openSshReplica(address(), { ...base, knownHostsFile, acceptNewHostKey: true }), 'HostKeyChanged');
    assert.ok(err.message.includes(`${knownHostsFile} line 2`), err.message);
    assert.ok(err.message.includes(fingerprint(sshd.hostKeyBlob)));
    assert.equal(readFileSync(knownHostsFile, 'utf8'), `# comment\n${stale}\n`);
  });

  test('hashed known_hosts entries (ours and ssh-keygen -H)', async () => {
    const ours = sshd.writeKnownHosts({ hashed: true, extraLines: ['otherhost,10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'] });
    assert.match(execFileSync('ssh-keygen', ['-F', `[127.0.0.1]:${sshd.port}`, '-f', ours]).toString(), /ssh-ed25519/, 'OpenSSH agrees with our hashing');
    await openClose(address(), { ...base, knownHostsFile: ours });

    const plain = sshd.writeKnownHosts();
    execFileSync('ssh-keygen', ['-H', '-f', plain], { stdio: 'ignore' });
    assert.match(readFileSync(plain, 'utf8'), /^\|1\|/);
    await openClose(address(), { ...base, knownHostsFile: plain });
    assert.ok(hostFieldMatches('a.example,[127.0.0.1]:2222', '[127.0.0.1]:2222'));
    assert.ok(!hostFieldMatches('*.example,!bad.example', 'bad.example'));
    assert.ok(hostFieldMatches('*.example', 'good.example'));
  });

  test('~/.ssh/config alias with Include, Host *, %h tokens and ProxyJump through a second sshd', async () => {
    const jump = await startSshd({ extraConfig: [`PermitOpen 127.0.0.1:${sshd.port}`] });
    try {
      // One key for both servers, found through a token.
      copyFileSync(sshd.clientKey.privateKey, nodePath.join(dir, 'key-127.0.0.1'));
      chmodSync(nodePath.join(dir, 'key-127.0.0.1'), 0o600);
      jump.authorize(sshd.clientKey.publicLine);
      const knownHosts = sshd.writeKnownHosts({ extraLines: [jump.knownHostsLine()] });
      const included = writeClientConfig(dir, [
        { alias: 'target', lines: ['HostName 127.0.0.1', `Port ${sshd.port}`, 'ProxyJump jumpbox'] },
        { alias: 'forbidden', lines: ['HostName 127.0.0.1', `Port ${jump.port}`, 'ProxyJump jumpbox'] },
        { alias: 'jumpbox', lines: ['HostName 127.0.0.1', `Port ${jump.port}`] },
      ]);
      const config = writeClientConfig(dir, [{ alias: '*', lines: ['User root', `IdentityFile ${dir}/key-%h`, 'IdentitiesOnly yes', `UserKnownHostsFile ${knownHosts}`, 'ServerAliveInterval 30', 'ConnectTimeout 10'] }], [
        `Include ${included}`,
      ]);
      const options: SshReplicaOpenOptions = { sshConfigFile: config, agent: false };
      await openClose(`target:${root}`, options);
      // The jump host forwards only to the target: going elsewhere through it fails, so the hop is real.
      await rejectsWith(openSshReplica(`forbidden:${root}`, options), 'ConnectionLost');
    } finally {
      await jump.stop();
    }
  });

  test('ProxyCommand', async () => {
    const proxy = nodePath.join(dir, 'proxy.js');
    writeFileSync(proxy, "const s=require('net').connect(+process.argv[3],process.argv[2]);process.stdin.pipe(s);s.pipe(process.stdout);s.on('close',()=>process.exit(0));");
    const config = writeClientConfig(dir, [
      { alias: 'viaproxy', lines: ['HostName 127.0.0.1', `Port ${sshd.port}`, 'User root', `ProxyCommand ${process.execPath} ${proxy} %h %p`] },
    ]);
    await openClose(`viaproxy:${root}`, { ...base, sshConfigFile: config, knownHostsFile: sshd.writeKnownHosts() });
  });

  test('ssh-agent authentication', async () => {
    const agentKey = generateKey(dir, 'agent-key');
    sshd.authorize(agentKey.publicLine);
    const sock = nodePath.join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      // ssh-agent -D prints its environment once the socket is bound.
      await new Promise<void>((resolve, reject) => {
        agent.stdout!.once('data', () => resolve());
        agent.once('exit', () => reject(new Error('ssh-agent exited')));
      });
      execFileSync('ssh-add', [agentKey.privateKey], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      await openClose(address(), { ...base, identityFiles: [nodePath.join(dir, 'no-such-key')], agent: sock, knownHostsFile: sshd.writeKnownHosts() });
      // Without the agent the same options fail to authenticate.
      await rejectsWith(openSshReplica(address(), { ...base, identityFiles: [nodePath.join(dir, 'no-such-key')], knownHostsFile: sshd.writeKnownHosts() }), 'AuthFailed');
    } finally {
      const exited = new Promise((resolve) => agent.once('exit', resolve));
      agent.kill();
      await exited;
    }
  });

  test('an encrypted key asks for its passphrase through askSecret', async () => {
    const enc = generateKey(dir, 'enc-key', { passphrase: 'correct horse' });
    sshd.authorize(enc.publicLine);
    const prompts: string[] = [];
    const options = { ...base, identityFiles: [enc.privateKey], knownHostsFile: sshd.writeKnownHosts() };
    await openClose(address(), {
      ...options,
      askSecret: async (prompt) => {
        prompts.push(prompt);
        return prompt.includes('Passphrase') ? 'correct horse' : undefined;
      },
    });
    assert.deepEqual(prompts, [`Passphrase for key ${enc.privateKey}:`]);
    // Wrong answers: three tries, then on to the next method (password, declined here) and failure.
    const asked: string[] = [];
    await rejectsWith(
      openSshReplica(address(), {
        ...options,
        askSecret: async (p) => {
          asked.push(p);
          return p.includes('Passphrase') ? 'wrong' : undefined;
        },
      }),
      'AuthFailed',
    );
    assert.equal(asked.filter((p) => p.includes('Passphrase')).length, 3);
  });

  test('password authentication through askSecret (non-root user)', { skip: ensureTestUser() ? false : 'cannot create the non-root test user' }, async () => {
    const prompts: string[] = [];
    execFileSync('chmod', ['755', dir]);
    await openClose(`${TEST_USER}@127.0.0.1:${sshd.port}:${root}`, {
      ...base,
      identityFiles: [nodePath.join(dir, 'no-such-key')],
      knownHostsFile: sshd.writeKnownHosts(),
      askSecret: async (prompt) => {
        prompts.push(prompt);
        return TEST_PASSWORD;
      },
    });
    assert.deepEqual(prompts, [`Password for ${TEST_USER}@127.0.0.1:`]);
    await rejectsWith(
      openSshReplica(`${TEST_USER}@127.0.0.1:${sshd.port}:${root}`, {
        ...base,
        identityFiles: [],
        knownHostsFile: sshd.writeKnownHosts(),
        askSecret: async () => 'wrong password',
      }),
      'AuthFailed',
    );
  });
});
