import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as nodePath from 'node:path';

/**
 * A private OpenSSH server for tests: its own host key, config and authorized_keys in a temp dir, on
 * 127.0.0.1 and a free port. Never touches the system sshd.
 */
export const SSHD = '/usr/sbin/sshd';
export const TEST_USER = 'sshsynctest';
/**
 * A second non-root user, made the same way, for a test file that changes what is in the user's home
 * (the helper under ~/.cache/ssh-sync): test files run in parallel, and no other one logs in as this
 * user, so none of them sees those changes.
 */
export const TEST_USER_2 = 'sshsynctest2';
export const TEST_PASSWORD = 'Sync-' + 'test-pw-1';

export interface SshdOptions {
  readonly passwordAuth?: boolean;
  /** ForceCommand internal-sftp: no exec, no shell. */
  readonly sftpOnly?: boolean;
  /** Extra sshd_config lines. */
  readonly extraConfig?: readonly string[];
}

export interface KeyPair {
  readonly privateKey: string;
  readonly publicLine: string;
}

export interface SshdFixture {
  readonly dir: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `ssh-ed25519 AAAA...` */
  readonly hostKeyLine: string;
  readonly hostKeyBlob: Buffer;
  /** An unencrypted client key authorized for every user. */
  readonly clientKey: KeyPair;
  /** Kills the per-connection sshd processes (the listener stays up): a connection cut mid-session. */
  killSessions(): number;
  /**
   * Like `killSessions`, for the connections of one user only: a connection is cut only when every
   * process of it is sshd itself or runs as `user`, so a session running anything else (a root shell
   * sourcing its start-up files, say) is never killed half-way. Returns the number of processes killed.
   */
  killSessionsOf(user: string): number;
  /**
   * The live processes of `user`'s connections to this server: the listener's descendants (as
   * `killSessionsOf` picks them), and commands of such sessions that outlived them (re-parented; known
   * by the SSH_CONNECTION sshd gave them, which names this server's port).
   */
  sessionProcessesOf(user: string): number[];
  /** What sshd logged (LogLevel VERBOSE) since it listened: one line per session started, say. */
  log(): string;
  authorize(publicLine: string): void;
  /** `[127.0.0.1]:port type key`, hashed (`|1|salt|hash`) when asked. */
  knownHostsLine(hashed?: boolean): string;
  /** Writes a known_hosts file knowing this server (in the fixture dir unless a path is given). */
  writeKnownHosts(options?: { hashed?: boolean; file?: string; extraLines?: readonly string[] }): string;
  stop(): Promise<void>;
}

export function sshdAvailable(): boolean {
  return existsSync(SSHD) && existsSync('/usr/bin/ssh-keygen');
}

export function generateKey(dir: string, name: string, options: { passphrase?: string; type?: string } = {}): KeyPair {
  const file = nodePath.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', options.type ?? 'ed25519', '-N', options.passphrase ?? '', '-C', name, '-f', file]);
  return { privateKey: file, publicLine: readFileSync(`${file}.pub`, 'utf8').trim() };
}

/** Creates (once) a non-root user with a known password, for permission and password tests. */
export function ensureTestUser(user: string = TEST_USER): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('id', [user], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('useradd', ['-m', '-s', '/bin/sh', user], { stdio: 'ignore' });
    } catch {
      // Another test file may have created it meanwhile.
      if (!userExists(user)) return false;
    }
  }
  try {
    // A password also unlocks the account: sshd without PAM refuses locked ('!') accounts even for keys.
    execFileSync('chpasswd', [], { input: `${user}:${TEST_PASSWORD}\n`, stdio: ['pipe', 'ignore', 'ignore'] });
    return true;
  } catch {
    return false;
  }
}

