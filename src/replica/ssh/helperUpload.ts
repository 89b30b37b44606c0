import { fromErrno, SyncError } from '../../errors';
import { HELPER_EXIT_OLD_NODE, MIN_NODE_MAJOR } from './helperScript';
import type { RemoteProcess, Spawn } from './remoteHelper';

/**
 * Writes files through the remote helper's `receive` command: every file of a run travels over one exec
 * channel as framed data, and the helper does on the server what the SFTP path does with five or more
 * round trips per file (parents, temp file, data, metadata, check, link or rename, stat). Many files are
 * in flight at once; each gets its answer as soon as it is in place. See helperScript.ts for the frames.
 */

/** Where the file's metadata should end up; undefined fields are left as the server makes them. */
export interface ReceiveMeta {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** Whole seconds. */
  readonly mtimeS?: number;
}

/** What the target must still be at commit: absent, or a fingerprint (mtime in whole-second ms). */
export type ReceiveExpect = null | { readonly k: 'f'; readonly z: number; readonly t: number } | { readonly k: 'd' } | { readonly k: 'l'; readonly l: string };

/** The target as the helper found it right after writing: type, size, mtime (s), mode, uid, gid. */
export type ReceivedStat = readonly ['f' | 'd' | 'l' | 'o', number, number, number, number, number];

const FRAME_BEGIN = 0x42; // B
const FRAME_DATA = 0x44; // D
const FRAME_COMMIT = 0x43; // C
const FRAME_ABORT = 0x41; // A
const FRAME_MKDIR = 0x4d; // M

/** Largest data frame: bigger chunks are split. */
const MAX_DATA = 256 * 1024;
/** A queued piece at least this big is written by itself (see writeQueued). */
const BIG_PIECE = 64 * 1024;

/** A file in place: its stat, and the SHA-256 of the bytes the helper received. */
export interface Received {
  readonly st: ReceivedStat;
  readonly hash?: string;
}

/**
 * How a write stream started: `ready` (the helper said so), an exit status before that (it did not
 * start; `detail` is what it printed on stderr), `exit: null` (the channel closed without a status: a
 * lost connection, which says nothing about the helper), or `timeout` (no word yet; still running).
 */
/** Hex digits of a file's SHA-256 sent with it, for the helper to check what it received against. */
export const EXPECTED_HASH_PREFIX = 16;

export type StartOutcome = 'ready' | 'timeout' | { readonly exit: number; readonly detail: string } | { readonly exit: null };

export function describeStart(outcome: StartOutcome): string {
  if (outcome === 'ready') return 'ready';
  if (outcome === 'timeout') return 'no answer yet';
  if (outcome.exit === null) return 'the connection was lost';
  const why = outcome.exit === HELPER_EXIT_OLD_NODE ? ` (node older than ${MIN_NODE_MAJOR})` : '';
  return `exit ${outcome.exit}${why}${outcome.detail ? `: ${outcome.detail.slice(0, 200)}` : ''}`;
}

interface Waiter {
  readonly path: string;
  resolve(answer: Received): void;
  reject(err: Error): void;
  /** Set when the answer came (an early error stops the sender). */
  done: boolean;
}

export class HelperUploader {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  private drained: Promise<void> | undefined;
  private queue: Buffer[] = [];
  private queued = 0;
  private flushScheduled = false;
  private closed: Error | undefined;
  private stderr = '';
  /** Settles at the helper's ready line, or with how it stopped before that. */
  private readonly readiness: Promise<Exclude<StartOutcome, 'timeout'>>;
  private onReady!: (outcome: Exclude<StartOutcome, 'timeout'>) => void;

