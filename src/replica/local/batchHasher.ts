import { availableParallelism } from 'node:os';
import type { SmallRead } from '../replica';
import { StatPool, type HashAnswer, type ReadAnswer } from './statPool';

/** Workers with nothing to do for this long are stopped. */
const IDLE_MS = 500;

interface Request<T> {
  readonly file: string;
  resolve(answer: T): void;
  reject(err: Error): void;
}

interface BatchOptions<T> {
  /** Fewer requests than this in one turn, with no workers running, are served on this thread. */
  readonly poolFrom: number;
  /** Files per worker job. */
  readonly chunk: number;
  /** Serves one file on this thread (a few requests, or a pool that failed). */
  readonly here: (file: string) => Promise<T>;
  /** Serves many on a worker: an answer, or an error, per file. */
  readonly onPool: (pool: StatPool, files: string[]) => Promise<(T | Error)[]>;
}

/**
 * Gathers the requests made in one turn of the event loop. Many at once (a first run adopting a tree
 * both sides already hold asks for every file's hash; a first push reads every file) are served on
 * worker threads, one per core, while this thread goes on; the workers stay while requests keep
 * coming, and stop when idle. A few requests, with no workers running, are served here.
 */
export class PoolBatcher<T> {
  private queue: Request<T>[] = [];
  private scheduled = false;
  private pool: StatPool | undefined;
  private busy = 0;
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly options: BatchOptions<T>) {}

  run(file: string): Promise<T> {
    return new Promise((resolve, reject) => {
      this.queue.push({ file, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    const { poolFrom, chunk, here, onPool } = this.options;
    if (!this.pool && batch.length < poolFrom) {
      for (const r of batch) here(r.file).then(r.resolve, r.reject);
      return;
    }
    clearTimeout(this.idle);
    const pool = (this.pool ??= new StatPool(Math.min(4, availableParallelism())));
    for (let at = 0; at < batch.length; at += chunk) {
      const part = batch.slice(at, at + chunk);
      this.busy++;
      onPool(
        pool,
        part.map((r) => r.file),
      )
        .then(
          (answers) => part.forEach((r, i) => (answers[i] instanceof Error ? r.reject(answers[i] as Error) : r.resolve(answers[i] as T))),
          // A worker that failed: its files are served here instead, and the pool is not used again.
          () => {
            if (this.pool === pool) this.pool = undefined;
            part.forEach((r) => here(r.file).then(r.resolve, r.reject));
          },
        )
        .finally(() => {
          if (--this.busy > 0) return;
          clearTimeout(this.idle);
          this.idle = setTimeout(() => this.stop(), IDLE_MS);
          this.idle.unref();
        });
    }
  }

  private stop(): void {
    if (this.busy > 0 || !this.pool) return;
    void this.pool.close();
    this.pool = undefined;
  }
}

function asError(a: { readonly code?: string; readonly message: string }): Error {
  return Object.assign(new Error(a.message), { code: a.code });
}

/** Hashes (hex SHA-256) of whole files; 256 asked in one turn start the workers. */
export function batchHasher(hashHere: (file: string) => Promise<string>): PoolBatcher<string> {
  return new PoolBatcher<string>({
    poolFrom: 256,
    chunk: 128,
    here: hashHere,
    onPool: async (pool, files) => (await pool.hash(files)).map((a: HashAnswer) => (typeof a === 'string' ? a : asError(a))),
  });
}

/**
 * Whole reads of small files (undefined: bigger than `limit`); a first push asks for one per file, a
 * dozen or more per turn, and its thread is then free for the transfer while the workers read.
 */
export function batchReader(limit: number, readHere: (key: string) => Promise<SmallRead | undefined>, fileOf: (key: string) => string): PoolBatcher<SmallRead | undefined> {
  return new PoolBatcher<SmallRead | undefined>({
    poolFrom: 16,
    chunk: 32,
    here: readHere,
    onPool: async (pool, keys) => (await pool.read(keys.map(fileOf), limit)).map((a: ReadAnswer) => (a === 'big' ? undefined : 'data' in a ? a : asError(a))),
  });
}
