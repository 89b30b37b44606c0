import { Readable } from 'node:stream';
import type { Attributes, InputAttributes, SFTPWrapper, Stats } from 'ssh2';
import { SyncError } from '../../errors';

/** SFTP status codes (draft-ietf-secsh-filexfer-02). */
const STATUS = { EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, NO_CONNECTION: 6, CONNECTION_LOST: 7, OP_UNSUPPORTED: 8 } as const;

const CHUNK = 64 * 1024;
/** Requests kept in flight by one transfer: SFTP latency, not bandwidth, is what limits a lone request. */
const DEPTH = 32;

export interface DirItem {
  readonly name: string;
  readonly attrs: Attributes;
}

/** Maps an SFTP (or transport) error to a SyncError. */
export function toSyncError(err: unknown, what: string, path?: string): SyncError {
  if (err instanceof SyncError) return err;
  const e = err as { code?: unknown; message?: string; level?: string };
  const message = e?.message ?? String(err);
  if (isNotFound(err)) return new SyncError('NotFound', `${what}: no such file or directory`, path);
  if (e?.code === STATUS.PERMISSION_DENIED) return new SyncError('PermissionDenied', `${what}: permission denied (check the owner and mode of the remote folder)`, path);
  if (isConnectionLost(err)) return new SyncError('ConnectionLost', `${what}: the SSH connection was lost (${message})`, path);
  if (/no space|quota|ENOSPC|EDQUOT/i.test(message)) return new SyncError('NoSpace', `${what}: no space left on the remote device (free some space and run again)`, path);
  if (e?.code === STATUS.OP_UNSUPPORTED) return new SyncError('Io', `${what}: the SFTP server does not support this operation`, path);
  return new SyncError('Io', `${what}: ${message}`, path);
}

export function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown })?.code === STATUS.NO_SUCH_FILE;
}

function isConnectionLost(err: unknown): boolean {
  const e = err as { code?: unknown; message?: string };
  if (e?.code === STATUS.NO_CONNECTION || e?.code === STATUS.CONNECTION_LOST) return true;
  return /No response from server|Not connected|Channel is not open|not writable|ECONNRESET|EPIPE|socket|closed/i.test(e?.message ?? '');
}

/** S_IFMT bits of an SFTP mode. */
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** Promise-shaped SFTP: the one place where ssh2 callbacks are wrapped. */
export class Sftp {
  /** Set once the channel ended: ssh2 queues later requests on a dead channel and never answers them. */
  private lost: Error | undefined;
  private readonly waiting = new Set<(err: Error) => void>();

  constructor(readonly raw: SFTPWrapper) {
    const onGone = () => {
      this.lost ??= Object.assign(new Error('SFTP channel closed: the SSH connection was lost'), { code: STATUS.CONNECTION_LOST });
      for (const fail of [...this.waiting]) fail(this.lost);
    };
    raw?.on('close', onGone);
    raw?.on('end', onGone);
  }