  private constructor(private readonly proc: RemoteProcess) {
    this.readiness = new Promise((resolve) => (this.onReady = resolve));
    let rest = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (text: string) => {
      const lines = (rest + text).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line !== '') this.onAnswer(line);
    });
    proc.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += d.toString('utf8');
    });
    proc.stdin.on('error', () => undefined);
    void proc.exit.then((code) => {
      const detail = this.stderr.trim();
      this.onReady(code === null ? { exit: null } : { exit: code, detail });
      this.fail(
        code === null
          ? new SyncError('ConnectionLost', 'the connection to the server was lost while writing')
          : new SyncError('Io', `the remote helper stopped (exit ${code})${detail ? `: ${detail}` : ''}`),
      );
    });
  }

  /** Starts `command` (the helper's `receive`) for files under `root`. */
  static async start(spawn: Spawn, command: string, root: string): Promise<HelperUploader> {
    const proc = await spawn(command);
    proc.stdin.write(JSON.stringify({ root }) + '\n');
    return new HelperUploader(proc);
  }

  /**
   * Whether the helper runs: 'ready' once it said so, else how it stopped, or 'timeout' when it said
   * nothing within `timeoutMs` (it is left running: slow is not gone). Without `timeoutMs`, waits.
   */
  async started(timeoutMs?: number): Promise<StartOutcome> {
    if (timeoutMs === undefined) return this.readiness;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([this.readiness, timeout]);
    clearTimeout(timer);
    return outcome;
  }

  /** Closes the channel at once: for a stream that is given up before any file was sent. */
  stop(): void {
    this.close();
    this.proc.kill();
  }

  /** Why the uploader can take no more work (the channel closed), or undefined while it can. */
  get failure(): Error | undefined {
    return this.closed;
  }

  /**
   * Sends one file. `path` is relative to the root as on disk (`label` names it in errors), `temp` the
   * temp file's name in the same directory. `beforeCommit` runs after the last byte is sent and may refuse the commit by throwing.
   */
  async writeFile(path: string, label: string, temp: string, data: AsyncIterable<Buffer | string> | Buffer, meta: ReceiveMeta, expect: ReceiveExpect, beforeCommit?: () => Promise<void>, sha256?: string): Promise<Received> {
    const { id, waiter, answer } = this.expect(label);
    // A prefix of the hash is enough to catch a mix-up (it guards against our own bugs, not an adversary,
    // who could not reach this stream), and spares ~50 bytes a file on the wire: 5 MB over 100,000 files.
    const request = { p: path, t: temp, m: meta.mode ?? null, u: meta.uid ?? null, g: meta.gid ?? null, s: meta.mtimeS ?? null, e: expect, ...(sha256 ? { x: sha256.slice(0, EXPECTED_HASH_PREFIX) } : {}) };
    const begin = Buffer.from(JSON.stringify(request));
    if (Buffer.isBuffer(data) && !beforeCommit) {
      // A whole file with nothing to check before its commit goes out in one piece (begin, data,
      // commit): the helper can put it in place as soon as it arrives, while later files are still on
      // their way, instead of after every file queued with it. A failure answered early makes the
      // helper ignore the rest of that file's frames.
      this.push(FRAME_BEGIN, id, begin);
      for (let at = 0; at < data.length; at += MAX_DATA) this.push(FRAME_DATA, id, data.subarray(at, Math.min(data.length, at + MAX_DATA)));
      this.push(FRAME_COMMIT, id);
      if (this.drained) await this.drained;
      return answer;
    }
    await this.send(FRAME_BEGIN, id, begin);
    const sendData = async (bytes: Buffer) => {
      for (let at = 0; at < bytes.length && !waiter.done; at += MAX_DATA) {
        await this.send(FRAME_DATA, id, bytes.subarray(at, Math.min(bytes.length, at + MAX_DATA)));
      }
    };
    // A whole file in hand goes without a stream (most files of a tree: no iterator).
    if (Buffer.isBuffer(data)) await sendData(data);
    else {
      for await (const chunk of data) {
        if (waiter.done) break;
        await sendData(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      }
    }
    if (waiter.done) {
      // Answered before the end: an error (no space, unsafe parent). Free the helper's slot.
      await this.send(FRAME_ABORT, id).catch(() => undefined);
      return answer;
    }
    if (beforeCommit) {
      try {
        await beforeCommit();
      } catch (err) {
        this.waiting.delete(id);
        await this.send(FRAME_ABORT, id).catch(() => undefined);
        throw err;
      }
    }
    await this.send(FRAME_COMMIT, id);
    return answer;
  }

  /** Creates a directory (its parents too); an existing directory is fine. */
  async mkdir(path: string, label: string, meta: ReceiveMeta): Promise<ReceivedStat> {
    const { id, answer } = this.expect(label);
    await this.send(FRAME_MKDIR, id, Buffer.from(JSON.stringify({ p: path, m: meta.mode ?? null, u: meta.uid ?? null, g: meta.gid ?? null })));
    return (await answer).st;
  }

  /** Ends the stream: the helper removes unfinished temp files and exits. */
  close(): void {
    this.writeQueued();
    if (!this.closed) this.closed = new SyncError('Io', 'the upload stream is closed');
    try {
      this.proc.stdin.end();
    } catch {
      // already gone
    }
  }

  private expect(path: string): { id: number; waiter: Waiter; answer: Promise<Received> } {
    if (this.closed) throw this.closed;
    const id = this.nextId++;
    let waiter!: Waiter;
    const answer = new Promise<Received>((resolve, reject) => {
      waiter = { path, resolve, reject, done: false };
    });
    answer.catch(() => undefined); // observed by the caller; never an unhandled rejection
    this.waiting.set(id, waiter);
    return { id, waiter, answer };
  }

  /**
   * Queues a frame. Frames queued in the same turn of the event loop go out as one channel write: one
   * SSH packet for many small files instead of three per file (each packet is a socket write). Resolves
   * at once unless the channel is backed up.
   */
  private async send(type: number, id: number, payload: Buffer = Buffer.alloc(0)): Promise<void> {
    this.push(type, id, payload);
    if (this.drained) await this.drained;
  }

  /** Queues a frame without waiting (see send). */
  private push(type: number, id: number, payload: Buffer = Buffer.alloc(0)): void {
    if (this.closed) throw this.closed;
    const head = Buffer.allocUnsafe(9);
    head[0] = type;
    head.writeUInt32BE(id, 1);
    head.writeUInt32BE(payload.length, 5);
    this.queue.push(head);
    if (payload.length > 0) this.queue.push(payload);
    this.queued += 9 + payload.length;
    if (this.queued >= MAX_DATA) this.writeQueued();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.writeQueued();
      });
    }
  }

  /** Writes what is queued; a full channel makes `drained` a promise until it drains. */
  private writeQueued(): void {
    if (this.queued === 0 || this.closed) return;
    const queue = this.queue;
    this.queue = [];
    this.queued = 0;
    // Small pieces go out together; a big one (file data) as it is: copying it into a joined buffer
    // first would copy every byte of a big file once more, for nothing (the channel packs it anyway).
    let written = true;
    let small: Buffer[] = [];
    const writeSmall = () => {
      if (small.length > 0) written = this.proc.stdin.write(small.length === 1 ? small[0] : Buffer.concat(small));
      small = [];
    };
    for (const piece of queue) {
      if (piece.length < BIG_PIECE) small.push(piece);
      else {
        writeSmall();
        written = this.proc.stdin.write(piece);
      }
    }
    writeSmall();
    if (written || this.drained) return;
    this.drained = new Promise<void>((resolve) => {
      const done = () => {
        this.drained = undefined;
        this.proc.stdin.off('drain', done);
        this.proc.stdin.off('close', done);
        resolve();
      };
      this.proc.stdin.on('drain', done);
      this.proc.stdin.on('close', done);
    });
  }

  private onAnswer(line: string): void {
    let msg: { i: number; st?: ReceivedStat; h?: string; e?: { c: string; m: string }; ready?: boolean };
    try {
      msg = JSON.parse(line);
    } catch {
      return this.fail(new SyncError('Io', `the remote helper answered nonsense: ${line.slice(0, 200)}`));
    }
    if (msg.ready === true) return this.onReady('ready');
    const waiter = this.waiting.get(msg.i);
    if (!waiter) return;
    this.waiting.delete(msg.i);
    waiter.done = true;
    if (msg.st) return waiter.resolve({ st: msg.st, hash: typeof msg.h === 'string' ? msg.h : undefined });
    const { c, m } = msg.e ?? { c: 'EIO', m: 'no answer' };
    if (c === 'Changed' || c === 'Unsafe') return waiter.reject(new SyncError(c, m, waiter.path));
    if (c === 'Corrupt') return waiter.reject(new SyncError('Io', m, waiter.path));
    waiter.reject(fromErrno(Object.assign(new Error(m), { code: c }), `cannot write ${waiter.path}`, waiter.path));
  }

  private fail(err: Error): void {
    this.closed ??= err;
    for (const [id, waiter] of this.waiting) {
      this.waiting.delete(id);
      waiter.done = true;
      waiter.reject(err);
    }
  }
}
