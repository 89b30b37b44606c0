import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Attributes, InputAttributes } from 'ssh2';
import type { DirEntry, Entry, FileEntry, Metadata, SymlinkEntry, SyncableEntry, Tree } from '../../engine/entry';
import { describeKind, isSyncable, sameFingerprint } from '../../engine/entry';
import { ancestors, baseName, invalidSegment, join, parentOf, ROOT, type RelPath } from '../../engine/path';
import type { Expectation } from '../../engine/plan';
import { SyncError } from '../../errors';
import { foldName } from '../../engine/caseClash';
import { probeCaseInsensitive } from '../caseProbe';
import { pollWatch } from '../pollWatcher';
import { admitName } from '../listedName';
import type { Replica, ScanOptions, Tier, WatchListener, WatchOptions, Watcher } from '../replica';
import { isStaleTemp, isTempName, tempNameFor } from '../tempName';
import { isNotFound, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, Sftp, toSyncError } from './sftpClient';
import { shellQuote } from './shellQuote';
import { describeStart, HelperUploader, type ReceivedStat, type ReceiveExpect, type ReceiveMeta, type StartOutcome } from './helperUpload';
import type { HelperCheck, Recheck } from './helperChoice';
import { nulRecords, nulTextRecords, PROBE_TIMEOUT_MS, run, type NulField, type HelperKind, type HelperRuntime, type RemoteProcess, type Spawn } from './remoteHelper';

export { shellQuote } from './shellQuote';

/** Outstanding SFTP requests during a scan. */
const SCAN_CONCURRENCY = 24;

export interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
}

export interface SshReplicaOptions {
  /** Runs a command on the server, when the server allows it (used for remote hashing). */
  readonly exec?: (command: string) => Promise<ExecResult>;
  /** Called by close(), to end the connection. */
  readonly onClose?: () => Promise<void>;
  /** Starts a command with streamed stdin/stdout (the helper tier). */
  readonly spawn?: Spawn;
  /** The helper found by the capability probe; absent means the 'sftp' tier. */
  readonly helper?: HelperRuntime;
  /** Present when `helper` was taken on trust, not probed: how its first command went is reported here. */
  readonly helperCheck?: HelperCheck;
  /**
   * How long the write stream of a helper taken on trust may take to say it runs before the server is
   * asked, alongside, whether the helper is there (default PROBE_TIMEOUT_MS).
   */
  readonly helperStartTimeoutMs?: number;
  /**
   * How long, in all, that write stream may take to say it runs (default HELPER_START_LIMIT_MS). Slow is
   * not gone, but a stream stuck for good must not hang the run: past this, it is given up and writes
   * go over SFTP.
   */
  readonly helperStartLimitMs?: number;
  readonly debug?: (message: string) => void;
}

/** See SshReplicaOptions.helperStartLimitMs. */
export const HELPER_START_LIMIT_MS = 120_000;

/**
 * Paths hashed by one helper run at most. Each run is an exec (a login shell's start-up on the
 * server, 0.2 s on some), so batches are large: a first bidi run over 100,000 files pays it 4 times (13 at 8,192).
 */
const HASH_BATCH = 32768;

/** A folder on an SSH server, reached over SFTP, as a sync side. Same semantics as LocalReplica. */
/** SFTP v3 carries whole-second times. */
export const SSH_MTIME_TOLERANCE_MS = 1000;

/** SFTP decodes names as UTF-8: one that is not arrives mangled and cannot be written back. */
const notUtf8 = (name: string) => (name.includes('\uFFFD') ? 'name is not valid UTF-8 (cannot be carried over SFTP)' : undefined);

export class SshReplica implements Replica {
  /** SFTP v3 carries whole-second times. */
  readonly mtimeToleranceMs = SSH_MTIME_TOLERANCE_MS;
  /** 'helper' when a remote helper lists, hashes and (with node) watches; 'sftp' otherwise. */
  get tier(): Tier {
    return this.helperKind ? 'helper' : 'sftp';
  }
  /**
   * Which helper: node (listing, hashing, watching) or find (listing only); undefined on the 'sftp' tier.
   * Changes only when a helper taken on trust did not start (see HelperCheck).
   */
  get helperKind(): HelperKind | undefined {
    return this.options.spawn ? this.runtime?.kind : undefined;
  }
  /**
   * Writes go through the node helper, which hashes what it receives (see Replica.hashesWrites). Once
   * this has said yes, writes that fall back to SFTP (the helper did not start, or stopped) hash what
   * they send: the caller, told so, hashes nothing itself.
   */
  get hashesWrites(): boolean {
    const yes = this.helperKind === 'node' && !this.uploadsOff;
    if (yes) this.hashPromised = true;
    return yes;
  }
  /** Copies within the server (`cp`), where it lets us run commands. */
  readonly copyWithin?: (from: RelPath, to: RelPath, fromExpect: FileEntry, meta: Metadata, expectHash: string) => Promise<FileEntry>;
  private readonly diskNames = new Map<RelPath, string>();
  private remoteHash: Promise<boolean> | undefined;
  private readonly hashQueue: { path: RelPath; resolve: (hex: string | undefined) => void; reject: (err: Error) => void }[] = [];
  private hashing = false;
  /** The root with every symlink resolved, as the server sees it (see confirmInside). */
  private rootReal: Promise<string> | undefined;
  /** The helper's `receive` stream, started on the first write (node helper only). */
  private upload: Promise<HelperUploader | undefined> | undefined;
  /** A stream of a helper on trust that has not said it runs yet: close() stops it (it may be waited for without end). */
  private starting: HelperUploader | undefined;
  /** Set when the helper could not take writes: they go over SFTP from then on. */
  private uploadsOff = false;
  /** hashesWrites said yes: every write returns its hash from then on. */
  private hashPromised = false;
  private runtime: HelperRuntime | undefined;
  /** Until the helper taken on trust has run (or was found missing and probed again). */
  private helperCheck: HelperCheck | undefined;

  constructor(
    readonly sftp: Sftp,
    /** Absolute remote path of the root, without a trailing '/'. */
    readonly root: string,
    readonly description: string,
    private readonly options: SshReplicaOptions = {},
  ) {
    this.runtime = options.helper;
    this.helperCheck = options.spawn && options.helper ? options.helperCheck : undefined;
    if (options.spawn) this.copyWithin = (from, to, fromExpect, meta, expectHash) => this.copyOnServer(from, to, fromExpect, meta, expectHash);
  }