  /**
   * Invariant: every call settles. A request made on, or outstanding when, a closed channel is
   * rejected as a lost connection instead of waiting for an answer that cannot come.
   */
  private call<T>(fn: (cb: (err: Error | undefined | null, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.lost) return reject(this.lost);
      const fail = (err: Error) => {
        this.waiting.delete(fail);
        reject(err);
      };
      this.waiting.add(fail);
      try {
        fn((err, value) => {
          this.waiting.delete(fail);
          if (err) reject(err);
          else resolve(value as T);
        });
      } catch (err) {
        // ssh2 throws synchronously when the channel is gone or an extension is missing.
        fail(err as Error);
      }
    });
  }

  hasExtension(name: string): boolean {
    const ext = (this.raw as unknown as { _extensions?: Record<string, string> })._extensions;
    return ext?.[name] !== undefined;
  }

  readdir(path: string): Promise<DirItem[]> {
    return this.call<{ filename: string; attrs: Attributes }[]>((cb) => this.raw.readdir(path, cb)).then((list) =>
      list.map((item) => ({ name: item.filename, attrs: item.attrs })),
    );
  }
  lstat(path: string): Promise<Stats> {
    return this.call((cb) => this.raw.lstat(path, cb));
  }
  stat(path: string): Promise<Stats> {
    return this.call((cb) => this.raw.stat(path, cb));
  }
  /** lstat, or undefined when nothing is there. */
  async lstatOrUndefined(path: string): Promise<Stats | undefined> {
    try {
      return await this.lstat(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
  readlink(path: string): Promise<string> {
    return this.call((cb) => this.raw.readlink(path, cb));
  }
  realpath(path: string): Promise<string> {
    return this.call((cb) => this.raw.realpath(path, cb));
  }
  expandPath(path: string): Promise<string> {
    return this.call((cb) => this.raw.ext_openssh_expandPath(path, cb));
  }
  symlink(target: string, linkPath: string): Promise<void> {
    return this.call((cb) => this.raw.symlink(target, linkPath, cb));
  }
  mkdir(path: string, mode: number): Promise<void> {
    return this.call((cb) => this.raw.mkdir(path, { mode }, cb));
  }
  rmdir(path: string): Promise<void> {
    return this.call((cb) => this.raw.rmdir(path, cb));
  }
  unlink(path: string): Promise<void> {
    return this.call((cb) => this.raw.unlink(path, cb));
  }
  setstat(path: string, attrs: InputAttributes): Promise<void> {
    return this.call((cb) => this.raw.setstat(path, attrs, cb));
  }
  lsetstat(path: string, attrs: InputAttributes): Promise<void> {
    return this.call((cb) => this.raw.ext_openssh_lsetstat(path, attrs, cb));
  }
  /** POSIX rename (replaces the target atomically); plain SFTP rename refuses an existing target. */
  posixRename(from: string, to: string): Promise<void> {
    return this.call((cb) => this.raw.ext_openssh_rename(from, to, cb));
  }
  rename(from: string, to: string): Promise<void> {
    return this.call((cb) => this.raw.rename(from, to, cb));
  }
  hardlink(existing: string, newPath: string): Promise<void> {
    return this.call((cb) => this.raw.ext_openssh_hardlink(existing, newPath, cb));
  }
  open(path: string, flags: 'r' | 'wx', attrs: InputAttributes = {}): Promise<Buffer> {
    return this.call((cb) => this.raw.open(path, flags, attrs, cb));
  }
  close(handle: Buffer): Promise<void> {
    return this.call((cb) => this.raw.close(handle, cb));
  }
  fsetstat(handle: Buffer, attrs: InputAttributes): Promise<void> {
    return this.call((cb) => this.raw.fsetstat(handle, attrs, cb));
  }
  write(handle: Buffer, data: Buffer, position: number): Promise<void> {
    return this.call((cb) => this.raw.write(handle, data, 0, data.length, position, cb));
  }
  /** Reads up to `length` bytes; fewer only at end of file. */
  async read(handle: Buffer, position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = await this.call<number>((cb) =>
        this.raw.read(handle, buf, got, length - got, position + got, (err, bytes) => cb((err as { code?: number } | undefined)?.code === STATUS.EOF ? undefined : err, err ? 0 : bytes)),
      );
      if (n === 0) break;
      got += n;
    }
    return got === length ? buf : buf.subarray(0, got);
  }

  /** Writes a stream to an open handle with up to DEPTH writes in flight. */
  async upload(handle: Buffer, data: AsyncIterable<Buffer | string>): Promise<number> {
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let position = 0;
    const send = async (buf: Buffer) => {
      while (inFlight.size >= DEPTH) await Promise.race(inFlight);
      if (failure !== undefined) throw failure;
      const p: Promise<void> = this.write(handle, buf, position).then(
        () => void inFlight.delete(p),
        (err) => {
          inFlight.delete(p);
          failure ??= err;
        },
      );
      inFlight.add(p);
      position += buf.length;
    };
    for await (const piece of data) {
      const buf = typeof piece === 'string' ? Buffer.from(piece) : piece;
      for (let off = 0; off < buf.length; off += CHUNK) await send(buf.subarray(off, off + CHUNK));
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    return position;
  }

  /** A Readable of a remote file, with up to DEPTH reads in flight. */
  async download(path: string): Promise<Readable> {
    const handle = await this.open(path, 'r');
    const pending: Promise<Buffer>[] = [];
    let next = 0;
    let ended = false;
    let closed = false;
    const closeHandle = async () => {
      if (closed) return;
      closed = true;
      await this.close(handle).catch(() => undefined);
    };
    const stream: Readable = new Readable({
      highWaterMark: CHUNK * 4,
      read: () => {
        while (!ended && pending.length < DEPTH) {
          const p = this.read(handle, next, CHUNK);
          p.catch(() => undefined); // reads past the end may fail once the handle is closed
          pending.push(p);
          next += CHUNK;
        }
        const head = pending.shift();
        if (!head) return;
        head.then(
          async (buf) => {
            if (buf.length < CHUNK) {
              ended = true;
              pending.length = 0;
              await closeHandle();
              if (buf.length > 0) stream.push(buf);
              stream.push(null);
            } else stream.push(buf);
          },
          (err) => stream.destroy(toSyncError(err, `cannot read ${path}`)),
        );
      },
      destroy: (err, cb) => {
        ended = true;
        closeHandle().then(() => cb(err), () => cb(err));
      },
    });
    return stream;
  }
}
