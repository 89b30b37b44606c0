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
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', ({ id, paths }) => {
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
  parentPort.postMessage({ id, out }, [out.buffer]);
});
`;

/** Threads to stat on besides the caller's: one less than the cores, at least one, at most three. */
export function statThreads(): number {
  return Math.max(1, Math.min(3, availableParallelism() - 1));
}

interface Job {
  readonly paths: readonly string[];
  resolve(out: Float64Array): void;
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
  private nextId = 0;

  constructor(threads: number) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      const slot: Slot = { worker, jobs: [] };
      worker.on('message', ({ out }: { out: Float64Array }) => {
        slot.jobs.shift()?.resolve(out);
        this.dispatch();
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
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ paths, resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Takes back the oldest job no worker has started, for the caller to do itself (and resolve); the
   * caller shares the work once it has nothing else to do.
   */
  takeWaiting(): { paths: readonly string[]; resolve(out: Float64Array): void } | undefined {
    return this.waiting.shift();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  private dispatch(): void {
    for (const slot of this.workers) {
      while (slot.jobs.length < AHEAD && this.waiting.length > 0) {
        const job = this.waiting.shift() as Job;
        slot.jobs.push(job);
        slot.worker.postMessage({ id: this.nextId++, paths: job.paths });
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

/** The same numbers as a worker gives, for a path stat'ed on the caller's thread. */
export function statInto(lstat: (path: string) => import('node:fs').Stats | undefined, path: string, out: Float64Array, at: number): void {
  let st;
  try {
    st = lstat(path);
  } catch {
    out[at] = StatKind.Failed;
    return;
  }
  if (!st) {
    out[at] = StatKind.Gone;
    return;
  }
  out[at] = st.isFile() ? StatKind.File : st.isDirectory() ? StatKind.Dir : st.isSymbolicLink() ? StatKind.Symlink : StatKind.Other;
  out[at + 1] = st.mode;
  out[at + 2] = st.size;
  out[at + 3] = st.mtimeMs;
  out[at + 4] = st.ino;
  out[at + 5] = st.dev;
  out[at + 6] = st.uid;
  out[at + 7] = st.gid;
}
