import { createHash } from 'node:crypto';
import { constants as fsConstants, createReadStream, createWriteStream, promises as fs, type Stats } from 'node:fs';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DirEntry, Entry, FileEntry, Metadata, SymlinkEntry, SyncableEntry, Tree } from '../../engine/entry';
import { sameFingerprint, describeKind, isSyncable } from '../../engine/entry';
import { ancestors, baseName, parentOf, ROOT, type RelPath } from '../../engine/path';
import type { Expectation } from '../../engine/plan';
import { fromErrno, SyncError } from '../../errors';
import { admitName } from '../listedName';
import type { Replica, ScanOptions, Tier, WatchListener, WatchOptions, Watcher } from '../replica';
import { watchLocal } from './localWatcher';
import { isStaleTemp, isTempName, tempNameFor } from '../tempName';

const SCAN_CONCURRENCY = 32;

/** A folder on this machine as a sync side. */
export class LocalReplica implements Replica {
  readonly mtimeToleranceMs = 0;
  readonly tier: Tier = 'local';
  /** RelPath (NFC) -> on-disk relative path, only where they differ (NFD names on disk). */
  private readonly diskNames = new Map<RelPath, string>();

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

  async createRoot(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true });
  }

  // ---- reading --------------------------------------------------------------------------------------

  async scan(options: ScanOptions): Promise<Tree> {
    const tree: Tree = new Map();
    const now = Date.now();
    const under = options.under ?? ROOT;
    if (under !== ROOT) {
      const entry = await this.stat(under, options.symlinks === 'follow');
      if (!entry || (entry.kind === 'symlink' && options.symlinks === 'skip')) return tree;
      tree.set(under, entry);
      if (entry.kind !== 'dir') return tree;
    }
    // Directories being walked, by dev:ino, to stop symlink cycles when following links.
    const queue: { path: RelPath; chain: Set<string> }[] = [{ path: under, chain: new Set() }];
    const walkOne = async (dir: RelPath, chain: Set<string>) => {
      let names: string[];
      try {
        names = await fs.readdir(this.abs(dir));
      } catch (err) {
        if (dir === ROOT) throw fromErrno(err, `cannot list ${this.root}`);
        tree.set(dir, { kind: 'problem', message: fromErrno(err, 'cannot list directory').message });
        return;
      }
      const seen = new Set<RelPath>();
      await Promise.all(
        names.map(async (name) => {
          const diskRel = dir === ROOT ? name : `${this.disk(dir)}/${name}`;
          if (isTempName(name)) {
            await this.removeStaleTemp(diskRel, name, now);
            return;
          }
          const listed = admitName(dir, name, seen);
          const path = listed.path;
          if (!listed.ok) return void tree.set(path, { kind: 'problem', message: listed.problem });
          if (listed.renamed) this.diskNames.set(path, diskRel);
          const entry = await this.statDisk(diskRel, options.symlinks === 'follow');
          if (!entry) return; // vanished since the listing
          if (entry.kind === 'symlink' && options.symlinks === 'skip') return;
          const isDir = entry.kind === 'dir';
          if (options.filter.excludes(path, isDir)) return;
          tree.set(path, entry);
          if (isDir) {
            const id = `${entry.dev}:${entry.ino}`;
            if (chain.has(id)) {
              tree.set(path, { kind: 'problem', message: 'symbolic link loop' });
              return;
            }
            queue.push({ path, chain: options.symlinks === 'follow' ? new Set([...chain, id]) : chain });
          }
        }),
      );
    };
    // Breadth-first with bounded parallelism over directories.
    while (queue.length > 0) {
      const batch = queue.splice(0, SCAN_CONCURRENCY);
      await Promise.all(batch.map((d) => walkOne(d.path, d.chain)));
    }
    return tree;
  }

  async stat(path: RelPath, follow = false): Promise<Entry | undefined> {
    return this.statDisk(this.disk(path), follow);
  }

  async hash(path: RelPath): Promise<string> {
    const hash = createHash('sha256');
    try {
      await pipeline(createReadStream(this.abs(path)), hash);
    } catch (err) {
      throw fromErrno(err, `cannot read ${path}`, path);
    }
    return hash.digest('hex');
  }

  async read(path: RelPath): Promise<Readable> {
    const handle = await fs.open(this.abs(path), 'r').catch((err) => {
      throw fromErrno(err, `cannot read ${path}`, path);
    });
    return handle.createReadStream();
  }

  async readSymlink(path: RelPath): Promise<string> {
    return fs.readlink(this.abs(path)).catch((err) => {
      throw fromErrno(err, `cannot read link ${path}`, path);
    });
  }

  // ---- writing --------------------------------------------------------------------------------------

  async writeFile(path: RelPath, data: Readable, meta: Metadata, expect: Expectation, beforeCommit?: () => Promise<void>): Promise<FileEntry> {
    await this.ensureParents(path);
    const temp = this.tempFor(path);
    try {
      await pipeline(data, createWriteStream(temp, { flags: 'wx', mode: 0o600 }));
      await this.applyMetadata(temp, meta, false);
      if (beforeCommit) await beforeCommit();
      await this.commit(temp, path, expect);
    } catch (err) {
      await fs.rm(temp, { force: true });
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
    if (await this.stat(to)) throw new SyncError('Changed', `cannot rename ${from} to ${to}: ${to} exists`, to);
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
    const abs = diskRel === '' ? this.root : `${this.root}/${diskRel}`;
    let st: Stats;
    try {
      st = await fs.lstat(abs);
      if (follow && st.isSymbolicLink()) {
        try {
          st = await fs.stat(abs);
        } catch {
          return { kind: 'problem', message: 'symbolic link points to nothing (cannot follow it)' };
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return { kind: 'problem', message: fromErrno(err, 'cannot stat').message };
    }
    return toEntry(st, () => fs.readlink(abs));
  }

  private async removeStaleTemp(diskRel: string, name: string, now: number): Promise<void> {
    const abs = `${this.root}/${diskRel}`;
    try {
      const st = await fs.lstat(abs);
      if (isStaleTemp(name, st.mtimeMs, now)) await fs.rm(abs, { force: true, recursive: true });
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
        st = await fs.lstat(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromErrno(err, `cannot check ${dir}`, path);
      }
      if (!st) {
        try {
          await fs.mkdir(abs, { mode: 0o755 });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromErrno(err, `cannot create directory ${dir}`, path);
          st = await fs.lstat(abs);
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
        await fs.link(temp, target);
        await fs.unlink(temp);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new SyncError('Changed', `${path} appeared while it was being written; it will be looked at again on the next run`, path);
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err;
      }
    }
    await fs.rename(temp, target);
  }

  private async applyMetadata(abs: string, meta: Metadata, isLink: boolean): Promise<void> {
    if (!isLink && meta.mode !== undefined) await fs.chmod(abs, meta.mode);
    if (meta.uid !== undefined && meta.gid !== undefined) {
      try {
        await fs.lchown(abs, meta.uid, meta.gid);
      } catch (err) {
        // Ownership is kept only where permitted (usually as root).
        if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
      }
    }
    if (meta.mtimeMs !== undefined) {
      const t = meta.mtimeMs / 1000;
      if (isLink) await fs.lutimes(abs, t, t);
      else await fs.utimes(abs, t, t);
    }
  }
}

function matches(now: Entry | undefined, expect: Expectation): boolean {
  if (expect === undefined) return now === undefined;
  if (!isSyncable(now)) return false;
  return sameFingerprint(expect, now);
}

async function toEntry(st: Stats, readlink: () => Promise<string>): Promise<Entry> {
  const identity = { uid: st.uid, gid: st.gid, ino: st.ino, dev: st.dev };
  const mode = st.mode & 0o7777;
  if (st.isFile()) return { kind: 'file', size: st.size, mtimeMs: st.mtimeMs, mode, ...identity };
  if (st.isDirectory()) return { kind: 'dir', mtimeMs: st.mtimeMs, mode, ...identity };
  if (st.isSymbolicLink()) {
    try {
      return { kind: 'symlink', target: await readlink(), mtimeMs: st.mtimeMs, ...identity };
    } catch (err) {
      return { kind: 'problem', message: fromErrno(err, 'cannot read link').message };
    }
  }
  return { kind: 'problem', message: 'not a regular file, directory or symbolic link (skipped)' };
}