  private async copyOnServer(from: RelPath, to: RelPath, fromExpect: FileEntry, meta: Metadata, expectHash: string): Promise<FileEntry> {
    await this.ensureParents(to);
    await this.check(from, fromExpect);
    const temp = this.tempFor(to);
    try {
      // Copy and hash the copy in one round trip; only the expected content is put in place.
      const result = await run(this.options.spawn!, `cp -- ${shellQuote(this.abs(from))} ${shellQuote(temp)} && sha256sum -- ${shellQuote(temp)}`);
      if (result.code !== 0) throw new SyncError('Io', `cannot copy ${from} to ${to} on the server: ${result.stderr.trim() || `exit ${result.code}`}`, to);
      if (result.stdout.toString('utf8').slice(0, 64) !== expectHash) throw new SyncError('Changed', `${from} does not hold the expected content any more; ${to} will be sent instead on the next run`, from);
      await this.applyMetadata(temp, meta, false);
      await this.commit(temp, to, undefined);
    } catch (err) {
      await this.sftp.unlink(temp).catch(() => undefined);
      throw toSyncError(err, `cannot copy ${from} to ${to}`, to);
    }
    return (await this.stat(to)) as FileEntry;
  }

  async rootExists(): Promise<boolean> {
    try {
      const st = await this.sftp.stat(this.root);
      return (st.mode & S_IFMT) === S_IFDIR;
    } catch (err) {
      // Only "no such folder" means missing: a lost connection must never read as a vanished root.
      if (isNotFound(err)) return false;
      throw toSyncError(err, `cannot check ${this.description}`);
    }
  }

  async createRoot(): Promise<boolean> {
    const parts = this.root.split('/').filter((s) => s !== '');
    let dir = '';
    let made = false;
    for (const part of parts) {
      made = false;
      dir += '/' + part;
      const st = await this.sftp.stat(dir).catch((err) => {
        if (isNotFound(err)) return undefined;
        throw toSyncError(err, `cannot check ${dir}`);
      });
      if (st && (st.mode & S_IFMT) === S_IFDIR) continue;
      if (st) throw new SyncError('Unsafe', `cannot create ${this.root}: ${dir} is not a directory`);
      made = await this.sftp.mkdir(dir, 0o755).then(
        () => true,
        async (err) => {
          // Made by someone else meanwhile: fine, but not ours (it may hold something already).
          const again = await this.sftp.stat(dir).catch(() => undefined);
          if (!again || (again.mode & S_IFMT) !== S_IFDIR) throw toSyncError(err, `cannot create directory ${dir}`);
          return false;
        },
      );
    }
    return made;
  }

  // ---- reading --------------------------------------------------------------------------------------

  async scan(options: ScanOptions): Promise<Tree> {
    // find cannot say which followed links loop the way the walk does: --symlinks follow walks over SFTP.
    if (this.helperKind === 'node' || (this.helperKind === 'find' && options.symlinks !== 'follow')) return this.scanWithHelper(options);
    return this.scanWithSftp(options);
  }

  /** The 'sftp' tier: a concurrent walk with one readdir per directory. */
  async scanWithSftp(options: ScanOptions): Promise<Tree> {
    const tree: Tree = new Map();
    const now = Date.now();
    const limit = limiter(SCAN_CONCURRENCY);
    const follow = options.symlinks === 'follow';
    const under = options.under ?? ROOT;
    if (under !== ROOT) {
      const entry = await this.stat(under, follow);
      if (!entry || (entry.kind === 'symlink' && options.symlinks === 'skip')) return tree;
      tree.set(under, entry);
      if (entry.kind !== 'dir') return tree;
    }
    const rootReal = await limit(() => this.sftp.realpath(this.abs(under))).catch(() => this.abs(under));

    // `real` is the directory's resolved remote path; `chain` the resolved paths above it (link loops).
    const walk = async (dir: RelPath, real: string, chain: ReadonlySet<string>): Promise<void> => {
      let items;
      try {
        items = await limit(() => this.sftp.readdir(this.abs(dir)));
      } catch (err) {
        if (dir === ROOT) throw toSyncError(err, `cannot list ${this.description}`);
        tree.set(dir, { kind: 'problem', message: toSyncError(err, 'cannot list directory').message });
        return;
      }
      const seen = new Set<RelPath>();
      const below: Promise<void>[] = [];
      await Promise.all(
        items.map(async ({ name, attrs }) => {
          if (name === '.' || name === '..') return;
          const diskRel = dir === ROOT ? name : `${this.disk(dir)}/${name}`;
          if (isTempName(name)) {
            if (isStaleTemp(name, attrs.mtime * 1000, now)) await limit(() => this.removeTemp(diskRel, attrs)).catch(() => undefined);
            return;
          }
          const listed = admitName(dir, name, seen, notUtf8);
          const path = listed.path;
          if (!listed.ok) return void tree.set(path, { kind: 'problem', message: listed.problem });
          if (listed.renamed) this.diskNames.set(path, diskRel);
          let entry: Entry | undefined;
          const isLink = (attrs.mode & S_IFMT) === S_IFLNK;
          if (isLink && options.symlinks === 'skip') return;
          if (isLink && follow) entry = await limit(() => this.statDisk(diskRel, true));
          else if (isLink) entry = await limit(() => this.statDisk(diskRel, false));
          else entry = toEntry(attrs);
          if (!entry) return;
          const isDir = entry.kind === 'dir';
          if (options.filter.excludes(path, isDir)) return;
          tree.set(path, entry);
          if (!isDir) return;
          let childReal = `${real === '/' ? '' : real}/${name}`;
          if (isLink) childReal = await limit(() => this.sftp.realpath(this.abs(path))).catch(() => childReal);
          if (follow && (chain.has(childReal) || childReal === real)) {
            tree.set(path, { kind: 'problem', message: 'symbolic link loop' });
            return;
          }
          below.push(walk(path, childReal, follow ? new Set([...chain, real]) : chain));
        }),
      );
      await Promise.all(below);
    };
    await walk(under, rootReal, new Set());
    return tree;
  }

  async stat(path: RelPath, follow = false): Promise<Entry | undefined> {
    return this.statDisk(this.disk(path), follow);
  }

  async hash(path: RelPath): Promise<string> {
    const viaExec = this.helperKind === 'node' ? await this.hashWithHelper(path) : await this.hashRemotely(path);
    if (viaExec) return viaExec;
    const hash = createHash('sha256');
    try {
      await pipeline(await this.sftp.download(this.abs(path)), hash);
    } catch (err) {
      throw toSyncError(err, `cannot read ${path}`, path);
    }
    return hash.digest('hex');
  }

  async read(path: RelPath): Promise<Readable> {
    try {
      return await this.sftp.download(this.abs(path));
    } catch (err) {
      throw toSyncError(err, `cannot read ${path}`, path);
    }
  }

