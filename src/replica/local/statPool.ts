import { lstatSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * `lstat` of many paths on worker threads while the caller goes on (lists directories, or stats a share
 * itself). A scan of 100,000 files spends most of its time in `lstat`; on a second core that time
 * overlaps the listing and the caller's own share.
 *
 * Each path's answer is STAT_FIELDS numbers: kind (see StatKind), mode, size, mtimeMs, ino, dev, uid,
 * gid. Only the kind is set for a path that is gone or could not be looked at.
 */
export const STAT_FIELDS = 8;

export const enum StatKind {
  Gone = 0,
  File = 1,
  Dir = 2,
  Symlink = 3,
  Other = 4,
  Failed = 5,
}

// Plain CommonJS for `new Worker(..., { eval: true })`: no file of its own to ship beside the bundles.
// (lstatAll is statHere() again: eval'ed source cannot import it.)
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const buffer = Buffer.allocUnsafe(1 << 20);
function lstatAll(paths) {
  const out = new Float64Array(paths.length * ${STAT_FIELDS});
  for (let i = 0; i < paths.length; i++) {
    const o = i * ${STAT_FIELDS};
    let st;
    try {
      st = fs.lstatSync(paths[i], { throwIfNoEntry: false });
    } catch {
      out[o] = ${StatKind.Failed};
      continue;
    }
    if (!st) continue;
    out[o] = st.isFile() ? ${StatKind.File} : st.isDirectory() ? ${StatKind.Dir} : st.isSymbolicLink() ? ${StatKind.Symlink} : ${StatKind.Other};
    out[o + 1] = st.mode; out[o + 2] = st.size; out[o + 3] = st.mtimeMs; out[o + 4] = st.ino;
    out[o + 5] = st.dev; out[o + 6] = st.uid; out[o + 7] = st.gid;
  }
  return out;
}
function hashAll(paths) {
  const out = [];
  for (const path of paths) {
    let fd;
    try {
      // Never blocking on a FIFO (or a device) that took a file's place since the scan.
      fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      if (!fs.fstatSync(fd).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
      const hash = createHash('sha256');
      for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
      out.push(hash.digest('hex'));
    } catch (err) {
      out.push({ code: err.code, message: err.message });
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }
  return out;
}
function readAll(paths, limit) {
  // sizes[i]: the length of file i's bytes in data (in order), -1 an error (in errors), -2 bigger than limit.
  const sizes = new Float64Array(paths.length);
  const errors = [];
  const parts = [];
  // The hex SHA-256 of each file read, in order, joined: the end-to-end check of what is sent.
  let digests = '';
  let total = 0;
  for (let i = 0; i < paths.length; i++) {
    let fd;
    try {
      fd = fs.openSync(paths[i], fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
      if (st.size > limit) { sizes[i] = -2; continue; }
      const buf = Buffer.allocUnsafeSlow(st.size);
      let got = 0;
      for (let n; got < st.size && (n = fs.readSync(fd, buf, got, st.size - got, got)) > 0; ) got += n;
      const bytes = buf.subarray(0, got);
      parts.push(bytes);
      digests += createHash('sha256').update(bytes).digest('hex');
      sizes[i] = got;
      total += got;
    } catch (err) {
      sizes[i] = -1;
      errors.push({ at: i, code: err.code, message: err.message });
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }
  // A buffer of its own, never a slice of Buffer's shared pool (small sizes come from there): it is
  // handed over whole, and the offsets are counted from its start.
  const data = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (const part of parts) at += part.copy(data, at);
  return { sizes, errors, digests, data: data.buffer };
}
parentPort.on('message', ({ op, joined, limit }) => {
  const paths = joined.split('\\0');
  if (op === 'hash') return parentPort.postMessage(hashAll(paths));
  if (op === 'read') {
    const out = readAll(paths, limit);
    return parentPort.postMessage(out, [out.sizes.buffer, out.data]);
  }
  const out = lstatAll(paths);
  parentPort.postMessage(out, [out.buffer]);
});
`;

/** What a worker answers for one path it hashed: the hex SHA-256, or the error (code and message). */
export type HashAnswer = string | { readonly code?: string; readonly message: string };

/**
 * What a worker answers for one file it read: its bytes and their hex SHA-256 (taken on the worker, from
 * the bytes as read), 'big' (over the limit: not read), or the error.
 */
export type ReadAnswer = { readonly data: Buffer; readonly sha256: string } | 'big' | { readonly code?: string; readonly message: string };

/** Threads to stat on besides the caller's: one less than the cores, at least one, at most three. */
export function statThreads(): number {
  return Math.max(1, Math.min(3, availableParallelism() - 1));
}

interface Job {
  readonly op: 'lstat' | 'hash' | 'read';
  readonly paths: readonly string[];
  readonly limit?: number;
  resolve(out: unknown): void;
  reject(err: Error): void;
}

/**
 * Jobs sent to one worker ahead: it goes on with the next while its answer waits for the caller's
 * thread to take it (which may be busy for a while).
 */
const AHEAD = 2;

interface Slot {
  readonly worker: Worker;
  /** Sent and not answered yet, oldest first (a worker answers in order). */
  readonly jobs: Job[];
}

export class StatPool {
  private readonly workers: Slot[] = [];
  private readonly waiting: Job[] = [];
  private failure: Error | undefined;

  constructor(threads: number) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref(); // until it has a job (see dispatch)
      const slot: Slot = { worker, jobs: [] };
      worker.on('message', (out: unknown) => {
        slot.jobs.shift()?.resolve(out);
        this.dispatch();
        // An idle worker does not keep the process alive (one with a job does: its answer is awaited).
        if (slot.jobs.length === 0) worker.unref();
      });
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => {
        if (code !== 0 || slot.jobs.length > 0) this.fail(new Error(`a stat worker stopped (exit ${code})`));
      });
      this.workers.push(slot);
    }
  }

  /** Stats `paths` (absolute) on a worker. */
  stat(paths: readonly string[]): Promise<Float64Array> {
    return this.run('lstat', paths) as Promise<Float64Array>;
  }

  /** Hashes the files at `paths` (absolute) on a worker, reading each to its end. */
  hash(paths: readonly string[]): Promise<HashAnswer[]> {
    return this.run('hash', paths) as Promise<HashAnswer[]>;
  }

  /**
   * Reads each file at `paths` (absolute) whole on a worker, unless it is bigger than `limit` bytes.
   * Never blocks on a FIFO or device that took a file's place: anything but a regular file is an error.
   */
  async read(paths: readonly string[], limit: number): Promise<ReadAnswer[]> {
    const out = (await this.run('read', paths, limit)) as { sizes: Float64Array; errors: { at: number; code?: string; message: string }[]; digests: string; data: ArrayBuffer };
    const answers: ReadAnswer[] = [];
    let at = 0;
    let file = 0;
    for (let i = 0; i < paths.length; i++) {
      const size = out.sizes[i];
      if (size >= 0) {
        answers.push({ data: Buffer.from(out.data, at, size), sha256: out.digests.slice(64 * file, 64 * ++file) });
        at += size;
      } else answers.push(size === -2 ? 'big' : { message: 'unreadable' });
    }
    for (const e of out.errors) answers[e.at] = { code: e.code, message: e.message };
    return answers;
  }

  /**
   * Takes back the oldest stat job no worker has started, for the caller to do itself (and resolve);
   * the caller shares the work once it has nothing else to do.
   */
  takeWaiting(): { paths: readonly string[]; resolve(out: Float64Array): void } | undefined {
    const at = this.waiting.findIndex((job) => job.op === 'lstat');
    return at < 0 ? undefined : this.waiting.splice(at, 1)[0];
  }

  private run(op: Job['op'], paths: readonly string[], limit?: number): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ op, paths, limit, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  private dispatch(): void {
    for (const slot of this.workers) {
      while (slot.jobs.length < AHEAD && this.waiting.length > 0) {
        const job = this.waiting.shift() as Job;
        slot.jobs.push(job);
        slot.worker.ref();
        // One string, not an array of them: much cheaper to copy to the worker (paths hold no NUL).
        slot.worker.postMessage({ op: job.op, joined: job.paths.join('\0'), limit: job.limit });
      }
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const job of [...this.waiting, ...this.workers.flatMap((w) => w.jobs)]) job.reject(err);
    this.waiting.length = 0;
    for (const slot of this.workers) slot.jobs.length = 0;
  }
}

/** The same numbers as a worker gives (the worker's lstatAll, whose copy this is), on the caller's thread. */
export function statHere(paths: readonly string[]): Float64Array {
  const out = new Float64Array(paths.length * STAT_FIELDS);
  for (let i = 0; i < paths.length; i++) {
    const at = i * STAT_FIELDS;
    let st;
    try {
      st = lstatSync(paths[i], { throwIfNoEntry: false });
    } catch {
      out[at] = StatKind.Failed;
      continue;
    }
    if (!st) continue; // StatKind.Gone
    out[at] = st.isFile() ? StatKind.File : st.isDirectory() ? StatKind.Dir : st.isSymbolicLink() ? StatKind.Symlink : StatKind.Other;
    out[at + 1] = st.mode;
    out[at + 2] = st.size;
    out[at + 3] = st.mtimeMs;
    out[at + 4] = st.ino;
    out[at + 5] = st.dev;
    out[at + 6] = st.uid;
    out[at + 7] = st.gid;
  }
  return out;
}
