// A private loopback OpenSSH server for the benchmark: its own host key, client key, config and
// known_hosts in a temp dir, on 127.0.0.1 and a free port. Mirrors test/helpers/sshd.ts (kept
// standalone so `npm run bench` needs no `tsc` step) and adds a log we can read back: sshd logs
// "Transferred: sent N, received M bytes" for every connection at LogLevel VERBOSE, which gives the
// bytes on the wire for any client (ssh-sync, rsync, unison, scp, ssh) without a proxy in the path.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync, statSync, readSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const SSHD = '/usr/sbin/sshd';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function keygen(dir, name) {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  chmodSync(file, 0o600);
  return { privateKey: file, publicLine: readFileSync(`${file}.pub`, 'utf8').trim() };
}

/** @param {{ciphers?: string, logLevel?: string}} opts */
export async function startSshd(opts = {}) {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} not found: install openssh-server (apt-get install -y openssh-server)`);
  try { mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); } catch { /* not root: sshd may still run */ }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ssh-sync-bench-sshd-'));
  chmodSync(dir, 0o755);
  const hostKey = keygen(dir, 'host_ed25519');
  const clientKey = keygen(dir, 'client_ed25519');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, clientKey.publicLine + '\n', { mode: 0o644 });
  const logFile = path.join(dir, 'sshd.log');
  let child;
  let port = 0;
  for (let attempt = 0; attempt < 5 && !child; attempt++) {
    port = await freePort();
    const config = [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey.privateKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'StrictModes no',
      'PermitRootLogin yes',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'AllowTcpForwarding yes',
      'MaxStartups 100',
      'MaxSessions 100',
      'Compression no',
      'UseDNS no',
      `LogLevel ${opts.logLevel ?? 'VERBOSE'}`,
      ...(opts.ciphers ? [`Ciphers ${opts.ciphers}`] : []),
      'Subsystem sftp internal-sftp',
    ];
    const configFile = path.join(dir, 'sshd_config');
    writeFileSync(configFile, config.join('\n') + '\n');
    const fd = openSync(logFile, 'a');
    const proc = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', fd] });
    closeSync(fd);
    if (await listening(proc, port, logFile)) child = proc;
    else proc.kill();
  }
  if (!child) throw new Error(`sshd did not start; its log:\n${readFileSync(logFile, 'utf8')}`);
  const hostKeyLine = hostKey.publicLine.split(/\s+/).slice(0, 2).join(' ');
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKeyLine}\n`);
  const user = os.userInfo().username;
  return {
    dir, port, user, host: '127.0.0.1', key: clientKey.privateKey, knownHosts, logFile,
    /** Byte offset of the log now: pass to `traffic` later. */
    mark() { return statSync(logFile).size; },
    /** Connections and bytes logged since `offset` (waits briefly for the per-connection lines). */
    async traffic(offset, { expectConnections } = {}) {
      let result;
      for (let i = 0; i < 40; i++) {
        result = parseTraffic(readFrom(logFile, offset));
        if (expectConnections === undefined ? i >= 2 : result.closed >= Math.min(expectConnections, result.connections) && result.closed >= result.connections) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      return result;
    },
    logSince(offset) { return readFrom(logFile, offset); },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readFrom(file, offset) {
  const size = statSync(file).size;
  if (size <= offset) return '';
  const buf = Buffer.alloc(size - offset);
  const fd = openSync(file, 'r');
  try { readSync(fd, buf, 0, buf.length, offset); } finally { closeSync(fd); }
  return buf.toString('utf8');
}

/** sshd VERBOSE log -> {connections, closed, sent (server->client), received (client->server), ciphers} */
export function parseTraffic(log) {
  let connections = 0, closed = 0, sent = 0, received = 0;
  const ciphers = new Set();
  for (const line of log.split('\n')) {
    if (/Accepted publickey for /.test(line)) connections++;
    const m = /Transferred: sent (\d+), received (\d+) bytes/.exec(line);
    if (m) { closed++; sent += Number(m[1]); received += Number(m[2]); }
    const c = /kex: client->server cipher: (\S+)/.exec(line);
    if (c) ciphers.add(c[1]);
  }
  return { connections, closed, sent, received, ciphers: [...ciphers] };
}

function listening(proc, port, logFile) {
  return new Promise((resolve) => {
    const started = Date.now();
    const tick = () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve(false);
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) return resolve(true);
      if (Date.now() - started > 15000) return resolve(false);
      setTimeout(tick, 20);
    };
    tick();
  });
}