  async readSymlink(path: RelPath): Promise<string> {
    return this.sftp.readlink(this.abs(path)).catch((err) => {
      throw toSyncError(err, `cannot read link ${path}`, path);
    });
  }

  // ---- writing --------------------------------------------------------------------------------------

  /** Starts the helper's write stream now: its command takes the server's shell start-up to run. */
  prepareWrites(): void {
    // A start that fails is met again, and reported, by the first write.
    this.uploader().catch(() => undefined);
  }

  async writeFile(path: RelPath, content: Readable | Buffer, meta: Metadata, expect: Expectation, beforeCommit?: () => Promise<void>, sha256?: string): Promise<FileEntry> {
    let uploader: HelperUploader | undefined;
    try {
      uploader = await this.uploader();
    } catch (err) {
      if (!Buffer.isBuffer(content)) content.destroy();
      throw toSyncError(err, `cannot write ${path}`, path);
    }
    if (uploader) {
      try {
        const { st, hash } = await uploader.writeFile(this.disk(path), path, tempNameFor(baseName(path)), content, receiveMeta(meta), receiveExpect(expect), beforeCommit, sha256);
        const entry = fromReceived(st);
        if (entry.kind !== 'file') throw new SyncError('Changed', `${path} was replaced by a ${describeKind(entry)} while it was written`, path);
        return hash ? { ...entry, hash } : entry;
      } catch (err) {
        if (!Buffer.isBuffer(content)) content.destroy();
        throw toSyncError(err, `cannot write ${path}`, path);
      }
    }
    const data = Buffer.isBuffer(content) ? Readable.from([content]) : content;
    const hasher = this.hashPromised ? createHash('sha256') : undefined;
    await this.ensureParents(path);
    const temp = this.tempFor(path);
    try {
      const handle = await this.sftp.open(temp, 'wx', { mode: 0o600 });
      try {
        // Before a byte is sent: the temp file is where it should be (else it is removed below).
        await this.confirmInside(path);
        await this.sftp.upload(handle, hasher ? hashing(data, hasher) : data);
        await this.applyMetadata(temp, meta, false, handle);
      } finally {
        await this.sftp.close(handle).catch(() => undefined);
      }
      if (beforeCommit) await beforeCommit();
      await this.commit(temp, path, expect);
    } catch (err) {
      data.destroy();
      await this.sftp.unlink(temp).catch(() => undefined);
      throw toSyncError(err, `cannot write ${path}`, path);
    }
    const written = (await this.stat(path)) as FileEntry;
    return hasher && written?.kind === 'file' ? { ...written, hash: hasher.digest('hex') } : written;
  }

  async writeSymlink(path: RelPath, target: string, expect: Expectation): Promise<SymlinkEntry> {
    await this.ensureParents(path);
    const temp = this.tempFor(path);
    try {
      await this.sftp.symlink(target, temp);
      await this.confirmInside(path);
      await this.commit(temp, path, expect);
    } catch (err) {
      await this.sftp.unlink(temp).catch(() => undefined);
      throw toSyncError(err, `cannot create link ${path}`, path);
    }
    return (await this.stat(path)) as SymlinkEntry;
  }

  async mkdir(path: RelPath, meta: Metadata): Promise<DirEntry> {
    const uploader = await this.uploader();
    if (uploader) {
      try {
        const entry = fromReceived(await uploader.mkdir(this.disk(path), path, receiveMeta({ ...meta, mtimeMs: undefined })));
        if (entry.kind !== 'dir') throw new SyncError('Changed', `${path}: a ${describeKind(entry)} appeared where a directory was to be created`, path);
        return entry;
      } catch (err) {
        throw toSyncError(err, `cannot create directory ${path}`, path);
      }
    }
    await this.ensureParents(path);
    const abs = this.abs(path);
    let made = false;
    try {
      await this.sftp.mkdir(abs, 0o700);
      made = true;
    } catch (err) {
      // SFTP has no EEXIST: any failure is judged by what is there now.
      const existing = await this.stat(path);
      if (existing === undefined) throw toSyncError(err, `cannot create directory ${path}`, path);
      if (existing.kind !== 'dir') throw new SyncError('Changed', `${path}: a ${describeKind(existing)} appeared where a directory was to be created`, path);
    }
    await this.confirmInside(path, made ? () => this.sftp.rmdir(abs) : undefined);
    await this.applyMetadata(abs, { ...meta, mtimeMs: undefined }, false).catch((err) => {
      throw toSyncError(err, `cannot set metadata of ${path}`, path);
    });
    return (await this.stat(path)) as DirEntry;
  }

  async setMetadata(path: RelPath, meta: Metadata, expect: SyncableEntry): Promise<SyncableEntry> {
    await this.ensureParents(path);
    await this.check(path, expect);
    await this.confirmInside(path);
    try {
      await this.applyMetadata(this.abs(path), meta, expect.kind === 'symlink');
    } catch (err) {
      throw toSyncError(err, `cannot set metadata of ${path}`, path);
    }
    const now = await this.stat(path);
    if (!isSyncable(now)) throw new SyncError('Changed', `${path} vanished while its metadata was set`, path);
    return now;
  }

  async remove(path: RelPath, expect: SyncableEntry): Promise<void> {
    await this.ensureParents(path);
    await this.check(path, expect);
    await this.confirmInside(path);
    try {
      if (expect.kind === 'dir') await this.sftp.rmdir(this.abs(path));
      else await this.sftp.unlink(this.abs(path));
    } catch (err) {
      if (expect.kind === 'dir' && !isNotFound(err) && (err as { code?: number }).code === 4) {
        // OpenSSH reports a non-empty directory as a plain failure.
        throw new SyncError('NotEmpty', `cannot delete ${path}: directory not empty`, path);
      }
      throw toSyncError(err, `cannot delete ${path}`, path);
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
      // Plain SFTP rename refuses an existing target, which is what is wanted here.
      await this.sftp.rename(this.abs(from), this.abs(to));
    } catch (err) {
      if (!isNotFound(err) && (await this.stat(to))) throw new SyncError('Changed', `cannot rename ${from} to ${to}: ${to} exists`, to);
      throw toSyncError(err, `cannot rename ${from} to ${to}`, from);
    }
    this.diskNames.delete(from);
  }

  // ---- names that differ only in case (see engine/caseClash.ts) ----------------------------------

