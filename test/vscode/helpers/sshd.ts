/**
 * A private OpenSSH server on 127.0.0.1 for the VS Code tests: the minimal part of test/helpers/sshd.ts
 * (which this separately compiled suite cannot import). Key authentication only; root may log in.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Sshd {
  readonly dir: string;
  readonly port: number;
  readonly clientKey: string;
  /** `[127.0.0.1]:port ssh-ed25519 AAAA…` */
  knownHostsLine(): string;
  /** A new client key, protected by `passphrase`, authorized for login; returns its file. */
  addKey(name: string, passphrase: string): string;
  stop(): Promise<void>;
}

export function sshdAvailable(): boolean {
  return existsSync('/usr/sbin/sshd') && existsSync('/usr/bin/ssh-keygen') && process.getuid?.() === 0;
}

function keygen(dir: string, name: string, passphrase = ''): string {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', name, '-f', file]);
  return file;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startSshd(): Promise<Sshd> {
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ssv-sshd-'));
  const hostKey = keygen(dir, 'host_ed25519');
  const clientKey = keygen(dir, 'client_ed25519');
  chmodSync(clientKey, 0o600);
  const authorized = path.join(dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${clientKey}.pub`, 'utf8'));
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  writeFileSync(config, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorized}`, 'StrictModes no', 'PermitRootLogin yes', 'UsePAM no', 'PasswordAuthentication no',
    'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes', 'MaxStartups 100', 'MaxSessions 100', 'Subsystem sftp internal-sftp',
  ].join('\n') + '\n');
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`sshd did not start:\n${log}`)), 15_000);
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => reject(new Error(`sshd exited:\n${log}`)));
  });
  child.stderr!.resume();
  const pub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    dir,
    port,
    clientKey,
    knownHostsLine: () => `[127.0.0.1]:${port} ${pub}`,
    addKey(name, passphrase) {
      const file = keygen(dir, name, passphrase);
      chmodSync(file, 0o600);
      writeFileSync(authorized, readFileSync(`${file}.pub`, 'utf8'), { flag: 'a' });
      return file;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
