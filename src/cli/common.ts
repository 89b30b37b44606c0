import * as path from 'node:path';
import { LocalReplica } from '../replica/local/localReplica';
import type { Replica } from '../replica/replica';
import { openPeer, openPeerLazily, peerKey as keyOfPeer } from '../replica/open';
import type { SshReplicaOpenOptions } from '../replica/ssh';
import type { SessionConfig } from '../session/config';
import type { SyncSummary } from '../session/events';
import { defaultStateDir } from '../session/stateFile';
import { SyncSession } from '../session/syncSession';
import { usage, type FlagSpec, type ParsedArgs } from './args';
import { askSecretOnTty } from './prompt';

export const EXIT = { ok: 0, failure: 1, usage: 2, conflicts: 3, interrupted: 130 } as const;
export interface Io {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

export const COMMON: Record<string, FlagSpec> = {
  name: { type: 'string' },
  identity: { type: 'list' },
  port: { type: 'number' },
  'ssh-config': { type: 'string' },
  'known-hosts': { type: 'string' },
  'accept-new-host-key': { type: 'boolean' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean' },
};

export function stateDirOf(flags: Map<string, string | boolean | number>, io: Io): string {
  const dir = flags.get('state-dir') as string | undefined;
  return dir ? path.resolve(io.cwd, dir) : defaultStateDir(io.env);
}

export function peerKey(peerArg: string, io: Io): string {
  if (peerArg.trim() === '') throw usage('<peer> is empty');
  return keyOfPeer(peerArg, io.cwd);
}

export function sshOptions(args: ParsedArgs, io: Io): SshReplicaOpenOptions {
  const file = (name: string) => {
    const value = args.flags.get(name) as string | undefined;
    return value === undefined ? undefined : path.resolve(io.cwd, value);
  };
  const identities = args.ordered.filter((o) => o.name === 'identity').map((o) => path.resolve(io.cwd, o.value));
  return {
    identityFiles: identities.length ? identities : undefined,
    port: args.flags.get('port') as number | undefined,
    sshConfigFile: file('ssh-config'),
    knownHostsFile: file('known-hosts'),
    acceptNewHostKey: !!args.flags.get('accept-new-host-key'),
    askSecret: askSecretOnTty,
    // What each server offers (node for the helper) is remembered beside the snapshots.
    stateDir: stateDirOf(args.flags, io),
    // SSH_SYNC_DEBUG=1: what the SSH layer does (connection, tier, helper), on stderr; never secrets.
    debug: io.env.SSH_SYNC_DEBUG ? (message: string) => io.stderr.write(`debug: ${message}\n`) : undefined,
  };
}

export interface OpenSession {
  readonly session: SyncSession;
  /** Opens the peer again (after a lost connection). */
  readonly reconnect: () => Promise<Replica>;
  close(): Promise<void>;
}

export async function openSession(config: SessionConfig, peerArg: string, args: ParsedArgs, io: Io): Promise<OpenSession> {
  const open = () => openPeer(peerArg, { cwd: io.cwd, ssh: sshOptions(args, io) });
  // Connected on first use: a one-way run with nothing to do never connects.
  const replica = openPeerLazily(peerArg, { cwd: io.cwd, ssh: sshOptions(args, io) });
  const local = new LocalReplica(config.localRoot);
  const session = new SyncSession(config, { local, remote: replica });
  return { session, reconnect: open, close: async () => void (await Promise.all([local.close(), session.sides.remote.close()])) };
}

export function exitCode(s: SyncSummary): number {
  if (s.halted || s.failed > 0 || s.problems > 0) return EXIT.failure;
  if (s.conflicts > 0) return EXIT.conflicts;
  return EXIT.ok;
}
