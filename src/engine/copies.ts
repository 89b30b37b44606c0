import type { Base, Settled } from './base';
import { sameFingerprint, type FileEntry, type Tree } from './entry';
import { ancestors, type RelPath } from './path';
import type { Action, HashRequest } from './plan';
import { otherSide, type ReconcilePolicy, type Side } from './policy';

/**
 * Turns the sending of a new file into a copy on the receiving side when that side already holds the
 * same content (same size and content hash as a base record whose file there is unchanged): a copied
 * or duplicated file costs no transfer. Only for sides that can copy within themselves, and only where
 * the new file can be hashed cheaply; otherwise the plan is left as it is.
 *
 * A scoped plan (`outside`: the records it was not given) finds sources outside its scope too, in their
 * records: there each side holds what its record says (see Settled), so a record is as good a source as
 * the scanned file a whole-tree plan would have used. The copy is made only if the file still holds the
 * recorded hash (the replica checks it), else the file is sent: a wrong record costs a transfer, never
 * wrong content. So a scoped run never has to widen to the whole tree to find copies.
 */
export function copiesWithin(actions: Action[], base: Base, trees: Record<Side, Tree>, policy: ReconcilePolicy, outside?: Settled): { actions: Action[]; hashRequests: HashRequest[] } {
  const hashRequests: HashRequest[] = [];
  // A file the same plan deletes, replaces or moves on that side is no source to copy from.
  const touched = { local: new Set<RelPath>(), remote: new Set<RelPath>() };
  for (const a of actions) {
    touched[a.to].add(a.path);
    if (a.kind === 'rename') touched[a.to].add(a.from);
  }
  const untouched = (side: Side, path: RelPath) => ![path, ...ancestors(path)].some((p) => touched[side].has(p));
  const candidates = (to: Side) => new Map([...sourcesBySize(base, trees[to], to, outside)].map(([size, list]) => [size, list.filter((c) => untouched(to, c.path))]));
  const indexes: Partial<Record<Side, Map<number, { path: RelPath; hash: string; entry: FileEntry }[]>>> = {};
  const out = actions.map((action): Action => {
    if (action.kind !== 'copy' || action.expect !== undefined || action.source.kind !== 'file') return action;
    const source = action.source;
    const to = action.to;
    const from = otherSide(to);
    if (!policy.copyWithin?.[to] || !policy.cheapHash?.[from] || source.size === 0) return action;
    const index = (indexes[to] ??= candidates(to));
    const sameSize = index.get(source.size);
    if (!sameSize?.length) return action;
    if (source.hash === undefined) {
      hashRequests.push({ path: action.path, side: from });
      return action;
    }
    const match = sameSize.find((c) => c.hash === source.hash && c.path !== action.path);
    if (!match) return action;
    return { kind: 'clone', path: action.path, from: match.path, to, source, fromExpect: match.entry };
  });
  return { actions: out, hashRequests };
}

/** Files `side` holds unchanged since the base, with a known hash, by size (`outside`: as recorded). */
function sourcesBySize(base: Base, tree: Tree, side: Side, outside: Settled = []): Map<number, { path: RelPath; hash: string; entry: FileEntry }[]> {
  const index = new Map<number, { path: RelPath; hash: string; entry: FileEntry }[]>();
  const add = (path: RelPath, hash: string, entry: FileEntry) => {
    const list = index.get(entry.size) ?? [];
    list.push({ path, hash, entry });
    index.set(entry.size, list);
  };
  for (const [path, record] of base) {
    // (A racy record may not hold what it says: the copy is checked against the hash when it is made.)
    if (record.kind !== 'file' || record.hash === undefined) continue;
    const now = tree.get(path);
    if (now?.kind !== 'file' || !sameFingerprint(record[side], now)) continue;
    add(path, record.hash, now);
  }
  for (const [path, record] of outside) {
    const was = record[side];
    if (record.kind === 'file' && record.hash !== undefined && was.kind === 'file') add(path, record.hash, was);
  }
  return index;
}
