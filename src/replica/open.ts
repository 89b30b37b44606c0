import * as path from 'node:path';
import { LocalReplica } from './local/localReplica';
import type { Replica } from './replica';

export interface PeerOptions {
  readonly cwd: string;
}

/** A peer that is a folder on this machine: an absolute or relative path. */
export function resolveLocalPeer(peer: string, cwd: string): string {
  return path.resolve(cwd, peer);
}

/** Opens the replica for a peer argument. */
export async function openPeer(peer: string, options: PeerOptions): Promise<{ replica: Replica; key: string }> {
  const root = resolveLocalPeer(peer, options.cwd);
  return { replica: new LocalReplica(root, peer), key: root };
}
