import { createHash } from 'node:crypto';
import * as fsSync from 'node:fs';
import { constants as fsConstants, createReadStream, promises as fs, type Stats } from 'node:fs';
import * as nodePath from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DirEntry, Entry, FileEntry, Metadata, SymlinkEntry, SyncableEntry, Tree } from '../../engine/entry';
import { sameFingerprint, describeKind, isSyncable } from '../../engine/entry';
import { ancestors, baseName, parentOf, ROOT, type RelPath } from '../../engine/path';
import { foldName } from '../../engine/caseClash';
import { probeCaseInsensitive } from '../caseProbe';
import type { Expectation } from '../../engine/plan';
import { fromErrno, SyncError } from '../../errors';
import { admitName } from '../listedName';
import type { Replica, ScanOptions, SmallRead, Tier, WatchListener, WatchOptions, Watcher } from '../replica';
import { watchLocal } from './localWatcher';
import { walkInParallel } from './parallelWalk';
import { batchHasher, batchReader, type PoolBatcher } from './batchHasher';
import { isStaleTemp, isTempName, tempNameFor } from '../tempName';

/** A scan lets other work run (timers, a VS Code window) after this many entries. */
const SCAN_YIELD_EVERY = 2000;

/** Files up to this size are read with one call; larger ones are streamed. */
const WHOLE_READ_MAX = 1024 * 1024;

/**
 * A folder on this machine as a sync side.
 *
 * File-system calls on metadata (lstat, readdir, mkdir, link, rename, chmod) are synchronous: each takes
 * microseconds, and the thread-pool round trip of the asynchronous API costs several times more than the
 * call itself (a scan of 100,000 files: ~0.3 s against ~1.6 s). Long loops yield now and then.
 */
export class LocalReplica implements Replica {
  readonly mtimeToleranceMs = 0;
  readonly tier: Tier = 'local';
  /** RelPath (NFC) -> on-disk relative path, only where they differ (NFD names on disk). */
  private readonly diskNames = new Map<RelPath, string>();

  /** Hashes asked for together go to worker threads together (see PoolBatcher). */
  private readonly hasher = batchHasher(hashFile);
  /** Whole reads asked together go to worker threads together, one batcher per size limit asked for. */
  private readonly readers = new Map<number, PoolBatcher<SmallRead | undefined>>();

  constructor(readonly root: string, readonly description: string = root) {}

  async rootExists(): Promise<boolean> {
    try {
      return (await fs.stat(this.root)).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw fromErrno(err, `cannot check ${this.root}`);
    }
  }

  async createRoot(): Promise<boolean> {
    // mkdir -p answers the first directory it made: the root itself made here, or a parent of it.
    return (await fs.mkdir(this.root, { recursive: true })) !== undefined;
  }

  // ---- reading --------------------------------------------------------------------------------------

  async scan(options: ScanOptions): Promise<Tree> {
    const under = options.under ?? ROOT;
    if (under === ROOT && options.symlinks !== 'follow') {
      const walked = await walkInParallel({
        root: this.root,
        filter: options.filter,
        symlinks: options.symlinks,
        noteDiskName: (path, diskRel) => this.diskNames.set(path, diskRel),
        removeStaleTemp: (diskRel, name, now) => this.removeStaleTemp(diskRel, name, now),
        statExact: (diskRel) => this.statDiskSync(diskRel, false),
        onEntry: options.onEntry,
      });
      if (walked) return walked;
    }
    return this.scanSequential(options, under);
  }

