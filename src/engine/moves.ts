import { isRacy, type Base, type BaseRecord } from './base';
import { isSyncable, sameFingerprint, type SyncableEntry, type Tree } from './entry';
import { ancestors, isWithin, type RelPath } from './path';
import type { HashRequest } from './plan';
import { otherSide, type Side } from './policy';

/** A path that one side renamed or moved since the base, to be replayed on the other side. */
export interface Move {
  readonly from: RelPath;
  readonly to: RelPath;
  /** The side where the rename happened. */
  readonly side: Side;
  /** What the other side holds at `from` (and must still hold when the rename is replayed). */
  readonly expect: SyncableEntry;
}

export interface MoveDetection {
  readonly moves: Move[];
  readonly hashRequests: HashRequest[];
}

/**
 * Finds renames: a path gone from a side since the base and a new path on that side holding the same
 * thing. Identity is the local `dev+ino` where the side has it; otherwise, for files only, the same
 * size and mtime and — never without it — the same content hash.
 *
 * A move is replayed only when the other side still holds `from` exactly as agreed (for a directory:
 * nothing under it changed there) and has nothing at `to`: anything else is left to the ordinary
 * decisions, which may make it a conflict. Moves inside another move are not replayed separately.
 */
export function detectMoves(base: Base, local: Tree, remote: Tree, sides: readonly Side[], isExcluded: (p: RelPath, isDir: boolean) => boolean): MoveDetection {
  const moves: Move[] = [];
  const hashRequests: HashRequest[] = [];
  const trees = { local, remote };
  for (const side of sides) {
    const tree = trees[side];
    const other = trees[otherSide(side)];
    // New paths on this side, by identity.
    const byIno = new Map<string, RelPath[]>();
    const bySizeTime = new Map<string, RelPath[]>();
    for (const [path, entry] of tree) {
      if (base.has(path) || !isSyncable(entry) || entry.kind === 'symlink') continue;
      if (entry.ino !== undefined && entry.dev !== undefined) push(byIno, `${entry.dev}:${entry.ino}`, path);
      else if (entry.kind === 'file') push(bySizeTime, `${entry.size}:${entry.mtimeMs}`, path);
    }
    if (byIno.size === 0 && bySizeTime.size === 0) continue;
    for (const [from, record] of base) {
      if (tree.has(from)) continue;
      // Gone because an ancestor could not be read is not gone.
      if (ancestors(from).some((a) => tree.get(a)?.kind === 'problem')) continue;
      const was = record[side];
      let to: RelPath | undefined;
      if (was.ino !== undefined && was.dev !== undefined) {
        to = only(byIno.get(`${was.dev}:${was.ino}`));
        // Inode numbers are reused at once after a delete: a file must also keep its size and mtime (a
        // rename does) to count as the same file. A file moved and edited is a delete and a create.
        const now = to === undefined ? undefined : tree.get(to);
        if (now === undefined || now.kind !== record.kind || (now.kind === 'file' && !sameFingerprint(was, now as SyncableEntry))) to = undefined;
      } else if (was.kind === 'file' && record.hash !== undefined) {
        const candidate = only(bySizeTime.get(`${was.size}:${was.mtimeMs}`));
        const entry = candidate === undefined ? undefined : tree.get(candidate);
        if (entry?.kind === 'file') {
          if (entry.hash === undefined) hashRequests.push({ path: candidate!, side });
          else if (entry.hash === record.hash) to = candidate;
        }
      }
      if (to === undefined || isExcluded(from, record.kind === 'dir') || isExcluded(to, record.kind === 'dir')) continue;
      const expect = other.get(from);
      if (!isSyncable(expect) || other.has(to) || !unchangedSince(record, otherSide(side), expect)) continue;
      // A racy record cannot vouch for the other side's file by its fingerprint: its hash must.
      if (isRacy(record, otherSide(side)) && expect.kind === 'file') {
        if (expect.hash === undefined) {
          hashRequests.push({ path: from, side: otherSide(side) });
          continue;
        }
        if (expect.hash !== record.hash) continue;
      }
      if (record.kind === 'dir' && !subtreeUnchanged(base, other, from, otherSide(side))) continue;
      moves.push({ from, to, side, expect });
    }
  }
  // Outermost moves only, and never two moves touching the same paths.
  moves.sort((a, b) => a.from.length - b.from.length);
  const accepted: Move[] = [];
  for (const m of moves) {
    const overlaps = accepted.some((a) => isWithin(m.from, a.from) || isWithin(m.to, a.to) || isWithin(m.from, a.to) || isWithin(m.to, a.from) || isWithin(a.to, m.from) || isWithin(a.from, m.to));
    if (!overlaps) accepted.push(m);
  }
  return { moves: accepted, hashRequests };
}

/**
 * The world after the moves are replayed: base records and the other side's entries under `from`
 * now live under `to`. Reconciling that world decides what else must happen (edits inside a moved
 * directory, new files in it), relative to where things will be.
 */
export function applyMoves(base: Base, local: Tree, remote: Tree, moves: readonly Move[]): { base: Base; local: Tree; remote: Tree } {
  if (moves.length === 0) return { base, local, remote };
  const movedBase: Base = new Map(base);
  const trees = { local: new Map(local), remote: new Map(remote) };
  for (const m of moves) {
    const target = trees[otherSide(m.side)];
    relocate(movedBase, m.from, m.to);
    relocate(target, m.from, m.to);
  }
  return { base: movedBase, ...trees };
}

/** Moves every key at or under `from` to the same place under `to`. */
export function relocate<V>(map: Map<RelPath, V>, from: RelPath, to: RelPath): void {
  for (const [path, value] of [...map]) {
    if (!isWithin(path, from)) continue;
    map.delete(path);
    map.set(to + path.slice(from.length), value);
  }
}

function unchangedSince(record: BaseRecord, side: Side, now: SyncableEntry): boolean {
  return now.kind === record.kind && sameFingerprint(record[side], now);
}

function subtreeUnchanged(base: Base, tree: Tree, root: RelPath, side: Side): boolean {
  for (const [path, record] of base) {
    if (path === root || !isWithin(path, root)) continue;
    const now = tree.get(path);
    if (!isSyncable(now) || !unchangedSince(record, side, now)) return false;
  }
  for (const path of tree.keys()) if (isWithin(path, root) && !base.has(path)) return false;
  return true;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function only<T>(list: T[] | undefined): T | undefined {
  return list?.length === 1 ? list[0] : undefined;
}
