// Command lines of ssh-sync and its peers against the private sshd, and how bytes on the wire are read
// back from each: ssh-sync through a preloaded socket counter (netcount.cjs), OpenSSH clients through
// their own "Transferred: sent N, received M bytes" line (LogLevel=VERBOSE).
import { readFileSync, rmSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');
export const CIPHER = 'aes128-gcm@openssh.com';

export function makeTools(ctx) {
  const { sshd, work, timeoutMs } = ctx;
  const dest = `${sshd.user}@127.0.0.1`;
  const sshOpts = ['-i', sshd.key, '-p', String(sshd.port), '-F', '/dev/null', '-o', `UserKnownHostsFile=${sshd.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'Compression=no', '-o', 'LogLevel=VERBOSE', '-c', CIPHER];
  const sshCmd = ['ssh', ...sshOpts].join(' ');
  let seq = 0;

  function fromSshClient(r) {
    let sent = 0, received = 0, connections = 0;
    for (const m of r.stderr.matchAll(/Transferred: sent (\d+), received (\d+) bytes/g)) { sent += Number(m[1]); received += Number(m[2]); connections++; }
    return connections ? { sent, received, connections } : undefined;
  }

  async function measured(tool, argv, opts = {}) {
    const mark = sshd.mark();
    const r = await run(argv, { timeoutMs, ...opts });
    const log = sshd.logSince(mark);
    r.sshdConnections = (log.match(/Accepted publickey for /g) || []).length;
    r.tool = tool;
    return r;
  }

  return {
    sshCmd, sshOpts, dest,
    /** ssh-sync sync|watch. extra: more CLI args. Returns run result + summary + net. */
    async sshSync(local, remote, { direction = 'push', name, extra = [], cpuProfDir } = {}) {
      const netFile = path.join(work, `netcount-${process.pid}-${++seq}`);
      rmSync(netFile, { force: true });
      const argv = ['node', ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []), path.join(REPO, 'bin', 'ssh-sync.js'), 'sync', local,
        `${dest}:${sshd.port}:${remote}`, '--direction', direction, '--identity', sshd.key, '--known-hosts', sshd.knownHosts,
        '--ssh-config', '/dev/null', '--state-dir', ctx.stateDir, '--name', name, '--json', '--quiet', ...extra];
      const r = await measured('ssh-sync', argv, { env: sshSyncEnv(ctx, netFile) });
      r.net = readNet(netFile);
      const last = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l); } catch { return {}; } }).filter((o) => o.type === 'summary').at(-1);
      r.summary = last;
      return r;
    },
    async rsync(local, remote) {
      const r = await measured('rsync', ['rsync', '-a', '--delete', '-e', sshCmd, `${local}/`, `${dest}:${remote}/`]);
      r.net = fromSshClient(r);
      return r;
    },
    /** scp -r into a remote folder that must not exist yet (scp creates it as a copy of `local`). */
    async scp(local, remote) {
      const r = await measured('scp', ['scp', '-r', ...sshOpts.map((o) => (o === '-p' ? '-P' : o)), local, `${dest}:${remote}`]);
      r.net = fromSshClient(r);
      return r;
    },
    /** `cat file | ssh host 'cat >/dev/null'`: the link limit with the same cipher. */
    async sshCat(file) {
      const r = await measured('ssh cat', `cat '${file}' | ${sshCmd} ${dest} 'cat >/dev/null'`, { shell: true });
      r.net = fromSshClient(r);
      return r;
    },
    async unison(local, remote) {
      const archives = path.join(work, 'unison-archives');
      const sshargs = sshOpts.filter((o) => o !== '-F' && o !== '/dev/null').join(' ');
      const argv = ['unison', local, `ssh://${dest}:${sshd.port}/${remote}`, '-batch', '-ui', 'text', '-silent',
        '-ignore', 'Name .ssh-sync-marker.json', // ssh-sync's own loop-refusal marker in the local root
        '-sshargs', `-F /dev/null ${sshargs.replace(/-p \d+ ?/, '')}`, '-servercmd', `env UNISON=${archives} unison`];
      const r = await measured('unison', argv, { env: { ...process.env, UNISON: archives } });
      r.net = fromSshClient(r);
      return r;
    },
  };
}

export function sshSyncEnv(ctx, netFile) {
  const preload = [`--require ${path.join(here, 'netcount.cjs')}`];
  if (ctx.nodelayShim) preload.push(`--require ${path.join(here, 'nodelay-shim.cjs')}`);
  return { ...process.env, NODE_OPTIONS: [process.env.NODE_OPTIONS ?? '', ...preload].join(' ').trim(), BENCH_NETCOUNT: netFile };
}

export function readNet(file) {
  if (!existsSync(file)) return undefined;
  const rows = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  rmSync(file, { force: true });
  return rows.reduce((a, r) => ({ sent: a.sent + r.sent, received: a.received + r.received, connections: a.connections + r.connections }), { sent: 0, received: 0, connections: 0 });
}
