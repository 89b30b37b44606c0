import type { Client, SFTPWrapper } from 'ssh2';
import { SyncError } from '../../errors';
import { parseSshAddress, type SshAddress } from './address';
import { connectSsh, type SshConnectOptions } from './connect';
import { Sftp, toSyncError } from './sftpClient';
import { chooseHelper, type HelperChoice } from './helperChoice';
import { ProbeCache } from './probeCache';
import { spawnOver, type HelperKind } from './remoteHelper';
import { SshReplica, type ExecResult } from './sshReplica';

export { parseSshAddress, type SshAddress } from './address';
export type { SshConnectOptions } from './connect';
export { SshReplica, SSH_MTIME_TOLERANCE_MS } from './sshReplica';
export type { HelperKind } from './remoteHelper';

export interface SshReplicaOpenOptions extends SshConnectOptions {
  /** Allow running commands (`sha256sum`) on the server; default true. SFTP-only servers are detected. */
  readonly allowExec?: boolean;
  /**
   * The capability ladder, probed once per connection. 'auto' (default): a helper run over exec where
   * the server allows commands and has node >= 14 (or GNU find), else plain SFTP. 'helper' insists (a
   * server without one is an error); 'sftp' never runs the helper.
   */
  readonly tier?: 'auto' | 'helper' | 'sftp';
  /** Which helper may be used: 'node' (listing, hashing, watching), 'find' (listing only), or 'auto'. */
  readonly helperRuntime?: 'auto' | HelperKind;
  /**
   * The client's state directory (the CLI's --state-dir, the extension's storage): what the capability
   * probe found on each server is remembered there, so that later runs skip the probe's exec. Without
   * it every connection probes.
   */
  readonly stateDir?: string;
}

/** Connects to an ssh address and returns the remote folder as a Replica (its `description` is the address). */
export async function openSshReplica(address: string, options: SshReplicaOpenOptions = {}): Promise<SshReplica> {
  const parsed = parseSshAddress(address);
  if (!parsed) throw new SyncError('Usage', `'${address}' is not an ssh address (expected [user@]host[:port]:/path or ssh://user@host:port/path)`);
  const conn = await connectSsh({ host: parsed.host, user: parsed.user, port: parsed.port }, options);
  let probing: Promise<HelperChoice | string> | undefined;
  try {
    const tier = options.tier ?? 'auto';
    if (tier === 'helper' && options.allowExec === false) throw new SyncError('Usage', 'the helper tier needs commands on the server (allowExec is false)');
    const spawn = options.allowExec === false ? undefined : spawnOver(conn.client);
    const opening = openSftp(conn.client).then((raw) => new Sftp(raw));
    const cache = options.stateDir ? ProbeCache.for(options.stateDir, { host: conn.settings.hostname, port: conn.settings.port, user: conn.settings.user, hostKey: conn.hostKey }) : undefined;
    // Choosing starts at once: a probe's command (or the check of a remembered helper) overlaps opening
    // SFTP and finding the root.
    probing = spawn && tier !== 'sftp' ? chooseHelper(spawn, opening, { want: options.helperRuntime ?? 'auto', insist: tier === 'helper', label: address, cache, debug: options.debug }) : undefined;
    const sftp = await opening;
    const root = await resolveRoot(sftp, parsed);
    let helper: HelperChoice | undefined;
    if (probing) {
      const found = await probing;
      if (typeof found !== 'string') helper = found;
      else if (tier === 'helper') throw new SyncError('Usage', `${address}: the helper tier is not available on this server: ${found}`);
      else options.debug?.(`${address}: using plain SFTP (${found})`);
    }
    return new SshReplica(sftp, root, address, {
      exec: options.allowExec === false ? undefined : (command) => exec(conn.client, command),
      onClose: () => conn.close(),
      spawn,
      helper: helper?.runtime,
      helperCheck: helper?.check,
      debug: options.debug,
    });
  } catch (err) {
    // A probe still running ends with the connection; its outcome no longer matters.
    probing?.catch(() => undefined);
    await conn.close();
    throw err;
  }
}

function openSftp(client: Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) =>
    client.sftp((err, sftp) => (err ? reject(new SyncError('ConnectionLost', `the server refused the SFTP subsystem: ${err.message}`)) : resolve(sftp))),
  );
}

/** The root as an absolute remote path; `~` is the login directory. */
async function resolveRoot(sftp: Sftp, address: SshAddress): Promise<string> {
  let path = address.path;
  if (path === '~' || path.startsWith('~/')) {
    const home = await sftp.realpath('.').catch((err) => {
      throw toSyncError(err, `cannot find the remote home directory for ${address.original}`);
    });
    path = home.replace(/\/+$/, '') + path.slice(1);
  }
  path = path.replace(/\/+/g, '/');
  return path.length > 1 ? path.replace(/\/$/, '') : path;
}

function exec(client: Client, command: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    try {
      client.exec(command, (err, stream) => {
        if (err) return reject(err);
        const out: Buffer[] = [];
        let size = 0;
        stream.on('data', (d: Buffer) => {
          if ((size += d.length) < 1 << 20) out.push(d);
        });
        stream.stderr.resume();
        stream.on('close', (code: number | null) => resolve({ code: code ?? null, stdout: Buffer.concat(out).toString('utf8') }));
        stream.on('error', reject);
        stream.end();
      });
    } catch (err) {
      reject(err);
    }
  });
}
