import type { Readable } from 'node:stream';
import type { DirEntry, Entry, FileEntry, Metadata, SymlinkEntry, SyncableEntry, Tree } from '../engine/entry';
import type { RelPath } from '../engine/path';
import type { Expectation } from '../engine/plan';
import type { Replica, ScanOptions, Tier, WatchListener, WatchOptions, Watcher } from './replica';

/**
 * A peer that connects on first use: a one-way run whose snapshot shows nothing to do never opens a
 * connection at all. Until connected it reports the tier 'sftp' (the cautious assumption) and the
 * mtime tolerance it is given.
 */
export class LazyReplica implements Replica {
  private inner: Replica | undefined;
  private opening: Promise<Replica> | undefined;
  /** An attempt started by connectEarly() whose outcome no use has seen yet. */
  private early: Promise<Replica> | undefined;
  /** A scan started by connectEarly(), handed to the first scan() asking for the same thing. */
  private prefetched: { readonly options: ScanOptions; readonly tree: Promise<Tree> } | undefined;

  constructor(
    readonly description: string,
    private readonly mtimeTolerance: number,
    private readonly open: () => Promise<Replica>,
  ) {}

  get tier(): Tier {
    return this.inner?.tier ?? 'sftp';
  }

  get mtimeToleranceMs(): number {
    return this.inner?.mtimeToleranceMs ?? this.mtimeTolerance;
  }

  get connected(): boolean {
    return this.inner !== undefined;
  }

  get hashesWrites(): boolean | undefined {
    return this.inner?.hashesWrites;
  }

  /**
   * Starts connecting now, without waiting (a run that will look at this side anyway lets the
   * connection come up while it reads its snapshot). The first use awaits this same attempt and sees
   * its failure, so a failed attempt is never silently made twice.
   */
  connectEarly(prefetch?: ScanOptions): void {
    if (!this.inner && !this.opening) {
      this.early = this.get();
      this.early.catch(() => undefined);
    }
    if (!prefetch) return;
    // The early attempt is not consumed here: its first real use still sees how it went.
    const attempt = this.early ?? this.get();
    const tree = attempt.then((inner) => inner.scan(prefetch));
    tree.catch(() => undefined);
    this.prefetched = { options: prefetch, tree };
  }

  /** Passed on once connected (an attempt in progress is not waited for). */
  prepareWrites(): void {
    const attempt = this.inner ? Promise.resolve(this.inner) : this.opening;
    attempt?.then(
      (inner) => inner.prepareWrites?.(),
      () => undefined,
    );
  }

  get copyWithin(): Replica['copyWithin'] {
    const copy = this.inner?.copyWithin;
    return copy ? copy.bind(this.inner) : undefined;
  }

  private async get(): Promise<Replica> {
    if (this.inner) return this.inner;
    if (this.early) {
      const early = this.early;
      this.early = undefined;
      return early;
    }
    this.opening ??= this.open().then(
      (r) => (this.inner = r),
      (err) => {
        this.opening = undefined;
        throw err;
      },
    );
    return this.opening;
  }

  async rootExists(): Promise<boolean> {
    return (await this.get()).rootExists();
  }
  async createRoot(): Promise<boolean> {
    return (await this.get()).createRoot();
  }
  async scan(options: ScanOptions): Promise<Tree> {
    const prefetched = this.prefetched;
    this.prefetched = undefined;
    // The very same options object: a scan prefetched for an earlier run that never asked is not used.
    if (prefetched?.options === options) return prefetched.tree;
    return (await this.get()).scan(options);
  }
  async stat(path: RelPath, follow?: boolean): Promise<Entry | undefined> {
    return (await this.get()).stat(path, follow);
  }
  async hash(path: RelPath): Promise<string> {
    return (await this.get()).hash(path);
  }
  async read(path: RelPath): Promise<Readable> {
    return (await this.get()).read(path);
  }
  async readSymlink(path: RelPath): Promise<string> {
    return (await this.get()).readSymlink(path);
  }
  async writeFile(path: RelPath, data: Readable | Buffer, meta: Metadata, expect: Expectation, beforeCommit?: () => Promise<void>, sha256?: string): Promise<FileEntry> {
    return (await this.get()).writeFile(path, data, meta, expect, beforeCommit, sha256);
  }
  async writeSymlink(path: RelPath, target: string, expect: Expectation): Promise<SymlinkEntry> {
    return (await this.get()).writeSymlink(path, target, expect);
  }
  async mkdir(path: RelPath, meta: Metadata): Promise<DirEntry> {
    return (await this.get()).mkdir(path, meta);
  }
  async setMetadata(path: RelPath, meta: Metadata, expect: SyncableEntry): Promise<SyncableEntry> {
    return (await this.get()).setMetadata(path, meta, expect);
  }
  async remove(path: RelPath, expect: SyncableEntry): Promise<void> {
    return (await this.get()).remove(path, expect);
  }
  async rename(from: RelPath, to: RelPath, expect: SyncableEntry): Promise<void> {
    return (await this.get()).rename(from, to, expect);
  }
  async caseInsensitive(): Promise<boolean> {
    const inner = await this.get();
    return inner.caseInsensitive ? inner.caseInsensitive() : false;
  }
  async listNames(dir: RelPath): Promise<string[]> {
    const inner = await this.get();
    if (!inner.listNames) throw new Error(`${this.description} cannot list names`);
    return inner.listNames(dir);
  }
  async watch(options: WatchOptions, listener: WatchListener): Promise<Watcher> {
    return (await this.get()).watch(options, listener);
  }
  async close(): Promise<void> {
    const inner = this.inner ?? (this.opening ? await this.opening.catch(() => undefined) : undefined);
    await inner?.close();
  }
}
