import { availableParallelism } from 'node:os';
import { StatPool } from './statPool';

/** Fewer requests than this in one turn, with no workers running, are hashed on this thread. */
const POOL_FROM = 256;
/** Files per worker job. */
const CHUNK = 128;
/** Workers with nothing to do for this long are stopped. */
const IDLE_MS = 500;

interface Request {
  readonly file: string;
  resolve(hash: string): void;
  reject(err: Error): void;
}

/**
 * Gathers the hash requests made in one turn of the event loop. Many at once (a first run adopting a
 * tree both sides already hold asks for every file) are read and hashed on worker threads, one per core,
 * while this thread only waits; the workers stay while requests keep coming, and stop when idle. A few
 * requests, with no workers running, are hashed here by `hashHere`.
 */
export class BatchHasher {
  private queue: Request[] = [];
  private scheduled = false;
  private pool: StatPool | undefined;
  private busy = 0;
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly hashHere: (file: string) => Promise<string>) {}

  hash(file: string): Promise<string> {
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
    if (!this.pool && batch.length < POOL_FROM) {
      for (const r of batch) this.hashHere(r.file).then(r.resolve, r.reject);
      return;
    }
    clearTimeout(this.idle);
    const pool = (this.pool ??= new StatPool(Math.min(4, availableParallelism())));
    for (let at = 0; at < batch.length; at += CHUNK) {
      const part = batch.slice(at, at + CHUNK);
      this.busy++;
      pool
        .hash(part.map((r) => r.file))
        .then(
          (answers) =>
            part.forEach((r, i) => {
              const a = answers[i];
              if (typeof a === 'string') r.resolve(a);
              else r.reject(Object.assign(new Error(a.message), { code: a.code }));
            }),
          // A worker that failed: its files are hashed here instead, and the pool is not used again.
          () => {
            if (this.pool === pool) this.pool = undefined;
            part.forEach((r) => this.hashHere(r.file).then(r.resolve, r.reject));
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
