import type { RelPath } from './path';

export type Direction = 'push' | 'pull' | 'bidi';
export type Overwrite = 'always' | 'newer' | 'never';
export type SymlinkMode = 'copy' | 'skip' | 'follow';
export type Side = 'local' | 'remote';

export interface Preserve {
  readonly times: boolean;
  readonly mode: boolean;
  readonly owner: boolean;
}

export interface ReconcilePolicy {
  readonly direction: Direction;
  readonly overwrite: Overwrite;
  /** Propagate deletions (rsync --delete). */
  readonly deletes: boolean;
  readonly preserve: Preserve;
  /** Paths the filter excludes: never compared, copied or deleted, and their base is left alone. */
  readonly isExcluded: (path: RelPath, isDir: boolean) => boolean;
  /**
   * Two mtimes closer than this cannot be ordered (SFTP carries whole seconds): with
   * `overwrite: newer` such a pair is undeterminable.
   */
  readonly mtimeToleranceMs: number;
  /**
   * Sides that can copy a file within themselves (a new file whose content that side already holds
   * is copied there instead of sent), and sides whose files can be hashed cheaply (without sending
   * them over the network). Both default to none.
   */
  readonly copyWithin?: Partial<Record<Side, boolean>>;
  readonly cheapHash?: Partial<Record<Side, boolean>>;
  /**
   * Sides whose names ignore case (two names differing only in case are one file there): names that
   * would collide there become problems (see caseClash.ts). Default: none.
   */
  readonly caseInsensitive?: Partial<Record<Side, boolean>>;
}

export function otherSide(side: Side): Side {
  return side === 'local' ? 'remote' : 'local';
}
