import * as fsSync from 'node:fs';
import type { Entry, Tree } from '../../engine/entry';
import type { Filter } from '../../engine/filter';
import { ROOT, type RelPath } from '../../engine/path';
import { fromErrno } from '../../errors';
import { admitName } from '../listedName';
import { isTempName } from '../tempName';
import { STAT_FIELDS, StatKind, StatPool, statHere, statThreads } from './statPool';

/** Paths per stat job. */
const CHUNK = 1024;
/** A tree with more entries than this is stat'ed on worker threads too (a worker costs ~30 ms to start). */
const POOL_FROM = 4096;
/** Entries listed between two turns of the event loop (workers' answers are taken in meanwhile). */
const YIELD_EVERY = 2048;

export interface WalkSide {
  readonly root: string;
  readonly filter: Filter;
  readonly symlinks: 'skip' | 'copy';
  /** A name whose NFC form differs from the name on disk. */
  noteDiskName(path: RelPath, diskRel: string): void;
  removeStaleTemp(diskRel: string, name: string, now: number): void;
  /** The one-path stat of the sequential walk (links, errors, odd types go through it). */
  statExact(diskRel: string): Entry | undefined;
  readonly onEntry?: (path: RelPath, entry: Entry) => void;
}

type Item =
  | { readonly problem: Entry; readonly path: RelPath }
  | { readonly problem?: undefined; readonly path: RelPath; readonly diskRel: string; readonly descend: boolean; readonly chunk: number; readonly slot: number };

/**
 * The whole root, walked in two passes that overlap: this thread lists directories (readdir, with the
 * entry types the directory gives) and decides where to descend, while `lstat` of what it lists runs
 * on worker threads, then on this thread too once the listing is done. Entries go into the tree in the
 * order of the sequential walk, and each is built as that walk would build it.
 *
 * Returns undefined when the two passes disagree about a directory (one replaced by a file, or the
 * reverse, between readdir and lstat): the caller walks again sequentially. Symlinks followed need the
 * sequential walk too (loop detection).
 */
export async function walkInParallel(side: WalkSide): Promise<Tree | undefined> {
  const now = Date.now();
  const items: Item[] = [];
  const chunks: string[][] = [];
  const answers: (Float64Array | undefined)[] = [];
  const asked: Promise<void>[] = [];
  let pool: StatPool | undefined;
  let current: string[] = [];
  let failure: Error | undefined;

  const submit = (index: number) => {
    if (!pool) return;
    asked.push(
      pool.stat(chunks[index]).then(
        (out) => void (answers[index] = out),
        (err: Error) => void (failure ??= err),
      ),
    );
  };
  const endChunk = () => {
    if (current.length === 0) return;
    chunks.push(current);
    current = [];
    submit(chunks.length - 1);
  };

  // The tree is built in item order as answers come in (so onEntry hears of entries early).
  const tree: Tree = new Map();
  let built = 0;
  let disagree = false;
  const build = () => {
    while (built < items.length && !disagree) {
      const item = items[built];
      if (item.problem) {
        tree.set(item.path, item.problem);
        built++;
        continue;
      }
      const answer = answers[item.chunk];
      if (!answer) return;
      built++;
      const entry = entryFrom(answer, item.slot * STAT_FIELDS, () => side.statExact(item.diskRel));
      if (!entry) {
        if (item.descend) disagree = true; // listed as a directory, gone now: its listing is of nothing
        continue;
      }
      if (entry.kind === 'symlink' && side.symlinks === 'skip') continue;
      const isDir = entry.kind === 'dir';
      if (isDir !== item.descend) {
        disagree = true;
        return;
      }
      // (Not excluded: the listing asked the filter with this same isDir.)
      tree.set(item.path, entry);
      side.onEntry?.(item.path, entry);
    }
  };

  try {
    const queue: { path: RelPath; diskRel: string }[] = [{ path: ROOT, diskRel: '' }];
    let sinceYield = 0;
    for (let q = 0; q < queue.length; q++) {
      const { path: dir, diskRel: dirDisk } = queue[q];
      let dirents: fsSync.Dirent[];
      try {
        dirents = fsSync.readdirSync(dirDisk === '' ? side.root : `${side.root}/${dirDisk}`, { withFileTypes: true });
      } catch (err) {
        if (dir === ROOT) throw fromErrno(err, `cannot list ${side.root}`);
        items.push({ path: dir, problem: { kind: 'problem', message: fromErrno(err, 'cannot list directory').message } });
        continue;
      }
      const seen = new Set<RelPath>();
      for (const dirent of dirents) {
        const name = dirent.name;
        const diskRel = dir === ROOT ? name : `${dirDisk}/${name}`;
        if (isTempName(name)) {
          side.removeStaleTemp(diskRel, name, now);
          continue;
        }
        const listed = admitName(dir, name, seen);
        if (!listed.ok) {
          items.push({ path: listed.path, problem: { kind: 'problem', message: listed.problem } });
          continue;
        }
        if (listed.renamed) side.noteDiskName(listed.path, diskRel);
        const isDir = dirent.isDirectory();
        // What is excluded is neither stat'ed nor entered (the sequential walk stats it, then drops it).
        if (side.filter.excludes(listed.path, isDir)) continue;
        items.push({ path: listed.path, diskRel, descend: isDir, chunk: chunks.length, slot: current.length });
        current.push(`${side.root}/${diskRel}`);
        if (current.length === CHUNK) endChunk();
        if (isDir) queue.push({ path: listed.path, diskRel });
      }
      sinceYield += dirents.length + 1;
      if (!pool && items.length > POOL_FROM) {
        pool = new StatPool(statThreads());
        for (let i = 0; i < chunks.length; i++) submit(i);
      }
      if (sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
        build();
      }
    }
    endChunk();
    if (pool) {
      // This thread's share: the jobs no worker has started yet.
      for (let job = pool.takeWaiting(); job; job = pool.takeWaiting()) {
        job.resolve(statHere(job.paths));
        // A turn of the event loop: the workers' answers are taken in and they get their next jobs.
        await new Promise((resolve) => setImmediate(resolve));
        build();
      }
      await Promise.all(asked);
      if (failure) return undefined;
    } else {
      for (let i = 0; i < chunks.length; i++) answers[i] = statHere(chunks[i]);
    }
    build();
    return disagree ? undefined : tree;
  } finally {
    await pool?.close();
  }
}

/** The entry the sequential walk's toEntry() makes of these numbers; links and the rest go through `exact`. */
function entryFrom(n: Float64Array, at: number, exact: () => Entry | undefined): Entry | undefined {
  const kind = n[at];
  if (kind === StatKind.Gone) return undefined;
  if (kind !== StatKind.File && kind !== StatKind.Dir) return exact();
  const mode = n[at + 1] & 0o7777;
  const uid = n[at + 6];
  const gid = n[at + 7];
  const ino = n[at + 4];
  const dev = n[at + 5];
  // Same fields in the same order as toEntry() in localReplica.ts.
  if (kind === StatKind.File) return { kind: 'file', size: n[at + 2], mtimeMs: n[at + 3], mode, uid, gid, ino, dev };
  return { kind: 'dir', mtimeMs: n[at + 3], mode, uid, gid, ino, dev };
}
