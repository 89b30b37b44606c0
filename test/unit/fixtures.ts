import type { Base, BaseRecord } from '../../src/engine/base';
import { withoutHash, type DirEntry, type Entry, type FileEntry, type ProblemEntry, type SymlinkEntry, type SyncableEntry, type Tree } from '../../src/engine/entry';
import { isWithin, type RelPath } from '../../src/engine/path';
import type { Action, Plan } from '../../src/engine/plan';
import type { ReconcilePolicy } from '../../src/engine/policy';

/** Small builders for engine data: entries, base records, trees and policies. */

export function file(size: number, mtimeMs: number, hash?: string, extra: Partial<Omit<FileEntry, 'kind'>> = {}): FileEntry {
  return { kind: 'file', size, mtimeMs, mode: 0o644, ...(hash === undefined ? {} : { hash }), ...extra };
}

export function dir(extra: Partial<Omit<DirEntry, 'kind'>> = {}): DirEntry {
  return { kind: 'dir', mode: 0o755, mtimeMs: 1000, ...extra };
}

export function link(target: string, mtimeMs = 1000): SymlinkEntry {
  return { kind: 'symlink', target, mtimeMs };
}

export function problem(message = 'permission denied'): ProblemEntry {
  return { kind: 'problem', message };
}

/** A base record as a sync leaves it: the entries without hashes, the content hash beside them. */
export function rec(local: SyncableEntry, remote: SyncableEntry = local, hash?: string, racy?: boolean): BaseRecord {
  const h = hash ?? (local.kind === 'file' ? local.hash : undefined);
  return {
    kind: local.kind,
    ...(h === undefined ? {} : { hash: h }),
    local: withoutHash(local),
    remote: withoutHash(remote),
    ...(racy ? { racy: true } : {}),
  };
}

export function tree(entries: Record<RelPath, Entry> = {}): Tree {
  return new Map(Object.entries(entries));
}

export function baseOf(records: Record<RelPath, BaseRecord> = {}): Base {
  return new Map(Object.entries(records));
}

export function policy(overrides: Partial<ReconcilePolicy> = {}): ReconcilePolicy {
  return {
    direction: 'bidi',
    overwrite: 'never',
    deletes: true,
    preserve: { times: true, mode: true, owner: false },
    isExcluded: () => false,
    mtimeToleranceMs: 1000,
    ...overrides,
  };
}

/** A plan in a compact, comparable form. Actions keep their order. */
export interface Outcome {
  actions: string[];
  conflicts: string[];
  agreements: string[];
  forgets: string[];
  skips: string[];
  hashRequests: string[];
}

export function describeAction(a: Action): string {
  const replaced = a.kind === 'delete' && a.replaced ? ' (replaced)' : '';
  return `${a.kind} ${a.to} ${a.path}${replaced}`;
}

export function outcome(plan: Plan): Outcome {
  return {
    actions: plan.actions.map(describeAction),
    conflicts: plan.conflicts.map((c) => `${c.path} ${c.kind}`),
    agreements: [...plan.agreements.keys()].sort(),
    forgets: [...plan.forgets].sort(),
    skips: plan.skips.map((s) => s.path).sort(),
    hashRequests: plan.hashRequests.map((h) => `${h.side} ${h.path}`).sort(),
  };
}

export function expected(partial: Partial<Outcome>): Outcome {
  return { actions: [], conflicts: [], agreements: [], forgets: [], skips: [], hashRequests: [], ...partial };
}

/** Invariants every plan must keep, whatever the case. Returns the violations. */
export function invariantViolations(plan: Plan): string[] {
  const out: string[] = [];
  for (const c of plan.conflicts) {
    for (const a of plan.actions) if (isWithin(a.path, c.path)) out.push(`action '${describeAction(a)}' at or under conflict '${c.path}'`);
  }
  for (const p of plan.problems) {
    for (const a of plan.actions) if (isWithin(a.path, p.path)) out.push(`action '${describeAction(a)}' at or under problem '${p.path}'`);
  }
  for (const a of plan.actions) if (plan.agreements.has(a.path)) out.push(`action '${describeAction(a)}' on a path that is also an agreement`);
  return out;
}
