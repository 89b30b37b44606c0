import type { RelPath } from './path';

/**
 * What one side holds at one path at one moment. Absent means no entry (undefined in a Tree).
 * Errors found while scanning are entries too (`problem`): one unreadable file never stops a sync.
 */
export type Entry = FileEntry | DirEntry | SymlinkEntry | ProblemEntry;

/** Identity and ownership a side may know; `ino`/`dev` only where the side has stable inode numbers. */
export interface Identity {
  readonly uid?: number;
  readonly gid?: number;
  readonly ino?: number;
  readonly dev?: number;
}

export interface FileEntry extends Identity {
  readonly kind: 'file';
  readonly size: number;
  readonly mtimeMs: number;
  /** Permission bits only (0o7777). */
  readonly mode: number;
  /** Hex SHA-256 of the content, when it has been computed. */
  readonly hash?: string;
}

export interface DirEntry extends Identity {
  readonly kind: 'dir';
  readonly mode: number;
  readonly mtimeMs: number;
}

export interface SymlinkEntry extends Identity {
  readonly kind: 'symlink';
  readonly target: string;
  readonly mtimeMs: number;
}

export interface ProblemEntry {
  readonly kind: 'problem';
  readonly message: string;
}

export type SyncableEntry = FileEntry | DirEntry | SymlinkEntry;

/** One side's view of its root at one moment. */
export type Tree = Map<RelPath, Entry>;

/** Metadata a writer applies to what it creates. */
export interface Metadata {
  readonly mtimeMs?: number;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

export function isSyncable(entry: Entry | undefined): entry is SyncableEntry {
  return entry !== undefined && entry.kind !== 'problem';
}

/**
 * True when the content-bearing part of two observations of the same side is equal: kind, and for a
 * file its size and mtime, for a symlink its target. This is the fingerprint test, not a content test:
 * see `sameContent` for comparing two different sides.
 */
export function sameFingerprint(a: SyncableEntry, b: SyncableEntry): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'file': {
      const f = b as FileEntry;
      return a.size === f.size && a.mtimeMs === f.mtimeMs;
    }
    case 'symlink':
      return a.target === (b as SymlinkEntry).target;
    case 'dir':
      return true;
  }
}

/**
 * True when the metadata a sync carries is equal: mode, and owner/group (content aside). With
 * `preserve`, only what is preserved counts: an owner change on a side that does not preserve owners is
 * no change at all (and so never a conflict).
 */
export function sameMetadata(a: SyncableEntry, b: SyncableEntry, preserve: { readonly mode: boolean; readonly owner: boolean } = { mode: true, owner: true }): boolean {
  if (a.kind === 'symlink' || b.kind === 'symlink') return true;
  if (preserve.mode && (a.mode ?? 0) !== (b.mode ?? 0)) return false;
  return !preserve.owner || (a.uid === b.uid && a.gid === b.gid);
}

/**
 * Content equality across sides. Files: same size and same hash (never size and mtime alone: two
 * different 3-byte files written in the same second are different). Returns undefined when it cannot
 * be decided without hashes that are missing.
 */
export function sameContent(a: SyncableEntry, b: SyncableEntry): boolean | undefined {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'dir':
      return true;
    case 'symlink':
      return a.target === (b as SymlinkEntry).target;
    case 'file': {
      const f = b as FileEntry;
      if (a.size !== f.size) return false;
      if (a.hash === undefined || f.hash === undefined) return undefined;
      return a.hash === f.hash;
    }
  }
}

/** A copy of an entry without the fields that only make sense on the side it was seen on. */
export function withoutHash<T extends Entry>(entry: T): T {
  if (entry.kind !== 'file' || entry.hash === undefined) return entry;
  const { hash: _hash, ...rest } = entry;
  return rest as T;
}

export function describeKind(entry: Entry | undefined): string {
  if (!entry) return 'absent';
  return entry.kind === 'symlink' ? 'symbolic link' : entry.kind === 'dir' ? 'directory' : entry.kind;
}