  async caseInsensitive(): Promise<boolean> {
    return probeCaseInsensitive({
      list: async () => (await this.sftp.readdir(this.root)).map((i) => i.name),
      create: async (name) => this.sftp.close(await this.sftp.open(this.absDisk(name), 'wx', { mode: 0o600 })),
      exists: async (name) => (await this.sftp.lstatOrUndefined(this.absDisk(name))) !== undefined,
      remove: (name) => this.sftp.unlink(this.absDisk(name)),
    });
  }

  async listNames(dir: RelPath): Promise<string[]> {
    const items = await this.sftp.readdir(this.abs(dir)).catch((err) => {
      throw toSyncError(err, `cannot list ${dir || this.root}`, dir);
    });
    return items.map((i) => i.name).filter((n) => n !== '.' && n !== '..' && !isTempName(n)).map((n) => n.normalize('NFC'));
  }

  /** 'foo' -> 'Foo' where names ignore case: through a temp name, as LocalReplica does. True when done. */
  private async renameCaseOnly(from: RelPath, to: RelPath): Promise<boolean> {
    if (parentOf(from) !== parentOf(to) || foldName(baseName(from)) !== foldName(baseName(to))) return false;
    const temp = this.tempFor(to);
    await this.sftp.rename(this.abs(from), temp).catch((err) => {
      throw toSyncError(err, `cannot rename ${from} to ${to}`, from);
    });
    // The listing, not a lookup: a lookup of `to` may still find `from` through a cache (FUSE).
    if ((await this.listNames(parentOf(to))).includes(baseName(to))) {
      await this.sftp.rename(temp, this.abs(from));
      return false;
    }
    try {
      await this.sftp.rename(temp, this.abs(to));
    } catch (err) {
      await this.sftp.rename(temp, this.abs(from)).catch(() => undefined);
      throw toSyncError(err, `cannot rename ${from} to ${to}`, from);
    }
    this.diskNames.delete(from);
    return true;
  }

  watch(options: WatchOptions, listener: WatchListener): Promise<Watcher> {
    if (this.helperKind === 'node') return this.watchWithHelper(options, listener);
    return pollWatch(this, options, listener);
  }

  async close(): Promise<void> {
    this.starting?.stop();
    const uploader = await this.upload?.catch(() => undefined);
    uploader?.close();
    try {
      this.sftp.raw.end();
    } catch {
      // already closed
    }
    await this.options.onClose?.();
  }

  // ---- the helper tier ------------------------------------------------------------------------------

  /**
   * The helper's write stream, when the node helper runs here. A stream cut by a lost connection is
   * started again on the next write (which fails the same way if the connection is really gone); a helper
   * that fails otherwise is not asked again on this connection, and writes go over SFTP.
   */
  private async uploader(): Promise<HelperUploader | undefined> {
    const spawn = this.options.spawn;
    if (this.helperKind !== 'node' || !spawn || this.uploadsOff) return undefined;
    // A start cut by a lost connection rejects here, for every write that waited on it (see startUploader).
    const current = await this.upload;
    if (current && !current.failure) return current;
    if (current?.failure) {
      if ((current.failure as SyncError).code !== 'ConnectionLost') {
        this.options.debug?.(`helper: writes go over SFTP from now on (${current.failure.message})`);
        this.uploadsOff = true;
        return undefined;
      }
      this.upload = undefined;
    }
    this.upload ??= this.startUploader(spawn);
    return this.upload;
  }

  private async startUploader(spawn: Spawn): Promise<HelperUploader | undefined> {
    let uploader: HelperUploader;
    try {
      uploader = await HelperUploader.start(spawn, this.helperCommand('receive'), this.root);
    } catch (err) {
      if ((err as SyncError).code === 'ConnectionLost') return this.lostWhileStarting();
      this.options.debug?.(`helper: cannot start the write stream (${(err as Error).message}); writes go over SFTP`);
      this.uploadsOff = true;
      return undefined;
    }
    if (!this.helperCheck) return uploader;
    // A helper taken on trust gets no file before it says it runs: if it does not, nothing was sent
    // that would have to be sent again, and nothing was written.
    let outcome: StartOutcome | 'gone' | 'stuck';
    this.starting = uploader;
    const limitMs = this.options.helperStartLimitMs ?? HELPER_START_LIMIT_MS;
    let limit: NodeJS.Timeout | undefined;
    const stuck = new Promise<'stuck'>((resolve) => (limit = setTimeout(() => resolve('stuck'), limitMs)));
    try {
      outcome = await Promise.race([this.trustedStart(uploader), stuck]);
    } catch (err) {
      uploader.stop();
      throw err;
    } finally {
      clearTimeout(limit);
      this.starting = undefined;
    }
    if (outcome === 'ready') {
      this.helperProven();
      return uploader;
    }
    uploader.stop();
    if (outcome === 'stuck') {
      // Nothing was sent to it: the files go over SFTP, checked the same way.
      this.options.debug?.(`helper: the write stream did not say it runs within ${limitMs / 1000} s; writes go over SFTP`);
      this.uploadsOff = true;
      return undefined;
    }
    if (outcome !== 'gone' && outcome !== 'timeout' && outcome.exit === null) return this.lostWhileStarting();
    if (outcome !== 'gone') await this.recheckHelper(`the write stream did not start (${describeStart(outcome)})`);
    // With the helper back in place (the probe installs it where node runs), the stream once more.
    return this.helperKind === 'node' ? this.startUploader(spawn) : undefined;
  }

  /**
   * The start of a stream of a helper taken on trust. Past the time a probe gets, the stream is left
   * running (a loaded server, a cold disk: slow is not gone) and the server is asked alongside; the
   * stream is given up ('gone') only if that probe says the helper cannot run there.
   */
  private async trustedStart(uploader: HelperUploader): Promise<StartOutcome | 'gone'> {
    const first = await uploader.started(this.options.helperStartTimeoutMs ?? PROBE_TIMEOUT_MS);
    if (first !== 'timeout') return first;
    const probing = this.recheckHelper(`the write stream has not said it runs within ${(this.options.helperStartTimeoutMs ?? PROBE_TIMEOUT_MS) / 1000} s`, true);
    probing.catch(() => undefined); // a stream that starts first no longer needs the probe's answer
    const next = await Promise.race([uploader.started(), probing]);
    if (next === 'ready' || (typeof next === 'object' && 'exit' in next)) return next;
    // The probe answered first: node there (or an unclear answer) leaves the stream to finish starting.
    return this.helperKind === 'node' ? uploader.started() : 'gone';
  }

  /** A write stream cut before it said it runs: the next write starts another. */
  private lostWhileStarting(): never {
    this.upload = undefined;
    throw new SyncError('ConnectionLost', `the connection to ${this.description} was lost while starting to write`);
  }

