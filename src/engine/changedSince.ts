import { recordMatcher, type Base } from './base';
import { classify } from './change';
import { isSyncable, type Tree } from './entry';
import type { RelPath } from './path';
import type { Side } from './policy';

/**
 * What a run with a snapshot has to decide about on `side`: paths new to the snapshot, paths that differ
 * from it (or need a hash to tell), and snapshot paths gone from the scan. Everything else is as the
 * snapshot recorded it, so it needs no plan at all. Uses the reconciler's own classification, so a path
 * left out here is one the reconciler would have found unchanged. A rename shows as both of its ends
 * (one gone, one new), so a plan of just these paths still finds it; a copy's source is left out, and is
 * found in its record (see Settled).
 */
export function changedSince(base: Base, side: Side, scanned: Tree, preserve?: { readonly mode: boolean; readonly owner: boolean }): RelPath[] {
  const paths: RelPath[] = [];
  const matcher = recordMatcher(base);
  for (const [path, entry] of scanned) {
    if (matcher?.matchesRecorded(path, side, entry)) continue;
    const record = base.get(path);
    if (!record) {
      paths.push(path);
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
  return paths;
}
