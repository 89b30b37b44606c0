import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { BaseRecord } from '../engine/base';
import { sameFingerprint, withoutHash, type FileEntry, type Metadata, type SyncableEntry } from '../engine/entry';
import type { RelPath } from '../engine/path';
import type { Action, CopyAction } from '../engine/plan';
import { otherSide, type Preserve, type Side } from '../engine/policy';
import { SyncError, fromErrno } from '../errors';
import type { Replica, SmallRead } from '../replica/replica';

/** What one action did: the base change to fold in, or why it failed. */
export type ActionOutcome =
  | {
      readonly action: Action;
      readonly ok: true;
      readonly record?: BaseRecord;
      readonly forget?: boolean;
      /** Base records at or under `from` now belong at `to`. */
      readonly moved?: { readonly from: RelPath; readonly to: RelPath };
      readonly bytes: number;
    }
  | { readonly action: Action; readonly ok: false; readonly error: SyncError };

export interface ExecutorOptions {
  readonly preserve: Preserve;
  /** Sources were scanned through symlinks (--symlinks follow). */
  readonly followSymlinks: boolean;
  readonly concurrency: number;
  readonly onOutcome?: (outcome: ActionOutcome) => void;
  /** When aborted, no new action starts; those in flight finish. */
  readonly signal?: AbortSignal;
}

/**
 * Carries out a plan's actions, the only code that writes. Renames run first, then deletions (deepest first), then
 * directories (parents first), then copies and metadata with bounded parallelism. One failed path is
 * one problem; it never stops the others. Only what happened comes back to be folded into the base.
 */
export async function execute(actions: readonly Action[], sides: Record<Side, Replica>, options: ExecutorOptions): Promise<ActionOutcome[]> {
  const outcomes: ActionOutcome[] = [];
  const runOne = async (action: Action) => {
    let outcome: ActionOutcome;
    try {
      outcome = await perform(action, sides, options);
    } catch (err) {
      outcome = { action, ok: false, error: err instanceof SyncError ? err : fromErrno(err, `${action.kind} ${action.path}`, action.path) };
    }
    outcomes.push(outcome);
    options.onOutcome?.(outcome);
  };
  const inParallel = async (list: readonly Action[]) => {
    let next = 0;
    const worker = async () => {
      while (next < list.length && !options.signal?.aborted) await runOne(list[next++]);
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, list.length)) }, worker));
  };
  const sequential = actions.filter((a) => a.kind === 'rename' || a.kind === 'delete' || a.kind === 'mkdir');
  for (let i = 0; i < sequential.length; ) {
    if (options.signal?.aborted) return outcomes;
    if (sequential[i].kind !== 'mkdir') {
      await runOne(sequential[i++]);
      continue;
    }
    // A run of directories to create (2,000 of them for a first push of 100,000 files): one depth at a
    // time, each depth's in parallel. Only a parent must come before its child, and it is shallower;
    // nothing is moved across the renames and deletes around the run.
    let end = i;
    while (end < sequential.length && sequential[end].kind === 'mkdir') end++;
    for (const level of byDepth(sequential.slice(i, end))) await inParallel(level);
    i = end;
  }
  await inParallel(actions.filter((a) => a.kind === 'copy' || a.kind === 'setmeta' || a.kind === 'clone'));
  return outcomes;
}

/** Actions grouped by the depth of their path, shallowest first, each group in its original order. */
function byDepth(actions: readonly Action[]): Action[][] {
  const levels = new Map<number, Action[]>();
  for (const action of actions) {
    const d = action.path.split('/').length;
    const level = levels.get(d) ?? [];
    level.push(action);
    levels.set(d, level);
  }
  return [...levels.keys()].sort((a, b) => a - b).map((d) => levels.get(d)!);
}

async function perform(action: Action, sides: Record<Side, Replica>, options: ExecutorOptions): Promise<ActionOutcome> {
  const preserve = options.preserve;
  const target = sides[action.to];
  const source = sides[otherSide(action.to)];
  switch (action.kind) {
    case 'rename':
      await target.rename(action.from, action.path, action.expect);
      return { action, ok: true, moved: { from: action.from, to: action.path }, bytes: 0 };
    case 'delete':
      await target.remove(action.path, action.expect);
      return { action, ok: true, forget: true, bytes: 0 };
    case 'mkdir': {
      const written = await target.mkdir(action.path, metadataOf(action.source, preserve, undefined));
      return { action, ok: true, record: recordFor(action.to, action.source, written), bytes: 0 };
    }
    case 'setmeta': {
      const written = await target.setMetadata(action.path, metadataOf(action.source, preserve, action.expect), action.expect);
      const hash = action.source.kind === 'file' ? action.source.hash : undefined;
      return { action, ok: true, record: recordFor(action.to, action.source, written, hash), bytes: 0 };
    }
    case 'copy':
      return copy(action, source, target, preserve, options.followSymlinks);
    case 'clone': {
      const sendInstead = () => copy({ kind: 'copy', path: action.path, to: action.to, source: action.source, expect: undefined }, source, target, preserve, options.followSymlinks);
      if (!target.copyWithin) return sendInstead();
      try {
        const written = await target.copyWithin(action.from, action.path, action.fromExpect, metadataOf(action.source, preserve, undefined), action.source.hash!);
        return { action, ok: true, record: recordFor(action.to, action.source, written, action.source.hash), bytes: 0 };
      } catch (err) {
        // The copy there did not hold the expected content (or could not be made): send the file.
        if ((err as SyncError).code === 'Changed' || (err as SyncError).code === 'Io') return { ...(await sendInstead()), action };
        throw err;
      }
    }
  }
}