  private helperCommand(command: 'list' | 'hash' | 'watch' | 'receive'): string {
    const runtime = this.runtime as { kind: 'node'; script: string };
    return `node ${shellQuote(runtime.script)} ${command}`;
  }

  /** The helper taken on trust answered: it is used as it is from now on. */
  private helperProven(): void {
    this.helperCheck?.proven();
    this.helperCheck = undefined;
  }

  /**
   * A command of the helper taken on trust did nothing (no node, no helper file): probes the server
   * afresh, once per connection, and switches to what it finds (an unclear answer: plain SFTP, unless
   * `keepUnclear`, which keeps the helper on trust). Undefined when the helper was not on trust (the
   * caller's own fallback). A command cut by a lost connection (no exit status) says nothing about the
   * server: callers do not ask then.
   */
  private async recheckHelper(why: string, keepUnclear = false): Promise<Recheck | undefined> {
    const check = this.helperCheck;
    if (!check) return undefined;
    const found = await check.recheck(why);
    if (this.helperCheck === check && (found.clear || !keepUnclear)) {
      this.helperCheck = undefined;
      this.runtime = found.runtime;
    }
    return found;
  }

  /**
   * The whole tree in one exec round trip, streamed and parsed as it arrives, into the same Tree the
   * SFTP walk builds: same name checks, NFC mapping, temp-file handling, filter pruning, and mtimes in
   * whole seconds (what SFTP `stat` and `setstat` carry, so that scans and later checks agree).
   *
   * With node, the helper lists a directory only when asked, so excluded directories are pruned at the
   * source. With find, everything is listed and pruned here; a listing error find reports that cannot be
   * placed makes the scan fall back to the SFTP walk (an unreadable directory must never look empty).
   */
  private async scanWithHelper(options: ScanOptions): Promise<Tree> {
    const tree: Tree = new Map();
    const now = Date.now();
    const follow = options.symlinks === 'follow';
    const under = options.under ?? ROOT;
    if (under !== ROOT) {
      const entry = await this.stat(under, follow);
      if (!entry || (entry.kind === 'symlink' && options.symlinks === 'skip')) return tree;
      tree.set(under, entry);
      if (entry.kind !== 'dir') return tree;
    }
    const node = this.helperKind === 'node';
    const startDisk = this.disk(under);
    const startAbs = this.absDisk(startDisk);
    let proc: RemoteProcess;
    try {
      proc = await this.options.spawn!(node ? this.helperCommand('list') : findListCommand(startAbs));
    } catch (err) {
      this.options.debug?.(`helper: cannot start a listing (${(err as Error).message}); walking over SFTP`);
      return this.scanWithSftp(options);
    }
    const stderr: Buffer[] = [];
    proc.stderr.on('data', (d: Buffer) => stderr.push(d));
    /** Accepted directories, disk path -> RelPath: only their children are looked at. */
    const dirs = new Map<string, RelPath>([[startDisk, under]]);
    const seen = new Set<RelPath>();
    const cleanups: Promise<unknown>[] = [];
    let outstanding = 0;
    let rootFailure: unknown;
    const ask = (id: string) => {
      outstanding++;
      proc.stdin.write(`${id}\n`);
    };
    if (node) {
      proc.stdin.write(JSON.stringify({ root: this.root, start: startDisk, follow }) + '\n');
      ask('0');
    } else proc.stdin.end();
    let code: number | null;
    let records = 0;
    try {
      for await (const f of nulTextRecords(proc.stdout, 11)) {
        records++;
        let type = f[0].toString('latin1');
        if (node && type === 'D') {
          if (--outstanding === 0) proc.stdin.end();
          continue;
        }
        if (!node && type !== 'f' && type !== 'd' && type !== 'l') type = 'o';
        const listed = f[10].toString('utf8');
        const diskRel = node || startDisk === '' ? listed : `${startDisk}/${listed}`;
        if (type === 'E' && f[1].length > 0) {
          // A directory that could not be listed.
          const err = errnoAsSftp(f[9].toString('latin1'));
          const dirPath = dirs.get(diskRel);
          if (diskRel === startDisk && under === ROOT) rootFailure = err;
          else if (dirPath !== undefined) tree.set(dirPath, { kind: 'problem', message: toSyncError(err, 'cannot list directory').message });
          continue;
        }
        const slash = diskRel.lastIndexOf('/');
        const dir = dirs.get(slash < 0 ? '' : diskRel.slice(0, slash));
        if (dir === undefined) continue; // below an excluded, unlistable or hidden directory
        const name = slash < 0 ? diskRel : diskRel.slice(slash + 1);
        const mtimeMs = node ? wholeSecondsFromMs(f[3]) : wholeSecondsFromSeconds(f[3]);
        if (isTempName(name)) {
          if (isStaleTemp(name, mtimeMs, now)) {
            const attrs = { mode: type === 'd' ? S_IFDIR : S_IFREG } as Attributes;
            cleanups.push(this.removeTemp(diskRel, attrs).catch(() => undefined));
          }
          continue;
        }
        const admitted = admitName(dir, name, seen, notUtf8);
        const path = admitted.path;
        if (!admitted.ok) {
          tree.set(path, { kind: 'problem', message: admitted.problem });
          continue;
        }
        if (admitted.renamed) this.diskNames.set(path, diskRel);
        if (type === 'l' && options.symlinks === 'skip') continue;
        const entry = listedEntry(type, f, mtimeMs);
        if (options.filter.excludes(path, type === 'd' || type === 'X')) continue;
        tree.set(path, entry);
        if (type !== 'd') continue;
        dirs.set(diskRel, path);
        if (node) ask(f[1].toString('latin1'));
      }
      code = await proc.exit;
    } finally {
      proc.stdin.end();
      proc.kill();
    }
    await Promise.all(cleanups);
    const errors = Buffer.concat(stderr).toString('utf8');
    if (records > 0) this.helperProven();
    else if (node && code !== 0 && code !== null && (await this.recheckHelper(`the listing did not start (exit ${code}${errors ? `: ${errors.trim().slice(0, 200)}` : ''})`))) return this.scan(options);
    if (rootFailure !== undefined) throw toSyncError(rootFailure, `cannot list ${this.description}`);
    if (node) {
      if (code !== 0 || outstanding > 0) {
        // A helper that broke (or a lost connection, which the walk reports as such): walk over SFTP.
        this.options.debug?.(`helper: listing failed (exit ${code}${errors ? `: ${errors.trim().slice(0, 300)}` : ''}); walking over SFTP`);
        return this.scanWithSftp(options);
      }
      return tree;
    }
    // find: place every error it reported, or trust none of its listing.
    if (code !== 0 && code !== 1) return this.scanWithSftp(options);
    const prefix = startAbs.endsWith('/') ? startAbs : `${startAbs}/`;
    for (const line of errors.split('\n')) {
      if (line.trim() === '') continue;
      const m = /^find: '(.*)': (.*)$/.exec(line);
      if (!m) return this.scanWithSftp(options);
      const [, where, why] = m;
      const err = /Permission denied/.test(why) ? { code: 3 } : /No such file/.test(why) ? { code: 2 } : { code: 4, message: why };
      if (where === startAbs) throw toSyncError(err, `cannot list ${this.description}`);
      const diskRel = where.startsWith(prefix) ? (startDisk === '' ? '' : `${startDisk}/`) + where.slice(prefix.length) : undefined;
      const dirPath = diskRel === undefined ? undefined : dirs.get(diskRel);
      if (dirPath !== undefined) tree.set(dirPath, { kind: 'problem', message: toSyncError(err, 'cannot list directory').message });
      else if (err.code !== 2) return this.scanWithSftp(options);
    }
    return tree;
  }