  /** The walk of one directory after another (a subtree, symlinks followed, or the file system changing under the parallel walk). */
  private async scanSequential(options: ScanOptions, under: RelPath): Promise<Tree> {
    const tree: Tree = new Map();
    const now = Date.now();
    if (under !== ROOT) {
      const entry = this.statDiskSync(this.disk(under), options.symlinks === 'follow');
      if (!entry || (entry.kind === 'symlink' && options.symlinks === 'skip')) return tree;
      tree.set(under, entry);
      if (entry.kind !== 'dir') return tree;
    }
    // Directories being walked, by dev:ino, to stop symlink cycles when following links.
    const queue: { path: RelPath; chain: Set<string> }[] = [{ path: under, chain: new Set() }];
    let sinceYield = 0;
    const walkOne = (dir: RelPath, chain: Set<string>) => {
      let names: string[];
      try {
        names = fsSync.readdirSync(this.abs(dir));
      } catch (err) {
        if (dir === ROOT) throw fromErrno(err, `cannot list ${this.root}`);
        tree.set(dir, { kind: 'problem', message: fromErrno(err, 'cannot list directory').message });
        return;
      }
      sinceYield += names.length + 1;
      const seen = new Set<RelPath>();
      const dirDisk = dir === ROOT ? '' : this.disk(dir);
      for (const name of names) {
        const diskRel = dir === ROOT ? name : `${dirDisk}/${name}`;
        if (isTempName(name)) {
          this.removeStaleTemp(diskRel, name, now);
          continue;
        }
        const listed = admitName(dir, name, seen);
        const path = listed.path;
        if (!listed.ok) {
          tree.set(path, { kind: 'problem', message: listed.problem });
          continue;
        }
        if (listed.renamed) this.diskNames.set(path, diskRel);
        const entry = this.statDiskSync(diskRel, options.symlinks === 'follow');
        if (!entry) continue; // vanished since the listing
        if (entry.kind === 'symlink' && options.symlinks === 'skip') continue;
        const isDir = entry.kind === 'dir';
        if (options.filter.excludes(path, isDir)) continue;
        tree.set(path, entry);
        options.onEntry?.(path, entry);
        if (isDir) {
          const id = `${entry.dev}:${entry.ino}`;
          if (chain.has(id)) {
            tree.set(path, { kind: 'problem', message: 'symbolic link loop' });
            continue;
          }
          queue.push({ path, chain: options.symlinks === 'follow' ? new Set([...chain, id]) : chain });
        }
      }
    };
    for (let i = 0; i < queue.length; i++) {
      walkOne(queue[i].path, queue[i].chain);
      if (sinceYield >= SCAN_YIELD_EVERY) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return tree;
  }

  async stat(path: RelPath, follow = false): Promise<Entry | undefined> {
    return this.statDisk(this.disk(path), follow);
  }

  async hash(path: RelPath): Promise<string> {
    try {
      return await this.hasher.run(this.abs(path));
    } catch (err) {
      throw fromErrno(err, `cannot read ${path}`, path);
    }
  }

  async read(path: RelPath): Promise<Readable> {
    const { fd, whole } = this.openForRead(path, WHOLE_READ_MAX);
    if (whole) return Readable.from(whole.length === 0 ? [] : [whole], { objectMode: false });
    return createReadStream('', { fd, highWaterMark: WHOLE_READ_MAX });
  }

  async readSmall(path: RelPath, limit: number): Promise<SmallRead | undefined> {
    let reader = this.readers.get(limit);
    if (!reader) {
      reader = batchReader(
        limit,
        async (rel) => {
          // Read on this thread: the bytes are handed on as they are, nothing to check them against.
          const { fd, whole } = this.openForRead(rel, limit);
          if (!whole) fsSync.closeSync(fd);
          return whole && { data: whole };
        },
        (rel) => this.abs(rel),
      );
      this.readers.set(limit, reader);
    }
    return reader.run(path).catch((err) => {
      throw err instanceof SyncError ? err : fromErrno(err, `cannot read ${path}`, path);
    });
  }

  /**
   * Opens a file; one of at most `limit` bytes is read whole at once and closed (`whole`), a bigger one
   * is left open. A file that grows meanwhile is caught by the caller's check of the source after reading.
   * Opened non-blocking, and refused unless a regular file: a FIFO that took a file's place since the
   * scan would otherwise wait for a writer for good.
   */
  private openForRead(path: RelPath, limit: number): { fd: number; whole?: Buffer } {
    let fd: number;
    try {
      fd = fsSync.openSync(this.abs(path), fsSync.constants.O_RDONLY | fsSync.constants.O_NONBLOCK);
    } catch (err) {
      throw fromErrno(err, `cannot read ${path}`, path);
    }
    try {
      const st = fsSync.fstatSync(fd);
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
      const size = st.size;
      if (size > limit) return { fd };
      const buf = Buffer.allocUnsafe(size);
      let got = 0;
      while (got < size) {
        const n = fsSync.readSync(fd, buf, got, size - got, got);
        if (n === 0) break;
        got += n;
      }
      fsSync.closeSync(fd);
      return { fd, whole: buf.subarray(0, got) };
    } catch (err) {
      fsSync.closeSync(fd);
      throw fromErrno(err, `cannot read ${path}`, path);
    }
  }

  async readSymlink(path: RelPath): Promise<string> {
    return fs.readlink(this.abs(path)).catch((err) => {
      throw fromErrno(err, `cannot read link ${path}`, path);
    });
  }

  // ---- writing --------------------------------------------------------------------------------------

  async writeFile(path: RelPath, data: Readable | Buffer, meta: Metadata, expect: Expectation, beforeCommit?: () => Promise<void>): Promise<FileEntry> {
    await this.ensureParents(path);
    const temp = this.tempFor(path);
    try {
      await writeNew(temp, data);
      await this.applyMetadata(temp, meta, false);
      if (beforeCommit) await beforeCommit();
      await this.commit(temp, path, expect);
    } catch (err) {
      fsSync.rmSync(temp, { force: true });
      throw fromErrno(err, `cannot write ${path}`, path);
    }
    return (await this.stat(path)) as FileEntry;
  }

  async copyWithin(from: RelPath, to: RelPath, fromExpect: FileEntry, meta: Metadata, expectHash: string): Promise<FileEntry> {
    await this.ensureParents(to);
    await this.check(from, fromExpect);
    const temp = this.tempFor(to);
    try {
      // A reflink where the file system has them, a plain copy elsewhere.
      await fs.copyFile(this.abs(from), temp, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
      await this.applyMetadata(temp, meta, false);
      const hash = createHash('sha256');
      await pipeline(createReadStream(temp), hash);
      if (hash.digest('hex') !== expectHash) throw new SyncError('Changed', `${from} does not hold the expected content any more; ${to} will be sent instead on the next run`, from);
      await this.commit(temp, to, undefined);
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw fromErrno(err, `cannot copy ${from} to ${to}`, to);
    }
    return (await this.stat(to)) as FileEntry;
  }

  async writeSymlink(path: RelPath, target: string, expect: Expectation): Promise<SymlinkEntry> {
    await this.ensureParents(path);
    const temp = this.tempFor(path);
    try {
      await fs.symlink(target, temp);
      await this.commit(temp, path, expect);
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw fromErrno(err, `cannot create link ${path}`, path);
    }
    return (await this.stat(path)) as SymlinkEntry;
  }

  async mkdir(path: RelPath, meta: Metadata): Promise<DirEntry> {
    await this.ensureParents(path);
    const abs = this.abs(path);
    try {
      await fs.mkdir(abs, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromErrno(err, `cannot create directory ${path}`, path);
      const existing = await this.stat(path);
      if (existing?.kind !== 'dir') throw new SyncError('Changed', `${path}: a ${describeKind(existing)} appeared where a directory was to be created`, path);
      await this.refuseOtherCase(path);
    }
    await this.applyMetadata(abs, { ...meta, mtimeMs: undefined }, false).catch((err) => {
      throw fromErrno(err, `cannot set metadata of ${path}`, path);
    });
    return (await this.stat(path)) as DirEntry;
  }

  async setMetadata(path: RelPath, meta: Metadata, expect: SyncableEntry): Promise<SyncableEntry> {
    await this.ensureParents(path);
    await this.check(path, expect);
    try {
      await this.applyMetadata(this.abs(path), meta, expect.kind === 'symlink');
    } catch (err) {
      throw fromErrno(err, `cannot set metadata of ${path}`, path);
    }
    const now = await this.stat(path);
    if (!isSyncable(now)) throw new SyncError('Changed', `${path} vanished while its metadata was set`, path);
    return now;
  }

  async remove(path: RelPath, expect: SyncableEntry): Promise<void> {
    await this.ensureParents(path);
    await this.check(path, expect);
    try {
      if (expect.kind === 'dir') await fs.rmdir(this.abs(path));
      else await fs.unlink(this.abs(path));
    } catch (err) {
      throw fromErrno(err, `cannot delete ${path}`, path);
    }
  }

  async rename(from: RelPath, to: RelPath, expect: SyncableEntry): Promise<void> {
    await this.ensureParents(from);
    await this.ensureParents(to);
    await this.check(from, expect);
    if (await this.stat(to)) {
      if (await this.renameCaseOnly(from, to)) return;
      throw new SyncError('Changed', `cannot rename ${from} to ${to}: ${to} exists`, to);
    }
    try {
      await fs.rename(this.abs(from), this.abs(to));
    } catch (err) {
      throw fromErrno(err, `cannot rename ${from} to ${to}`, from);
    }
    this.diskNames.delete(from);
  }

  watch(options: WatchOptions, listener: WatchListener): Promise<Watcher> {
    return watchLocal(this.root, options, listener);
  }

  async close(): Promise<void> {}

  // ---- names that differ only in case (see engine/caseClash.ts) ----------------------------------

  async caseInsensitive(): Promise<boolean> {
    const at = (name: string) => nodePath.join(this.root, name);
    return probeCaseInsensitive({
      list: () => fs.readdir(this.root),
      create: (name) => fs.writeFile(at(name), '', { flag: 'wx', mode: 0o600 }),
      exists: (name) => fs.lstat(at(name)).then(() => true, () => false),
      remove: (name) => fs.unlink(at(name)),
    });
  }

  async listNames(dir: RelPath): Promise<string[]> {
    const names = await fs.readdir(this.abs(dir)).catch((err) => {
      throw fromErrno(err, `cannot list ${dir || this.root}`, dir);
    });
    return names.filter((n) => !isTempName(n)).map((n) => n.normalize('NFC'));
  }

  /**
   * A directory found at `path` by a lookup may be stored under another case on a case-insensitive
   * side: it is not the directory the plan means to make, and making "it" would merge two.
   */
  private async refuseOtherCase(path: RelPath): Promise<void> {
    const name = baseName(path);
    const names = await this.listNames(parentOf(path));
    const stored = names.find((n) => n !== name && foldName(n) === foldName(name));
    if (stored !== undefined && !names.includes(name)) {
      throw new SyncError('Changed', `${path}: '${stored}' is already there, and names that differ only in case are one here; it will be looked at again on the next run`, path);
    }
  }

  /**
   * 'foo' -> 'Foo' where names ignore case: `to` is found "there" because it is `from` itself. Goes
   * through a temp name, and on only if nothing is at `to` once `from` has moved away (else it moves
   * back, and the rename is refused). True when done.
   */
  private async renameCaseOnly(from: RelPath, to: RelPath): Promise<boolean> {
    if (parentOf(from) !== parentOf(to) || foldName(baseName(from)) !== foldName(baseName(to))) return false;
    const temp = this.tempFor(to);
    try {
      await fs.rename(this.abs(from), temp);
    } catch (err) {
      throw fromErrno(err, `cannot rename ${from} to ${to}`, from);
    }
    // The listing, not a lookup: a lookup of `to` may still find `from` through a cache (FUSE).
    if ((await this.listNames(parentOf(to))).includes(baseName(to))) {
      await fs.rename(temp, this.abs(from));
      return false;
    }
    try {
      await fs.rename(temp, this.abs(to));
    } catch (err) {
      await fs.rename(temp, this.abs(from)).catch(() => undefined);
      throw fromErrno(err, `cannot rename ${from} to ${to}`, from);
    }
    this.diskNames.delete(from);
    return true;
  }

  // ---- internals ------------------------------------------------------------------------------------

  private disk(path: RelPath): string {
    if (path === ROOT) return '';
    const mapped = this.diskNames.get(path);
    if (mapped !== undefined) return mapped;
    const parent = parentOf(path);
    return parent === ROOT ? path : `${this.disk(parent)}/${baseName(path)}`;
  }

  private abs(path: RelPath): string {
    const rel = this.disk(path);
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  private tempFor(path: RelPath): string {
    return nodePath.join(nodePath.dirname(this.abs(path)), tempNameFor(baseName(path)));
  }

  private async statDisk(diskRel: string, follow: boolean): Promise<Entry | undefined> {
    return this.statDiskSync(diskRel, follow);
  }

  private statDiskSync(diskRel: string, follow: boolean): Entry | undefined {
    const abs = diskRel === '' ? this.root : `${this.root}/${diskRel}`;
    let st: Stats | undefined;
    try {
      st = fsSync.lstatSync(abs, { throwIfNoEntry: false });
      if (!st) return undefined;
      if (follow && st.isSymbolicLink()) {
        try {
          st = fsSync.statSync(abs);
        } catch {
          return { kind: 'problem', message: 'symbolic link points to nothing (cannot follow it)' };
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return { kind: 'problem', message: fromErrno(err, 'cannot stat').message };
    }
    return toEntry(st, () => fsSync.readlinkSync(abs));
  }

  private removeStaleTemp(diskRel: string, name: string, now: number): void {
    const abs = `${this.root}/${diskRel}`;
    try {
      const st = fsSync.lstatSync(abs);
      if (isStaleTemp(name, st.mtimeMs, now)) fsSync.rmSync(abs, { force: true, recursive: true });
    } catch {
      // Already gone, or not ours to remove: it stays hidden either way.
    }
  }

  /**
   * Creates missing parents and refuses any parent that is not a real directory: a directory swapped
   * for a symlink must never carry a write outside the root.
   */
  private async ensureParents(path: RelPath): Promise<void> {
    for (const dir of ancestors(path)) {
      const abs = this.abs(dir);
      let st: Stats | undefined;
      try {
        st = fsSync.lstatSync(abs, { throwIfNoEntry: false });
      } catch (err) {
        throw fromErrno(err, `cannot check ${dir}`, path);
      }
      if (!st) {
        try {
          fsSync.mkdirSync(abs, { mode: 0o755 });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromErrno(err, `cannot create directory ${dir}`, path);
          st = fsSync.lstatSync(abs);
        }
      }
      if (st && !st.isDirectory()) {
        throw new SyncError('Unsafe', `refusing to write ${path}: its parent ${dir} is a ${st.isSymbolicLink() ? 'symbolic link' : 'file'}, not a directory`, path);
      }
    }
  }

  /** Fails with `Changed` unless the path still holds what the plan expects. */
  private async check(path: RelPath, expect: Expectation): Promise<void> {
    let now = await this.stat(path);
    // A link scanned through (--symlinks follow) is expected as what it points to; replacing it
    // replaces the link itself, never its target.
    if (now?.kind === 'symlink' && expect !== undefined && expect.kind !== 'symlink') now = await this.stat(path, true);
    if (!matches(now, expect)) {
      throw new SyncError('Changed', `${path} changed since it was scanned (expected ${describeKind(expect)}, found ${describeKind(now)}); it will be looked at again on the next run`, path);
    }
  }

  /** Puts a finished temp file in place after a last check of the target. */
  private async commit(temp: string, path: RelPath, expect: Expectation): Promise<void> {
    await this.check(path, expect);
    const target = this.abs(path);
    if (expect === undefined) {
      // Creating: link() refuses to replace something that appeared since the check.
      try {
        fsSync.linkSync(temp, target);
        fsSync.unlinkSync(temp);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new SyncError('Changed', `${path} appeared while it was being written; it will be looked at again on the next run`, path);
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err;
      }
    }
    fsSync.renameSync(temp, target);
  }

  private async applyMetadata(abs: string, meta: Metadata, isLink: boolean): Promise<void> {
    if (!isLink && meta.mode !== undefined) fsSync.chmodSync(abs, meta.mode);
    if (meta.uid !== undefined && meta.gid !== undefined) {
      try {
        fsSync.lchownSync(abs, meta.uid, meta.gid);
      } catch (err) {
        // Ownership is kept only where permitted (usually as root).
        if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
      }
    }
    if (meta.mtimeMs !== undefined) {
      const t = meta.mtimeMs / 1000;
      if (isLink) fsSync.lutimesSync(abs, t, t);
      else fsSync.utimesSync(abs, t, t);
    }
  }
}

function matches(now: Entry | undefined, expect: Expectation): boolean {
  if (expect === undefined) return now === undefined;
  if (!isSyncable(now)) return false;
  return sameFingerprint(expect, now);
}

function toEntry(st: Stats, readlink: () => string): Entry {
  const identity = { uid: st.uid, gid: st.gid, ino: st.ino, dev: st.dev };
  const mode = st.mode & 0o7777;
  if (st.isFile()) return { kind: 'file', size: st.size, mtimeMs: st.mtimeMs, mode, ...identity };
  if (st.isDirectory()) return { kind: 'dir', mtimeMs: st.mtimeMs, mode, ...identity };
  if (st.isSymbolicLink()) {
    try {
      return { kind: 'symlink', target: readlink(), mtimeMs: st.mtimeMs, ...identity };
    } catch (err) {
      return { kind: 'problem', message: fromErrno(err, 'cannot read link').message };
    }
  }
  return { kind: 'problem', message: 'not a regular file, directory or symbolic link (skipped)' };
}

/** The SHA-256 of a file: read at once when small, streamed when not. */
async function hashFile(file: string): Promise<string> {
  // Never blocking on a FIFO (or a device) that took a file's place since the scan.
  const fd = fsSync.openSync(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  let streamed = false;
  try {
    const hash = createHash('sha256');
    const st = fsSync.fstatSync(fd);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
    const size = st.size;
    if (size > WHOLE_READ_MAX) {
      streamed = true; // the stream closes the descriptor
      await pipeline(createReadStream('', { fd, highWaterMark: WHOLE_READ_MAX }), hash);
      return hash.digest('hex');
    }
    const buf = Buffer.allocUnsafe(Math.max(size, 1));
    // To the end, whatever the size said: a file growing meanwhile is hashed as read.
    for (let n; (n = fsSync.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
    return hash.digest('hex');
  } finally {
    if (!streamed) fsSync.closeSync(fd);
  }
}

/** Writes a new file (never an existing one) from a stream, with synchronous calls per chunk. */
async function writeNew(file: string, data: Readable | Buffer): Promise<void> {
  const fd = fsSync.openSync(file, 'wx', 0o600);
  try {
    for await (const chunk of Buffer.isBuffer(data) ? [data] : data) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      let off = 0;
      while (off < bytes.length) off += fsSync.writeSync(fd, bytes, off, bytes.length - off);
    }
  } finally {
    fsSync.closeSync(fd);
  }
}
