import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** A case's folders: `local`, `remote` (a path on this machine that a test sshd serves) and its state dir. */
export interface FolderPair {
  /** The case's own folder, holding the others (and anything else the case needs). */
  readonly dir: string;
  readonly local: string;
  readonly remote: string;
  readonly state: string;
}

/**
 * Makes a fresh pair of folders per call, `case-1`, `case-2`, … under `work()` (called each time: the
 * work dir is usually made in a `before` hook). With `owner`, the remote folder belongs to that user
 * and others may reach it (a non-root login writes there).
 */
export function folderPairs(work: () => string, options: { owner?: string } = {}): () => Promise<FolderPair> {
  let n = 0;
  return async () => {
    const dir = path.join(work(), `case-${++n}`);
    const local = path.join(dir, 'local');
    const remote = path.join(dir, 'remote');
    await fs.mkdir(local, { recursive: true });
    await fs.mkdir(remote, { recursive: true, mode: 0o755 });
    if (options.owner) execFileSync('chown', [`${options.owner}:${options.owner}`, remote]);
    return { dir, local, remote, state: path.join(dir, 'state') };
  };
}