  /** Hashes on the server, many paths per helper run: calls made while one run is busy form the next batch. */
  private hashWithHelper(path: RelPath): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      this.hashQueue.push({ path, resolve, reject });
      if (!this.hashing) {
        this.hashing = true;
        setImmediate(() => void this.drainHashes());
      }
    });
  }

  private async drainHashes(): Promise<void> {
    while (this.hashQueue.length > 0) {
      const batch = this.hashQueue.splice(0, HASH_BATCH);
      if (this.helperKind !== 'node') {
        // The tier changed under the queue (the helper taken on trust did not start): hashed over SFTP.
        for (const item of batch) item.resolve(undefined);
        continue;
      }
      let answered = 0;
      let code: number | null | undefined;
      try {
        const proc = await this.options.spawn!(this.helperCommand('hash'));
        proc.stderr.resume();
        proc.stdin.end(JSON.stringify({ root: this.root, paths: batch.map((b) => this.disk(b.path)) }) + '\n');
        for await (const [status, value] of nulTextRecords(proc.stdout, 2)) {
          const item = batch[answered++];
          if (!item) break;
          if (status.toString('latin1') === 'ok') item.resolve(value.toString('latin1'));
          else item.reject(toSyncError(errnoAsSftp(value.toString('latin1')), `cannot read ${item.path}`, item.path));
        }
        code = await proc.exit;
      } catch (err) {
        this.options.debug?.(`helper: hashing failed (${(err as Error).message}); hashing here`);
      }
      if (answered > 0) this.helperProven();
      else if (code !== undefined && code !== null && code !== 0) {
        try {
          // Did not start: with the helper back in place the batch goes to it again, else it is hashed here.
          if ((await this.recheckHelper(`hashing did not start (exit ${code})`)) && this.helperKind === 'node') {
            this.hashQueue.unshift(...batch);
            continue;
          }
        } catch (err) {
          for (const item of batch) item.reject(err as Error);
        }
      }
      // Whatever the helper did not answer is hashed over SFTP (a settled promise ignores this).
      for (const item of batch) item.resolve(undefined);
    }
    this.hashing = false;
  }

  /**
   * Change events from the server: the helper watches the directories this side's scan accepted
   * (excluded trees are never watched), reports new directories, and is told which of them to watch.
   * It exits when its stdin closes, so it dies with the connection.
   */
  private async watchWithHelper(options: WatchOptions, listener: WatchListener): Promise<Watcher> {
    const tree = await this.scan({ filter: options.filter, symlinks: 'copy' });
    let proc: RemoteProcess;
    try {
      proc = await this.options.spawn!(this.helperCommand('watch'));
    } catch (err) {
      this.options.debug?.(`helper: cannot start the watcher (${(err as Error).message}); polling`);
      return pollWatch(this, options, listener);
    }
    proc.stderr.resume();
    let closed = false;
    const send = (command: string) => {
      if (!closed) proc.stdin.write(command + '\0');
    };
    proc.stdin.write(JSON.stringify({ root: this.root }) + '\n');
    send('w');
    for (const [path, entry] of tree) if (entry.kind === 'dir') send(`w${this.disk(path)}`);
    send('s');

    const toRel = (disk: string): RelPath | undefined => {
      const segments = disk.split('/');
      if (segments.some((s) => invalidSegment(s) !== undefined || isTempName(s))) return undefined;
      let path: RelPath = ROOT;
      for (let i = 0; i < segments.length; i++) {
        path = join(path, segments[i].normalize('NFC'));
        if (i < segments.length - 1 && options.filter.excludes(path, true)) return undefined;
      }
      if (options.filter.excludes(path, false) && options.filter.excludes(path, true)) return undefined;
      return path;
    };
    let pending: RelPath[] = [];
    const deliver = () => {
      const paths = pending;
      pending = [];
      if (paths.length > 0 && !closed) listener.onChange([...new Set(paths)]);
    };
    let onReady!: () => void;
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    const reading = (async () => {
      for await (const [f] of nulRecords(proc.stdout, 1)) {
        const kind = String.fromCharCode(f[0]);
        const rest = f.subarray(1).toString('utf8');
        if (kind === 'r') onReady();
        else if (kind === 'o') {
          if (!closed) listener.onChange('overflow');
        } else if (kind === 'e') {
          if (!closed) listener.onError(new SyncError('Io', `remote watcher on ${this.description}: ${rest}`));
        } else if (kind === 'c' || kind === 'd') {
          const path = toRel(rest);
          if (path === undefined) continue;
          if (kind === 'd' && !options.filter.excludes(path, true)) send(`n${rest}`);
          if (pending.length === 0) setImmediate(deliver);
          pending.push(path);
        }
      }
    })().catch(() => undefined);
    const ended = Promise.all([reading, proc.exit]).then(([, code]) => code);
    const first = await Promise.race([ready.then(() => 'ready' as const), ended]);
    if (first !== 'ready') {
      if (first !== null && (await this.recheckHelper(`the watcher did not start (exit ${first})`))) return this.watch(options, listener);
      this.options.debug?.(`helper: the watcher exited at start (${first}); polling`);
      return pollWatch(this, options, listener);
    }
    this.helperProven();
    void ended.then((code) => {
      if (closed) return;
      listener.onError(new SyncError('ConnectionLost', `the remote watcher on ${this.description} stopped (exit ${code})`));
      listener.onChange('overflow');
    });
    return {
      method: 'events',
      close: async () => {
        if (closed) return;
        closed = true;
        proc.stdin.end();
        const timer = setTimeout(() => proc.kill(), 2000);
        await proc.exit;
        clearTimeout(timer);
      },
    };
  }

  // ---- internals ------------------------------------------------------------------------------------

  private disk(path: RelPath): string {
    if (path === ROOT) return '';
    const mapped = this.diskNames.get(path);
    if (mapped !== undefined) return mapped;
    const parent = parentOf(path);
    return parent === ROOT ? path : `${this.disk(parent)}/${baseName(path)}`;
  }

  private absDisk(diskRel: string): string {
    if (diskRel === '') return this.root;
    return this.root === '/' ? `/${diskRel}` : `${this.root}/${diskRel}`;
  }

  private abs(path: RelPath): string {
    return this.absDisk(this.disk(path));
  }

  private tempFor(path: RelPath): string {
    const parent = parentOf(path);
    const name = tempNameFor(baseName(path));
    return parent === ROOT ? this.absDisk(name) : `${this.abs(parent)}/${name}`;
  }

  private async statDisk(diskRel: string, follow: boolean): Promise<Entry | undefined> {
    const abs = this.absDisk(diskRel);
    let attrs: Attributes;
    try {
      attrs = await this.sftp.lstat(abs);
      if (follow && (attrs.mode & S_IFMT) === S_IFLNK) {
        try {
          attrs = await this.sftp.stat(abs);
        } catch {
          return { kind: 'problem', message: 'symbolic link points to nothing (cannot follow it)' };
        }
      }
    } catch (err) {
      if (isNotFound(err)) return undefined;
      const e = toSyncError(err, 'cannot stat');
      if (e.code === 'ConnectionLost') throw e;
      return { kind: 'problem', message: e.message };
    }
    if ((attrs.mode & S_IFMT) === S_IFLNK) {
      try {
        return { kind: 'symlink', target: await this.sftp.readlink(abs), mtimeMs: attrs.mtime * 1000, uid: attrs.uid, gid: attrs.gid };
      } catch (err) {
        return { kind: 'problem', message: toSyncError(err, 'cannot read link').message };
      }
    }
    return toEntry(attrs);
  }

  private async removeTemp(diskRel: string, attrs: Attributes): Promise<void> {
    const abs = this.absDisk(diskRel);
    if ((attrs.mode & S_IFMT) === S_IFDIR) await this.sftp.rmdir(abs);
    else await this.sftp.unlink(abs);
  }

  /**
   * Creates missing parents and refuses any parent that is not a real directory: a directory swapped
   * for a symlink must never carry a write outside the root.
   */
  private async ensureParents(path: RelPath): Promise<void> {
    for (const dir of ancestors(path)) {
      const abs = this.abs(dir);
      let st: Attributes | undefined;
      try {
        st = await this.sftp.lstatOrUndefined(abs);
      } catch (err) {
        throw toSyncError(err, `cannot check ${dir}`, path);
      }
      if (!st) {
        try {
          await this.sftp.mkdir(abs, 0o755);
        } catch (err) {
          st = await this.sftp.lstatOrUndefined(abs).catch(() => undefined);
          if (!st) throw toSyncError(err, `cannot create directory ${dir}`, path);
        }
        if (!st) await this.confirmPlace(dir, path, () => this.sftp.rmdir(abs));
      }
      if (st && (st.mode & S_IFMT) !== S_IFDIR) {
        const what = (st.mode & S_IFMT) === S_IFLNK ? 'symbolic link' : 'file';
        throw new SyncError('Unsafe', `refusing to write ${path}: its parent ${dir} is a ${what}, not a directory`, path);
      }
    }
  }

  /**
   * SFTP resolves every path through whatever its parents are at that moment and cannot pin a
   * directory: a parent ensureParents found to be a real directory can be a symlink to anywhere a round
   * trip later. This asks the server where the parent of `path` is now, and refuses unless it is its
   * place in the root. Called right after a temp file or directory is made (so that a swap before it is
   * caught before any data is sent, and what was made is removed again) and right before a deletion or
   * a metadata change. Later steps go by the temp file's path, which a later swap makes point nowhere.
   */
  private async confirmInside(path: RelPath, undo?: () => Promise<void>): Promise<void> {
    const parent = parentOf(path);
    if (parent !== ROOT) await this.confirmPlace(parent, path, undo);
  }

  /** Refuses (after `undo`, which removes what was just made there) unless `dir` is its place in the root. */
  private async confirmPlace(dir: RelPath, path: RelPath, undo?: () => Promise<void>): Promise<void> {
    this.rootReal ??= this.sftp.realpath(this.root).catch((err) => {
      this.rootReal = undefined;
      throw err;
    });
    const [rootReal, real] = await Promise.all([this.rootReal, this.sftp.realpath(this.abs(dir))]);
    const expected = rootReal === '/' ? `/${this.disk(dir)}` : `${rootReal}/${this.disk(dir)}`;
    if (real === expected) return;
    await undo?.().catch(() => undefined);
    throw new SyncError('Unsafe', `refusing to write ${path}: ${dir} is not a directory in its place in the root (it leads to ${real})`, path);
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
      // Creating: a hard link refuses to replace something that appeared since the check.
      if (this.sftp.hasExtension('hardlink@openssh.com')) {
        try {
          await this.sftp.hardlink(temp, target);
          await this.sftp.unlink(temp);
          return;
        } catch (err) {
          if (await this.stat(path)) throw new SyncError('Changed', `${path} appeared while it was being written; it will be looked at again on the next run`, path);
          // Otherwise the file system may have no hard links: fall through to rename.
          void err;
        }
      }
      // Plain SFTP rename never replaces an existing target either.
      try {
        await this.sftp.rename(temp, target);
        return;
      } catch (err) {
        if (await this.stat(path)) throw new SyncError('Changed', `${path} appeared while it was being written; it will be looked at again on the next run`, path);
        throw err;
      }
    }
    if (!this.sftp.hasExtension('posix-rename@openssh.com')) {
      throw new SyncError('Io', `cannot replace ${path}: the SFTP server lacks posix-rename@openssh.com (atomic replace)`, path);
    }
    await this.sftp.posixRename(temp, target);
  }

  private async applyMetadata(abs: string, meta: Metadata, isLink: boolean, handle?: Buffer): Promise<void> {
    const attrs: InputAttributes = {};
    if (!isLink && meta.mode !== undefined) attrs.mode = meta.mode;
    if (meta.mtimeMs !== undefined) {
      const t = Math.floor(meta.mtimeMs / 1000);
      attrs.atime = t;
      attrs.mtime = t;
    }
    if (isLink) {
      // setstat follows links; only lsetstat may touch the link itself.
      if (Object.keys(attrs).length > 0 && this.sftp.hasExtension('lsetstat@openssh.com')) await this.sftp.lsetstat(abs, attrs);
    } else if (Object.keys(attrs).length > 0) {
      if (handle) await this.sftp.fsetstat(handle, attrs);
      else await this.sftp.setstat(abs, attrs);
    }
    if (meta.uid !== undefined && meta.gid !== undefined && !isLink) {
      // Ownership is kept only where permitted (usually as root).
      await this.sftp.setstat(abs, { uid: meta.uid, gid: meta.gid }).catch((err) => {
        if ((err as { code?: number }).code !== 3) throw err;
      });
    }
  }

  /** sha256sum over exec, when the server allows commands; undefined means "hash it here". */
  private async hashRemotely(path: RelPath): Promise<string | undefined> {
    const exec = this.options.exec;
    if (!exec) return undefined;
    this.remoteHash ??= exec('sha256sum --version').then(
      (r) => r.code === 0 && r.stdout.includes('sha256sum'),
      () => false,
    );
    if (!(await this.remoteHash)) return undefined;
    try {
      const r = await exec(`sha256sum -b -- ${shellQuote(this.abs(path))}`);
      const m = /^\\?([0-9a-f]{64}) /.exec(r.stdout);
      return r.code === 0 && m ? m[1] : undefined;
    } catch {
      return undefined;
    }
  }
}

