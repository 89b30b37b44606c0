import * as path from 'node:path';
import { LocalReplica } from './local/localReplica';
import type { Replica } from './replica';
import { LazyReplica } from './lazy';
import { openSshReplica, parseSshAddress, SSH_MTIME_TOLERANCE_MS, type SshReplicaOpenOptions } from './ssh';

export interface PeerOptions {
  readonly cwd: string;
  readonly ssh?: SshReplicaOpenOptions;
}

/**
 * What names a peer in a snapshot: the absolute folder for a local peer (so the working directory
 * does not matter), the address as written for an ssh peer. Throws a usage error for a malformed
 * ssh address.
 */
export function peerKey(peer: string, cwd: string): string {
  return parseSshAddress(peer) ? peer : path.resolve(cwd, peer);
}

export function isRemotePeer(peer: string): boolean {
  return parseSshAddress(peer) !== undefined;
}

/** Opens the replica for a peer argument: a folder on this machine, or a folder over ssh. */
export async function openPeer(peer: string, options: PeerOptions): Promise<Replica> {
  if (parseSshAddress(peer)) return openSshReplica(peer, options.ssh);
  return new LocalReplica(path.resolve(options.cwd, peer), peer);
}

/**
 * The same, connecting an ssh peer only when it is first used (an address is still checked at once,
 * so a malformed one is a usage error before anything runs).
 */
export function openPeerLazily(peer: string, options: PeerOptions): Replica {
  if (!parseSshAddress(peer)) return new LocalReplica(path.resolve(options.cwd, peer), peer);
  return new LazyReplica(peer, SSH_MTIME_TOLERANCE_MS, () => openSshReplica(peer, options.ssh));
}
