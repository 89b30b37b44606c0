import type { Readable } from 'node:stream';
import type { DirEntry, Entry, FileEntry, Metadata, SymlinkEntry, SyncableEntry, Tree } from '../engine/entry';
import type { Filter } from '../engine/filter';
import type { RelPath } from '../engine/path';
import type { Expectation } from '../engine/plan';
import type { SymlinkMode } from '../engine/policy';

/** How a side finds its entries and changes; shown to the user (status, --json). */
export type Tier = 'local' | 'helper' | 'sftp';

export interface WatchOptions {
  readonly filter: Filter;
  /** Seconds between full listings where the side has no change events (SFTP-only servers). */
  readonly pollSeconds: number;
}

/**
 * Change notifications from one side. `paths` are the paths that may have changed (a created,
 * modified or deleted entry, or a renamed one under both names); 'overflow' means events were lost and
 * the whole side must be rescanned. Errors are reported, and the watcher keeps going where it can.
 */
export interface WatchListener {
  onChange(paths: RelPath[] | 'overflow'): void;
  onError(error: Error): void;
}

export interface Watcher {
  /** How changes are found: 'events' (inotify and the like) or 'poll'. */
  readonly method: 'events' | 'poll';
  close(): Promise<void>;
}

/**
 * A small file read whole. Bytes read on another thread come with their SHA-256, taken there as they
 * were read: the writer checks what it sends or receives against it (see Replica.writeFile).
 */
export interface SmallRead {
  readonly data: Buffer;
  readonly sha256?: string;
}

export interface ScanOptions {
  readonly filter: Filter;
  readonly symlinks: SymlinkMode;
  /** Scan only this path and what lies below it (default: the whole root). */
  readonly under?: RelPath;
  /**
   * Told of each file, directory or link as the scan admits it, before the scan is over (a run can
   * start what it will need once it sees a change). Sides that list in one go may not call it.
   */
  readonly onEntry?: (path: RelPath, entry: Entry) => void;
}

/**
 * One side of a session: the only thing that touches a file system. Local folders, SSH peers and
 * in-memory test sides all implement it, so the session never knows which is which.
 *
 * Invariants every implementation keeps:
 * - Every file write goes to a temporary name in the target directory, gets its metadata, and is then
 *   renamed over the target: a reader never sees half a file.
 * - Before replacing or deleting, the target is re-checked against `expect`; when it no longer matches,
 *   the call fails with code `Changed` and touches nothing.
 * - No write follows a symlink: every parent is checked to be a real directory inside the root.
 * - Names from listings that could escape the root become `problem` entries.
 */
export interface Replica {
  /** What the user called it: a folder path or an ssh address. */
  readonly description: string;
  /** How this side lists and hashes: on this machine, through the remote helper, or SFTP alone. */
  readonly tier: Tier;
  /** Two mtimes closer than this cannot be ordered on this side. */
  readonly mtimeToleranceMs: number;

  /** True when the root exists and is a directory. */
  rootExists(): Promise<boolean>;
  /**
   * Creates the root (and its parents) if missing. True when this call made the root itself: it was
   * empty a moment ago, so a first run need not list it.
   */
  createRoot(): Promise<boolean>;

  scan(options: ScanOptions): Promise<Tree>;
  /** The entry at one path now (lstat; stat when `follow`), or undefined. */
  stat(path: RelPath, follow?: boolean): Promise<Entry | undefined>;
  /** Hex SHA-256 of a file's content. */
  hash(path: RelPath): Promise<string>;

  read(path: RelPath): Promise<Readable>;
  readSymlink(path: RelPath): Promise<string>;
  /**
   * True when writeFile usually returns the SHA-256 of the bytes written as the entry's `hash`, computed
   * where the data lands (a remote helper, on the server's CPU): the caller then need not hash while
   * sending. Any one write may still come back without it.
   */
  readonly hashesWrites?: boolean;
  /**
   * A peer that connects on first use may start connecting now, without waiting, and then scanning
   * with `prefetch` (the next scan() with the same options gets that scan) (see LazyReplica).
   */
  connectEarly?(prefetch?: ScanOptions): void;
  /**
   * Writes are coming: start, without waiting, what writing needs and takes a while to get going (the
   * SSH peer's write stream: a command on the server). Nothing happens if nothing is written after all,
   * but the cost of that start.
   */
  prepareWrites?(): void;
  /**
   * Writes `data` to `path` through a temp file. `beforeCommit` runs after the data is written and
   * before the rename (the caller checks there that its source did not change while being read).
   * `sha256`, when given, is the hash the data had where it was read: a target that hashes what it
   * receives (the remote helper) puts nothing else in place (code `Io`), so bytes mixed up between the
   * read and the write never land.
   */
  writeFile(path: RelPath, data: Readable | Buffer, meta: Metadata, expect: Expectation, beforeCommit?: () => Promise<void>, sha256?: string): Promise<FileEntry>;
  /**
   * The whole content of a file of at most `limit` bytes, in one piece; undefined when it is bigger
   * (read() it). Most files of a tree are small: this spares each of them a stream.
   */
  readSmall?(path: RelPath, limit: number): Promise<SmallRead | undefined>;
  writeSymlink(path: RelPath, target: string, expect: Expectation): Promise<SymlinkEntry>;
  mkdir(path: RelPath, meta: Metadata): Promise<DirEntry>;
  setMetadata(path: RelPath, meta: Metadata, expect: SyncableEntry): Promise<SyncableEntry>;
  /** Deletes a file, symlink or empty directory that still matches `expect`. */
  remove(path: RelPath, expect: SyncableEntry): Promise<void>;
  /** Renames within the side; fails with `Changed` if `to` exists. */
  rename(from: RelPath, to: RelPath, expect: SyncableEntry): Promise<void>;

  /**
   * Copies `from` (which must still match `fromExpect`) to a new file at `to` within this side, through
   * a temp file whose content hash must be `expectHash` before it is put in place: for content this side
   * already holds. Absent where the side cannot copy cheaply.
   */
  copyWithin?(from: RelPath, to: RelPath, fromExpect: FileEntry, meta: Metadata, expectHash: string): Promise<FileEntry>;

  /**
   * True when names here ignore case ('README.md' and 'Readme.md' are one file): probed at the root
   * with a temp file (see caseProbe.ts); the session asks once. Absent: taken as case-sensitive.
   */
  caseInsensitive?(): Promise<boolean>;
  /**
   * The names in one directory as stored (NFC, temp files left out): tells under which case a name
   * found by a lookup is really stored on a case-insensitive side.
   */
  listNames?(dir: RelPath): Promise<string[]>;

  /** Starts watching the root for changes (continuous mode). */
  watch(options: WatchOptions, listener: WatchListener): Promise<Watcher>;

  close(): Promise<void>;
}
