import type { Settled } from './base';
import type { Tree } from './entry';
import { baseName, parentOf, type RelPath } from './path';
import type { Action } from './plan';
import type { Side } from './policy';

/**
 * Names that differ only in case are one name on a case-insensitive side (macOS, Windows, exFAT/FAT,
 * ext4 with casefold). Writing both there would merge two files, or two directories, into one.
 *
 * `foldName` is the comparison key: NFC, then `toLowerCase()` (locale-independent in JavaScript, the
 * same as `toLocaleLowerCase('und')`). It is an approximation of what file systems fold: they use an
 * upper-case table (NTFS, exFAT) or Unicode case folding (APFS, ext4), which also relate a few pairs a
 * lower-case mapping does not (German 'ß' and 'SS', say). Such a rare pair is not reported as a clash
 * here, but it is not merged either: every write re-checks its target, finds the other name there and
 * refuses.
 */
export function foldName(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

/** Paths in one directory that would land on one name of a case-insensitive `side`. */
export interface CaseClash {
  readonly side: Side;
  /** Two or more, sorted. */
  readonly paths: readonly RelPath[];
}

/**
 * Finds the names a plan would make collide on each case-insensitive side: within one directory, two
 * paths whose names fold to the same key, at least one of them created there by the plan (a copy to a
 * new name, a new directory, a rename's or a clone's destination), the other also created or already
 * there and not removed first by the same plan (a deletion or a rename away runs before anything is
 * created). So a case-only rename (`foo` becomes `Foo`) is no clash: the old name is gone by the time
 * the new one is made.
 *
 * `trees` are the sides as the plan sees them (after the plan's renames are applied, as `reconcile`
 * decides in that world). For a scoped plan, `outside` holds the names outside its scope, taken on both
 * sides (see Settled): a new name in a directory the scope only passes through meets them too. Pure: no I/O.
 */
export function findCaseClashes(actions: readonly Action[], trees: Record<Side, Tree>, caseInsensitive: Partial<Record<Side, boolean>> | undefined, outside?: Settled): CaseClash[] {
  const clashes: CaseClash[] = [];
  for (const side of ['local', 'remote'] as const) {
    if (!caseInsensitive?.[side]) continue;
    const created = createdNames(actions, side);
    if (created.size === 0) continue;
    const vacated = new Set<RelPath>();
    for (const a of actions) {
      if (a.to !== side) continue;
      if (a.kind === 'delete' && !a.replaced) vacated.add(a.path);
      else if (a.kind === 'rename') vacated.add(a.from);
    }
    // The names of each directory once the plan has run, grouped by their folded form.
    const groups = new Map<string, Set<RelPath>>();
    const add = (path: RelPath) => {
      const key = `${parentOf(path)}\0${foldName(baseName(path))}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = new Set()));
      group.add(path);
    };
    for (const path of trees[side].keys()) if (path !== '' && !vacated.has(path)) add(path);
    if (outside) {
      // Only names in a directory that gets a new one can clash.
      const dirs = new Set([...created].map(parentOf));
      for (const [path] of outside) if (path !== '' && dirs.has(parentOf(path)) && !vacated.has(path)) add(path);
    }
    for (const path of created) add(path);
    for (const group of groups.values()) {
      if (group.size < 2 || ![...group].some((p) => created.has(p))) continue;
      clashes.push({ side, paths: [...group].sort() });
    }
  }
  return clashes;
}

/** Paths a plan gives a new name on `side`: a copy to where nothing is, a new directory, a rename's or a clone's destination. */
export function createdNames(actions: readonly Action[], side: Side): Set<RelPath> {
  const created = new Set<RelPath>();
  for (const a of actions) {
    if (a.to !== side) continue;
    if (a.kind === 'rename' || a.kind === 'mkdir' || a.kind === 'clone' || (a.kind === 'copy' && a.expect === undefined)) created.add(a.path);
  }
  return created;
}

/** "case clash: 'README.md' and 'Readme.md' would be one file on the remote side …" */
export function describeCaseClash(clash: CaseClash): string {
  const names = clash.paths.map((p) => `'${p}'`);
  const list = names.length === 2 ? `${names[0]} and ${names[1]}` : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  return `case clash: ${list} would be one file on the ${clash.side} side (its file system ignores case); none of them is synced until all but one are renamed`;
}