/** `data` as it goes by, into `hasher`. */
async function* hashing(data: AsyncIterable<Buffer | string>, hasher: Hash): AsyncGenerator<Buffer> {
  for await (const chunk of data) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    hasher.update(bytes);
    yield bytes;
  }
}

function receiveMeta(meta: Metadata): ReceiveMeta {
  const owner = meta.uid !== undefined && meta.gid !== undefined;
  return {
    mode: meta.mode,
    uid: owner ? meta.uid : undefined,
    gid: owner ? meta.gid : undefined,
    mtimeS: meta.mtimeMs === undefined ? undefined : Math.floor(meta.mtimeMs / 1000),
  };
}

function receiveExpect(expect: Expectation): ReceiveExpect {
  if (expect === undefined) return null;
  switch (expect.kind) {
    case 'file':
      return { k: 'f', z: expect.size, t: expect.mtimeMs };
    case 'dir':
      return { k: 'd' };
    case 'symlink':
      return { k: 'l', l: expect.target };
  }
}

/** The helper's stat, as the SFTP path's `toEntry` would have it. */
function fromReceived([type, size, mtimeS, mode, uid, gid]: ReceivedStat): Entry {
  switch (type) {
    case 'f':
      return { kind: 'file', size, mtimeMs: mtimeS * 1000, mode, uid, gid };
    case 'd':
      return { kind: 'dir', mtimeMs: mtimeS * 1000, mode, uid, gid };
    default:
      return { kind: 'problem', message: 'not a regular file or directory' };
  }
}