async function copy(action: CopyAction, source: Replica, target: Replica, preserve: Preserve, follow: boolean): Promise<ActionOutcome> {
  const src = action.source;
  if (src.kind === 'symlink') {
    const written = await target.writeSymlink(action.path, src.target, action.expect);
    return { action, ok: true, record: recordFor(action.to, src, written), bytes: 0 };
  }
  // The content hash goes into the snapshot. A target that hashes what it receives spares this process
  // the work (on a big file, a third of its time), unless the source's hash is known and must be checked.
  const hashHere = src.hash !== undefined || !target.hashesWrites || recentlyModified(src.mtimeMs);
  if (src.size <= SMALL_FILE && source.readSmall) {
    const whole = await source.readSmall(action.path, SMALL_FILE);
    if (whole) return copyWhole(action, whole, hashHere, source, target, preserve, follow);
  }
  const hasher = hashHere ? createHash('sha256') : undefined;
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hasher?.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const input = await source.read(action.path);
  input.on('error', (err) => tap.destroy(err));
  const stream = input.pipe(tap);
  let hash: string | undefined;
  const sourceUnchanged = async () => {
    hash = hasher?.digest('hex');
    await assertSourceUnchanged(action, source, follow, bytes, hash);
  };
  const expectMode = action.expect?.kind === 'file' ? action.expect : undefined;
  let written: FileEntry;
  try {
    written = await target.writeFile(action.path, stream, metadataOf(src, preserve, expectMode), action.expect, sourceUnchanged);
  } catch (err) {
    // A write that failed before reading everything must still release the source.
    input.destroy();
    throw err;
  }
  if (!hasher) hash = written.hash;
  return { action, ok: true, record: recordFor(action.to, { ...src, hash } as FileEntry, written, hash), bytes };
}

/**
 * A file modified this recently may have been rewritten in place, at the same size, within one tick of
 * its file system's clock: its size and mtime cannot tell. Its content is checked instead (below).
 */
const RACY_SOURCE_MS = 2000;

function recentlyModified(mtimeMs: number): boolean {
  return Date.now() - mtimeMs < RACY_SOURCE_MS;
}

/**
 * Runs after the data is written and before it replaces the target: a source that changed while it was
 * read (`bytes` of it, whose SHA-256 is `sent` when known) must not land; the next run sends the new
 * version. A source modified very recently is also compared by content: a torn read (half old, half
 * new) never matches the file as it is after.
 */
async function assertSourceUnchanged(action: CopyAction, source: Replica, follow: boolean, bytes: number, sent: string | undefined): Promise<void> {
  const src = action.source as FileEntry;
  const now = await source.stat(action.path, follow);
  const changed =
    now?.kind !== 'file' ||
    !sameFingerprint(now, src) ||
    bytes !== src.size ||
    (src.hash !== undefined && src.hash !== sent) ||
    (recentlyModified(now.mtimeMs) && sent !== undefined && (await source.hash(action.path)) !== sent);
  if (changed) throw new SyncError('Changed', `${action.path} changed while it was being copied; it will be sent again on the next run`, action.path);
}

/** Files up to this size are read whole and sent as one buffer, without streams (see readSmall). */
const SMALL_FILE = 1 << 20;

/** copy() for a file read whole: the same checks, without a stream. */
async function copyWhole(action: CopyAction, read: SmallRead, hashHere: boolean, source: Replica, target: Replica, preserve: Preserve, follow: boolean): Promise<ActionOutcome> {
  const src = action.source as FileEntry;
  const whole = read.data;
  let hash = hashHere ? createHash('sha256').update(whole).digest('hex') : undefined;
  // Bytes read on another thread come with the hash taken there: a mix-up on their way here (a wrong
  // slice of a shared buffer) must not land. Checked here when this thread hashes anyway; else by the
  // target, which hashes what it receives (the remote helper), before it puts the file in place.
  if (hash !== undefined && read.sha256 !== undefined && hash !== read.sha256) {
    throw new SyncError('Io', `${action.path}: the bytes to send are not the bytes read (SHA-256 differs); nothing was written`, action.path);
  }
  // Read whole, the bytes in hand are all there is to check: the source is checked now, before they
  // are sent (a target may then send them, and commit, in one go). A source changed after this check
  // has a new fingerprint, which the next run finds.
  await assertSourceUnchanged(action, source, follow, whole.length, hash);
  const expectMode = action.expect?.kind === 'file' ? action.expect : undefined;
  const written = await target.writeFile(action.path, whole, metadataOf(src, preserve, expectMode), action.expect, undefined, read.sha256);
  if (!hashHere) hash = written.hash;
  return { action, ok: true, record: recordFor(action.to, { ...src, hash } as FileEntry, written, hash), bytes: whole.length };
}

function metadataOf(source: SyncableEntry, preserve: Preserve, existing: SyncableEntry | undefined): Metadata {
  const defaultMode = source.kind === 'dir' ? 0o755 : 0o644;
  const existingMode = existing && existing.kind !== 'symlink' ? existing.mode : undefined;
  return {
    mtimeMs: preserve.times && source.kind !== 'symlink' ? source.mtimeMs : undefined,
    mode: source.kind === 'symlink' ? undefined : preserve.mode ? source.mode : (existingMode ?? defaultMode),
    uid: preserve.owner ? source.uid : undefined,
    gid: preserve.owner ? source.gid : undefined,
  };
}

function recordFor(to: Side, source: SyncableEntry, written: SyncableEntry, hash?: string): BaseRecord {
  const src = withoutHash(source);
  const dst = withoutHash(written);
  return {
    kind: source.kind,
    hash: source.kind === 'file' ? (hash ?? source.hash) : undefined,
    local: to === 'local' ? dst : src,
    remote: to === 'remote' ? dst : src,
  };
}
