import type { Base } from './base';
import { classify } from './change';
import { isSyncable, type Tree } from './entry';
import type { RelPath } from './path';
import type { Side } from './policy';

export interface SourceChanges {
  /** Source paths that differ from the snapshot (or need a hash to tell), and snapshot paths gone from it. */
  readonly paths: RelPath[];
  /** Whether any path is new to the snapshot (renames and copies are found only across the whole tree). */
  readonly created: boolean;
}

/**
 * What a one-way run with a snapshot has to decide about: everything else is as the snapshot recorded
 * it on both sides, so it needs no plan at all. Uses the reconciler's own classification, so a path
 * left out here is one the reconciler would have found unchanged.
 */
export function changedSince(base: Base, side: Side, scanned: Tree, preserve?: { readonly mode: boolean; readonly owner: boolean }): SourceChanges {
  const paths: RelPath[] = [];
  let created = false;
  for (const [path, entry] of scanned) {
    const record = base.get(path);
    if (!record) {
      paths.push(path);
      created = true;
      continue;
    }
    // A problem (unreadable, odd name) is reported by the plan.
    if (!isSyncable(entry)) {
      paths.push(path);
      continue;
    }
    const c = classify(record, record[side], entry, preserve, side);
    if (c.change !== 'unchanged' || c.needsHash) paths.push(path);
  }
  for (const path of base.keys()) if (!scanned.has(path)) paths.push(path);
  return { paths, created };
}