function matches(now: Entry | undefined, expect: Expectation): boolean {
  if (expect === undefined) return now === undefined;
  if (!isSyncable(now)) return false;
  return sameFingerprint(expect, now);
}

function toEntry(attrs: Attributes): Entry {
  const identity = { uid: attrs.uid, gid: attrs.gid };
  const mode = attrs.mode & 0o7777;
  const mtimeMs = attrs.mtime * 1000;
  switch (attrs.mode & S_IFMT) {
    case S_IFREG:
      return { kind: 'file', size: attrs.size, mtimeMs, mode, ...identity };
    case S_IFDIR:
      return { kind: 'dir', mtimeMs, mode, ...identity };
    default:
      return { kind: 'problem', message: 'not a regular file, directory or symbolic link (skipped)' };
  }
}


/** Runs at most `n` tasks at once. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** `find` with -printf in the helper's record layout (type, id, size, mtime s, mode, uid, gid, ino, dev, target, path). */
function findListCommand(startAbs: string): string {
  const fmt = '%y\\0\\0%s\\0%T@\\0%m\\0%U\\0%G\\0%i\\0%D\\0%l\\0%P\\0';
  // -H: the root may be a link to a directory (as SFTP's readdir allows); nothing below is followed.
  // Temp names are printed (for stale-temp removal) but not descended into.
  return `LC_ALL=C find -H ${shellQuote(startAbs)} -mindepth 1 -name '.ssh-sync-tmp.*' -prune -printf '${fmt}' -o -printf '${fmt}'`;
}

/** An entry from a helper record (whole-second mtime already computed). */
function listedEntry(type: string, f: NulField[], mtimeMs: number): Entry {
  const num = (b: NulField) => Number(b.toString('latin1'));
  const mode = parseInt(f[4].toString('latin1'), 8);
  switch (type) {
    case 'f':
      return { kind: 'file', size: num(f[2]), mtimeMs, mode, uid: num(f[5]), gid: num(f[6]) };
    case 'd':
      return { kind: 'dir', mtimeMs, mode, uid: num(f[5]), gid: num(f[6]) };
    case 'l':
      return { kind: 'symlink', target: f[9].toString('utf8'), mtimeMs, uid: num(f[5]), gid: num(f[6]) };
    case 'X':
      return { kind: 'problem', message: 'symbolic link loop' };
    case 'N':
      return { kind: 'problem', message: 'symbolic link points to nothing (cannot follow it)' };
    case 'E':
      return { kind: 'problem', message: toSyncError(errnoAsSftp(f[9].toString('latin1')), 'cannot stat').message };
    default:
      return { kind: 'problem', message: 'not a regular file, directory or symbolic link (skipped)' };
  }
}

/** An errno code from the helper as the SFTP status an OpenSSH server would have sent. */
function errnoAsSftp(code: string): { code: number; message: string } {
  if (code === 'ENOENT' || code === 'ENOTDIR') return { code: 2, message: 'No such file' };
  if (code === 'EACCES' || code === 'EPERM') return { code: 3, message: 'Permission denied' };
  return { code: 4, message: code };
}

/** Integer milliseconds -> whole seconds in ms (SFTP's resolution). */
function wholeSecondsFromMs(b: NulField): number {
  return Math.floor(Number(b.toString('latin1')) / 1000) * 1000;
}

/** find's `%T@` (seconds with a fraction) -> whole seconds in ms, without float rounding. */
function wholeSecondsFromSeconds(b: NulField): number {
  const [whole, fraction = ''] = b.toString('latin1').split('.');
  let seconds = Number(whole);
  if (whole.startsWith('-') && /[1-9]/.test(fraction)) seconds -= 1;
  return seconds * 1000;
}
