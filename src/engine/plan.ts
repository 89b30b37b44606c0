import type { BaseRecord } from './base';
import type { DirEntry, Entry, FileEntry, SymlinkEntry, SyncableEntry } from './entry';
import type { RelPath } from './path';
import type { Side } from './policy';

/**
 * What the target is expected to hold right before an action touches it, as seen by the scan.
 * `undefined` means "nothing there". The executor re-checks it and refuses when it no longer holds.
 */
export type Expectation = SyncableEntry | undefined;

export type Action = CopyAction | MkdirAction | DeleteAction | SetMetaAction | RenameAction | CloneAction;

/** Create or replace a file or symlink on `to` with the other side's version. */
export interface CopyAction {
  readonly kind: 'copy';
  readonly path: RelPath;
  readonly to: Side;
  readonly source: FileEntry | SymlinkEntry;
  readonly expect: Expectation;
}

export interface MkdirAction {
  readonly kind: 'mkdir';
  readonly path: RelPath;
  readonly to: Side;
  readonly source: DirEntry;
}

export interface DeleteAction {
  readonly kind: 'delete';
  readonly path: RelPath;
  readonly to: Side;
  readonly expect: SyncableEntry;
  /**
   * True when the path is only cleared to make room for a different type on the same path; the
   * matching copy/mkdir follows and the base is updated by it.
   */
  readonly replaced?: boolean;
}

/** Replay on `to` a rename the other side made: `from` moves to `path`, a whole directory in one step. */
export interface RenameAction {
  readonly kind: 'rename';
  readonly from: RelPath;
  readonly path: RelPath;
  readonly to: Side;
  readonly expect: SyncableEntry;
}

/**
 * Create `path` on `to` by copying `from`, which `to` already holds with the same content as the other
 * side's new file at `path`: nothing is sent over the network.
 */
export interface CloneAction {
  readonly kind: 'clone';
  readonly path: RelPath;
  readonly from: RelPath;
  readonly to: Side;
  /** The new file on the other side (with its hash). */
  readonly source: FileEntry;
  /** What `to` holds at `from` (checked before copying). */
  readonly fromExpect: FileEntry;
}

/** Apply mode/ownership/mtime of `source` to an existing entry with the same content. */
export interface SetMetaAction {
  readonly kind: 'setmeta';
  readonly path: RelPath;
  readonly to: Side;
  readonly source: SyncableEntry;
  readonly expect: SyncableEntry;
}

export type ConflictKind =
  | 'both-modified'
  | 'modified-vs-deleted'
  | 'both-created'
  | 'type-clash'
  | 'undeterminable';

export interface Conflict {
  readonly path: RelPath;
  readonly kind: ConflictKind;
  readonly local?: Entry;
  readonly remote?: Entry;
}

export interface Skip {
  readonly path: RelPath;
  readonly reason: string;
}

export interface HashRequest {
  readonly path: RelPath;
  readonly side: Side;
}

export interface Plan {
  /** In execution order: renames, deletions deepest first, directories parent first, then the rest. */
  readonly actions: Action[];
  /** Paths where both sides already agree: the base is set without any I/O. */
  readonly agreements: Map<RelPath, BaseRecord>;
  /** Paths gone from both sides: dropped from the base. */
  readonly forgets: RelPath[];
  readonly conflicts: Conflict[];
  readonly skips: Skip[];
  /** Paths reported as problems by a scan; nothing at or under them is touched. */
  readonly problems: { path: RelPath; side: Side; message: string }[];
  /**
   * Content hashes the decision needs and the trees lack. When non-empty the plan is incomplete: the
   * caller computes them, fills them into the trees and reconciles again.
   */
  readonly hashRequests: HashRequest[];
}
