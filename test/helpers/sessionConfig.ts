import * as path from 'node:path';
import type { Direction } from '../../src/engine/policy';
import { DEFAULT_PRESERVE, type SessionConfig } from '../../src/session/config';

/**
 * A session between two folders of this machine, its state in `root`/state, with the CLI's defaults:
 * deletions replicated, links copied, times preserved, no filters; a bidi session never overwrites.
 */
export function folderSession(root: string, localRoot: string, peer: string, direction: Direction): SessionConfig {
  return {
    localRoot,
    peer,
    direction,
    overwrite: direction === 'bidi' ? 'never' : 'always',
    deletes: true,
    symlinks: 'copy',
    preserve: DEFAULT_PRESERVE,
    filters: [],
    stateDir: path.join(root, 'state'),
  };
}
