import { createdNames, foldName } from '../engine/caseClash';
import type { Tree } from '../engine/entry';
import { ancestors, baseName, isWithin, join, parentOf, ROOT, type RelPath } from '../engine/path';
import type { Plan } from '../engine/plan';
import type { Side } from '../engine/policy';
import type { Replica } from '../replica/replica';

/**
 * Which sides of a session ignore case in names. Each side is probed once (a temp file at its root, see
 * caseProbe.ts), and only when a plan writes to it: a run with nothing to write probes nothing. A probe
 * that fails (a read-only root, say) counts as case-sensitive; every write still re-checks its target,
 * so the worst outcome of a wrong answer is a refused write with a vaguer message, never a merge.
 */
export class CaseFolding {
  private readonly known: Partial<Record<Side, boolean>> = {};

  /** What is known so far, for the reconcile policy. */
  get sides(): Partial<Record<Side, boolean>> {
    return { ...this.known };
  }

  /** Probes the sides `plan` writes to that were not probed yet. True when one of them ignores case. */
  async learn(plan: Plan, replicas: Record<Side, Replica>): Promise<boolean> {
    let found = false;
    for (const side of ['local', 'remote'] as const) {
      if (this.known[side] !== undefined || !plan.actions.some((a) => a.to === side)) continue;
      if (await this.ignoresCase(side, replicas[side])) found = true;
    }
    return found;
  }

  async ignoresCase(side: Side, replica: Replica): Promise<boolean> {
    if (this.known[side] === undefined) this.known[side] = replica.caseInsensitive ? await replica.caseInsensitive().catch(() => false) : false;
    return this.known[side]!;
  }
}

/** A name looked up on a case-insensitive side, and the name it is stored under there. */
export interface StoredCase {
  readonly looked: RelPath;
  readonly stored: RelPath;
}

/**
 * A view of a case-insensitive side that was not listed in full can hold a name under a case it is not
 * stored as, or miss a name stored under another case:
 * - a scan of a few paths looks each one up, and a lookup of 'README.md' finds 'readme.md';
 * - a one-way run takes its target to be as the snapshot recorded it, which knows nothing of a
 *   'readme.md' made there since.
 * The engine would then take one file for the other (overwrite it, or merge a new directory into it).
 * Returns, for `paths`, the names their parents' listings hold under another case that `tree` lacks.
 */
export async function storedUnderOtherCase(replica: Replica, tree: Tree, paths: Iterable<RelPath>): Promise<StoredCase[]> {
  if (!replica.listNames) return [];
  const listings = new Map<RelPath, Promise<string[]>>();
  const found: StoredCase[] = [];
  for (const path of paths) {
    if (path === ROOT) continue;
    const parent = parentOf(path);
    if (!listings.has(parent)) listings.set(parent, replica.listNames(parent).catch(() => []));
    const name = baseName(path);
    for (const n of await listings.get(parent)!) {
      const stored = join(parent, n);
      if (n !== name && foldName(n) === foldName(name) && !tree.has(stored) && !found.some((f) => f.stored === stored)) found.push({ looked: path, stored });
    }
  }
  return found;
}

/**
 * Corrects a view with what storedUnderOtherCase found: the looked-up name goes (nothing is stored
 * under it), the stored one comes in as a problem entry. It is there for the engine to see the clash
 * with the name being created, never to be decided about (what it holds was not looked at), so it
 * is never deleted or overwritten as "not at the source".
 */
export function markStoredCase(tree: Tree, found: readonly StoredCase[]): void {
  for (const { looked, stored } of found) {
    for (const p of [...tree.keys()]) if (isWithin(p, looked)) tree.delete(p);
    tree.set(stored, { kind: 'problem', message: `'${looked}' is stored here as '${stored}' (names that differ only in case are one here)` });
  }
}

/** The outermost of the paths a plan gives a new name on `side` (what is under a new directory is new too). */
export function outermostCreated(plan: Plan, side: Side): RelPath[] {
  const created = createdNames(plan.actions, side);
  return [...created].filter((p) => !ancestors(p).some((a) => created.has(a)));
}