function userExists(user: string): boolean {
  try {
    execFileSync('id', [user], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A user's home directory, as the system has it. */
export function homeOf(user: string): string {
  return execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).split(':')[5];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export async function startSshd(options: SshdOptions = {}): Promise<SshdFixture> {
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(nodePath.join(os.tmpdir(), 'ssh-sync-sshd-'));
  chmodSync(dir, 0o755); // non-root users must read authorized_keys here
  const hostKey = generateKey(dir, 'host_ed25519');
  const clientKey = generateKey(dir, 'client_ed25519');
  chmodSync(clientKey.privateKey, 0o600);
  const authorizedKeys = nodePath.join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, clientKey.publicLine + '\n', { mode: 0o644 });
  const hostKeyBlob = Buffer.from(hostKey.publicLine.split(/\s+/)[1], 'base64');

  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; attempt < 5 && !child; attempt++) {
    port = await freePort();
    const config = [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey.privateKey}`,
      `PidFile ${nodePath.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'StrictModes no',
      'PermitRootLogin yes',
      'UsePAM no',
      `PasswordAuthentication ${options.passwordAuth ? 'yes' : 'no'}`,
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'AllowTcpForwarding yes',
      'MaxStartups 100',
      'MaxSessions 100',
      'LogLevel VERBOSE',
      'Subsystem sftp internal-sftp',
      ...(options.extraConfig ?? []),
      ...(options.sftpOnly ? ['ForceCommand internal-sftp'] : []),
    ];
    const configFile = nodePath.join(dir, 'sshd_config');
    writeFileSync(configFile, config.join('\n') + '\n');
    const proc = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (await listening(proc, port)) child = proc;
    else proc.kill();
  }
  if (!child) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error('sshd did not start (see its log above)');
  }
  const running = child;
  let logText = '';
  running.stderr!.on('data', (d: Buffer) => (logText += d.toString()));

  const sessionProcessesOf = (user: string): number[] => {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    // One `ps` for the whole table (cheaper than a pgrep per level when cutting many times); zombies
    // (killed, not yet reaped) are gone already.
    const procs = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,uid=,stat=,comm='], { encoding: 'utf8' })
      .split('\n')
      .map((line) => /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && !m[4].startsWith('Z'))
      .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), uid: Number(m[3]), comm: m[5].trim() }));
    const tree = (pid: number): typeof procs => procs.filter((p) => p.ppid === pid).flatMap((p) => [p, ...tree(p.pid)]);
    const found = new Set<number>();
    for (const connection of procs.filter((p) => p.ppid === running.pid)) {
      const members = [connection, ...tree(connection.pid)];
      // Anything run as someone else (a root shell sourcing its start-up files, say) is not ours to cut.
      if (members.every((p) => p.uid === uid || /^sshd/.test(p.comm))) for (const p of members) found.add(p.pid);
    }
    for (const p of procs) {
      if (p.uid !== uid || found.has(p.pid)) continue;
      let env = '';
      try {
        env = readFileSync(`/proc/${p.pid}/environ`, 'latin1');
      } catch {
        continue; // exited meanwhile
      }
      const connection = env.split('\0').find((v) => v.startsWith('SSH_CONNECTION='));
      if (connection?.trim().endsWith(` 127.0.0.1 ${port}`)) found.add(p.pid);
    }
    return [...found];
  };

  const knownHostsLine = (hashed = false) => {
    const name = `[127.0.0.1]:${port}`;
    if (!hashed) return `${name} ${hostKey.publicLine.split(/\s+/).slice(0, 2).join(' ')}`;
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update(name).digest('base64');
    return `|1|${salt.toString('base64')}|${hash} ${hostKey.publicLine.split(/\s+/).slice(0, 2).join(' ')}`;
  };

  return {
    dir,
    host: '127.0.0.1',
    port,
    hostKeyLine: hostKey.publicLine.split(/\s+/).slice(0, 2).join(' '),
    hostKeyBlob,
    clientKey,
    killSessions() {
      // Every descendant of the listener: the privileged monitor and the session process that holds
      // the socket. Killing only the monitor leaves a silent half-dead connection instead of a cut.
      const children = (pid: number): number[] => {
        try {
          const out = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
          return out.flatMap((c) => [c, ...children(c)]);
        } catch {
          return []; // pgrep exits 1 when nothing matches
        }
      };
      const pids = children(running.pid!);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      return pids.length;
    },
    killSessionsOf(user) {
      // Two sweeps: a command the session was starting as the first one ran may have missed it.
      let killed = 0;
      for (let sweep = 0; sweep < 2; sweep++) {
        for (const pid of sessionProcessesOf(user)) {
          try {
            process.kill(pid, 'SIGKILL');
            killed++;
          } catch {
            // already gone
          }
        }
      }
      return killed;
    },
    sessionProcessesOf: (user) => sessionProcessesOf(user),
    log: () => logText,
    authorize(publicLine) {
      writeFileSync(authorizedKeys, publicLine + '\n', { flag: 'a' });
    },
    knownHostsLine,
    writeKnownHosts({ hashed = false, file = nodePath.join(dir, `known_hosts.${randomBytes(3).toString('hex')}`), extraLines = [] } = {}) {
      writeFileSync(file, [...extraLines, knownHostsLine(hashed)].join('\n') + '\n');
      return file;
    },
    async stop() {
      if (running.exitCode === null && running.signalCode === null) {
        const exited = new Promise((resolve) => running.once('exit', resolve));
        running.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves true once sshd logs that it listens on `port`, false if it exits first. */
function listening(proc: ChildProcess, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let log = '';
    const timer = setTimeout(() => finish(false), 15_000);
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      proc.stderr!.removeListener('data', onData);
      proc.removeListener('exit', onExit);
      if (!ok) process.stderr.write(`sshd failed:\n${log}\n`);
      else proc.stderr!.resume(); // keep draining so sshd never blocks on a full pipe
      resolve(ok);
    };
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) finish(true);
    };
    const onExit = () => finish(false);
    proc.stderr!.on('data', onData);
    proc.once('exit', onExit);
  });
}

/** Writes an ssh client config (one `Host` block per entry) and returns its path. */
export function writeClientConfig(dir: string, hosts: readonly { alias: string; lines: readonly string[] }[], preamble: readonly string[] = []): string {
  const file = nodePath.join(dir, `ssh_config.${randomBytes(3).toString('hex')}`);
  const text = [...preamble, ...hosts.flatMap((h) => [`Host ${h.alias}`, ...h.lines.map((l) => `  ${l}`)])].join('\n') + '\n';
  writeFileSync(file, text);
  return file;
}
