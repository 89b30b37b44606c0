import type { Base, BaseRecord, Settled } from './base';
import { classify, isChanged, type Change } from './change';
import { isSyncable, sameContent, sameMetadata, withoutHash, type SyncableEntry, type Tree } from './entry';
import { ancestors, compareParentFirst, depth, isWithin, ROOT, type RelPath } from './path';
import type { Action, Conflict, ConflictKind, HashRequest, Plan, Skip } from './plan';
import { describeCaseClash, findCaseClashes } from './caseClash';
import { copiesWithin } from './copies';
import { applyMoves, detectMoves } from './moves';
import { otherSide, type ReconcilePolicy, type Side } from './policy';

/**
 * Decides, for every path known to the base or either side, what must happen so that both sides agree
 * again: the pure heart of a sync. Implements the table in DESIGN.md for push, pull and bidi.
 *
 * Invariants:
 * - A conflict leaves both sides as they are, and nothing at or below a conflicted path is touched.
 * - Nothing at or below a path a scan could not read (a `problem`) is touched, and its base is kept:
 *   an unreadable directory never reads as "everything in it was deleted".
 * - Excluded paths are never compared, copied or deleted, and their base records are left alone.
 * - A directory is deleted only when everything under it on that side is deleted by the same plan.
 * - On a side whose names ignore case (`policy.caseInsensitive`), no two names that differ only in case
 *   are made to land on one: each such path becomes a problem and is left alone like one.
 *
 * A scoped plan is given only the base records and tree entries within its scope: nothing else is
 * decided about, so nothing else can be deleted, forgotten or renamed. Renames are found within the
 * scope too, so the caller puts both ends of each in it (everything gone and everything new). `outside`,
 * the records it was not given, where the caller found them unchanged on both sides (see Settled): for
 * copies and case clashes, which look beyond the paths decided about.
 */
export function reconcile(base: Base, local: Tree, remote: Tree, policy: ReconcilePolicy, outside?: Settled): Plan {
  for (const [side, tree] of [['local', local], ['remote', remote]] as const) {
    const root = tree.get(ROOT);
    // A root that could not be read says nothing about what is in it: decide nothing at all.
    if (root?.kind === 'problem') return { ...emptyPlan(), problems: [{ path: ROOT, side, message: root.message }] };
  }
  const sources: Side[] = policy.direction === 'push' ? ['local'] : policy.direction === 'pull' ? ['remote'] : ['local', 'remote'];
  const detection = detectMoves(base, local, remote, sources, policy.isExcluded);
  let moves = detection.moves;
  // No snapshot at all (a first run or a rescan), not merely a scope that holds no record.
  const firstRun = base.size === 0 && (outside === undefined || outside[Symbol.iterator]().next().done === true);
  const clashes = new Map<RelPath, { side: Side; message: string }>();
  for (;;) {
    const world = applyMoves(base, local, remote, moves);
    const plan = new Reconciler(world.base, world.local, world.remote, policy, clashes, firstRun).run();
    // A rename into or out of a path that is left alone (a conflict, a problem, a skip) would touch it:
    // decide again without that rename.
    const untouchable = [...plan.conflicts.map((c) => c.path), ...plan.problems.map((p) => p.path), ...plan.skips.map((s) => s.path)];
    const kept = moves.filter((m) => !untouchable.some((u) => isWithin(m.from, u) || isWithin(m.to, u) || isWithin(u, m.to)));
    if (kept.length < moves.length) {
      moves = kept;
      continue;
    }
    const renames: Action[] = moves.map((m) => ({ kind: 'rename', from: m.from, path: m.to, to: otherSide(m.side), expect: m.expect }));
    const copies = copiesWithin(plan.actions, world.base, { local: world.local, remote: world.remote }, policy, outside);
    // Names that would collide on a case-insensitive side: decide again with them left alone.
    let clashed = false;
    for (const clash of findCaseClashes([...renames, ...copies.actions], world, policy.caseInsensitive, outside)) {
      for (const path of clash.paths) {
        if (clashes.has(path)) continue;
        clashes.set(path, { side: clash.side, message: describeCaseClash(clash) });
        clashed = true;
      }
    }
    if (clashed) continue;
    return { ...plan, actions: [...renames, ...copies.actions], hashRequests: [...detection.hashRequests, ...plan.hashRequests, ...copies.hashRequests] };
  }
}

function emptyPlan(): Plan {
  return { actions: [], agreements: new Map(), forgets: [], conflicts: [], skips: [], problems: [], hashRequests: [] };
}

interface PathState {
  readonly record?: BaseRecord;
  readonly local?: SyncableEntry;
  readonly remote?: SyncableEntry;
  readonly localChange: Change;
  readonly remoteChange: Change;
}

class Reconciler {
  private readonly actions: Action[] = [];
  private readonly agreements = new Map<RelPath, BaseRecord>();
  private readonly forgets: RelPath[] = [];
  private readonly conflicts: Conflict[] = [];
  private readonly skips: Skip[] = [];
  private readonly problems: Plan['problems'] = [];
  private readonly hashRequests: HashRequest[] = [];
  /** Paths whose subtree is left alone (conflict, problem, exclusion, skipped directory). */
  private readonly blocked = new Set<RelPath>();
  /** Directories with a changed descendant, per side. */
  private readonly dirty = { local: new Set<RelPath>(), remote: new Set<RelPath>() };
  private readonly states = new Map<RelPath, PathState>();

  constructor(
    private readonly base: Base,
    private readonly local: Tree,
    private readonly remote: Tree,
    private readonly policy: ReconcilePolicy,
    /** Paths that would collide with another name on a case-insensitive side: problems, left alone. */
    private readonly clashes: ReadonlyMap<RelPath, { side: Side; message: string }> = new Map(),
    /** No snapshot at all: both sides holding something different cannot tell which is newer. */
    private readonly firstRun = base.size === 0,
  ) {}

  run(): Plan {
    const paths = new Set<RelPath>([...this.base.keys(), ...this.local.keys(), ...this.remote.keys()]);
    paths.delete(ROOT);
    for (const [path, { side, message }] of this.clashes) {
      this.problems.push({ path, side, message });
      this.blocked.add(path);
    }
    const ordered = [...paths].sort(compareParentFirst);
    for (const path of ordered) this.classifyPath(path);
    for (const path of ordered) {
      if (this.isBlocked(path)) continue;
      this.decide(path);
    }
    this.dropUnsafeDirectoryDeletes();
    return {
      actions: orderActions(this.actions),
      agreements: this.agreements,
      forgets: this.forgets,
      conflicts: this.conflicts,
      skips: this.skips,
      problems: this.problems,
      hashRequests: this.hashRequests,
    };
  }

  private classifyPath(path: RelPath): void {
    const l = this.local.get(path);
    const r = this.remote.get(path);
    for (const [side, entry] of [['local', l], ['remote', r]] as const) {
      // A clashing name is reported as the clash (see run()).
      if (entry?.kind === 'problem' && !this.clashes.has(path)) {
        this.problems.push({ path, side, message: entry.message });
      }
      if (entry?.kind === 'problem') this.blocked.add(path);
    }
    const record = this.base.get(path);
    const local = isSyncable(l) ? l : undefined;
    const remote = isSyncable(r) ? r : undefined;
    const lc = classify(record, record?.local, local, this.policy.preserve, 'local');
    const rc = classify(record, record?.remote, remote, this.policy.preserve, 'remote');
    // One-way with overwrite 'always': a changed source is copied whatever the target holds, so a racy
    // target record need not be confirmed by hash first (the write still checks the target's fingerprint).
    const source = this.policy.direction === 'push' ? 'local' : this.policy.direction === 'pull' ? 'remote' : undefined;
    const targetHashMoot = source !== undefined && this.policy.overwrite === 'always' && isChanged(source === 'local' ? lc.change : rc.change);
    if (lc.needsHash && !(targetHashMoot && source === 'remote')) this.hashRequests.push({ path, side: 'local' });
    if (rc.needsHash && !(targetHashMoot && source === 'local')) this.hashRequests.push({ path, side: 'remote' });
    this.states.set(path, { record, local, remote, localChange: lc.change, remoteChange: rc.change });
    if (isChanged(lc.change)) for (const a of ancestors(path)) this.dirty.local.add(a);
    if (isChanged(rc.change)) for (const a of ancestors(path)) this.dirty.remote.add(a);
  }

  private isBlocked(path: RelPath): boolean {
    if (this.blocked.has(path)) return true;
    for (const a of ancestors(path)) if (this.blocked.has(a)) return true;
    return false;
  }

  private decide(path: RelPath): void {
    const s = this.states.get(path)!;
    const isDir = s.local?.kind === 'dir' || s.remote?.kind === 'dir' || s.record?.kind === 'dir';
    if (this.policy.isExcluded(path, isDir)) {
      this.blocked.add(path);
      return;
    }
    if (!s.local && !s.remote) {
      if (s.record) this.forgets.push(path);
      return;
    }
    if (s.localChange === 'unchanged' && s.remoteChange === 'unchanged') return;
    switch (this.policy.direction) {
      case 'bidi':
        return this.decideBidi(path, s);
      case 'push':
        return this.decideOneWay(path, s, 'local');
      case 'pull':
        return this.decideOneWay(path, s, 'remote');
    }
  }

  // ---- bidirectional ------------------------------------------------------------------------------

  private decideBidi(path: RelPath, s: PathState): void {
    const { localChange: lc, remoteChange: rc } = s;
    if (rc === 'unchanged' || rc === 'absent') return this.oneSidedBidi(path, s, 'local');
    if (lc === 'unchanged' || lc === 'absent') return this.oneSidedBidi(path, s, 'remote');
    // Both sides changed.
    if (!s.local || !s.remote) return this.conflict(path, s, 'modified-vs-deleted');
    this.bothPresent(path, s, () => {
      if (this.policy.overwrite === 'newer') {
        const newer = this.newerSide(s.local!, s.remote!);
        if (newer) return this.propagate(path, newer, s);
        return this.conflict(path, s, 'undeterminable');
      }
      this.conflict(path, s, this.bothChangedKind(s));
    });
  }

  /** Only `changed` differs from the base; the other side is as agreed. */
  private oneSidedBidi(path: RelPath, s: PathState, changed: Side): void {
    const change = changed === 'local' ? s.localChange : s.remoteChange;
    const now = s[changed];
    const other = otherSide(changed);
    const otherNow = s[other];
    if (!now) {
      // Deleted here; the other side kept it. A directory with changes inside is not ours to delete.
      if (otherNow?.kind === 'dir' && this.dirty[other].has(path)) return this.conflict(path, s, 'modified-vs-deleted');
      return this.remove(path, other, otherNow!);
    }
    if (now.kind !== 'dir' && otherNow?.kind === 'dir' && this.dirty[other].has(path)) {
      return this.conflict(path, s, 'type-clash');
    }
    if (change === 'meta') return this.propagateMeta(path, changed, s);
    this.propagate(path, changed, s);
  }

  // ---- one-way (push: local -> remote, pull: remote -> local) ---------------------------------------

  private decideOneWay(path: RelPath, s: PathState, source: Side): void {
    const target = otherSide(source);
    const sc = source === 'local' ? s.localChange : s.remoteChange;
    const tc = source === 'local' ? s.remoteChange : s.localChange;
    const src = s[source];
    const dst = s[target];
    const targetDrifted = isChanged(tc) || (dst?.kind === 'dir' && this.dirty[target].has(path));

    if (!targetDrifted) {
      if (!src) return this.remove(path, target, dst!);
      if (sc === 'meta') return this.propagateMeta(path, source, s);
      return this.propagate(path, source, s);
    }

    // The target drifted from the base: what happens follows `overwrite`.
    if (!src) {
      switch (this.policy.overwrite) {
        case 'always':
          return this.remove(path, target, dst!);
        case 'newer':
          return this.skip(path, `the ${target} copy changed and there is no ${source} version to compare it with`);
        case 'never':
          return this.conflict(path, s, s.record ? 'modified-vs-deleted' : 'both-created');
      }
    }
    if (!dst) {
      // Nothing to overwrite: restoring a deleted target loses nothing.
      if (this.policy.overwrite === 'never' && sc === 'unchanged') return this.conflict(path, s, 'modified-vs-deleted');
      return this.propagate(path, source, s);
    }
    this.bothPresent(path, s, () => {
      switch (this.policy.overwrite) {
        case 'always':
          return this.propagate(path, source, s);
        case 'newer': {
          const newer = this.newerSide(s.local!, s.remote!);
          if (newer === source) return this.propagate(path, source, s);
          if (newer === target) return this.skip(path, `the ${target} copy is newer`);
          return this.conflict(path, s, 'undeterminable');
        }
        case 'never':
          return this.conflict(path, s, src.kind !== dst.kind ? 'type-clash' : this.bothChangedKind(s));
      }
    });
  }

  // ---- shared decisions -----------------------------------------------------------------------------

  /**
   * Both sides hold something: agree when they are the same (directories always "are", their children
   * are decided one by one), ask for hashes when that cannot be told yet, else call `differ`.
   */
  private bothPresent(path: RelPath, s: PathState, differ: () => void): void {
    const l = s.local!;
    const r = s.remote!;
    if (l.kind !== r.kind) {
      if (this.policy.direction === 'bidi') return this.conflict(path, s, 'type-clash');
      return differ();
    }
    const same = sameContent(l, r);
    if (same === undefined) {
      if (l.kind === 'file' && l.hash === undefined) this.hashRequests.push({ path, side: 'local' });
      if (r.kind === 'file' && r.hash === undefined) this.hashRequests.push({ path, side: 'remote' });
      return;
    }
    if (same) {
      // Same content on both sides: agreement, not a conflict. Differing metadata follows the
      // direction's source (bidi: left as each side has it).
      if (this.policy.direction !== 'bidi' && !sameMetadata(l, r, this.policy.preserve) && this.preservesMetadata()) {
        const source: Side = this.policy.direction === 'push' ? 'local' : 'remote';
        return this.propagateMeta(path, source, s);
      }
      return this.agree(path, l, r);
    }
    differ();
  }

  /** Makes the other side hold what `from` holds. */
  private propagate(path: RelPath, from: Side, s: PathState): void {
    const to = otherSide(from);
    const src = s[from]!;
    const dst = s[to];
    if (src.kind === 'dir') {
      if (dst?.kind === 'dir') {
        if (!sameMetadata(src, dst, this.policy.preserve) && this.preservesMetadata()) return this.propagateMeta(path, from, s);
        return this.agree(path, s.local!, s.remote!);
      }
      if (dst) this.actions.push({ kind: 'delete', path, to, expect: dst, replaced: true });
      this.actions.push({ kind: 'mkdir', path, to, source: src });
      return;
    }
    if (dst?.kind === 'dir') {
      this.actions.push({ kind: 'delete', path, to, expect: dst, replaced: true });
      this.actions.push({ kind: 'copy', path, to, source: src, expect: undefined });
      return;
    }
    if (dst && sameContent(src, dst) === true) {
      if (!sameMetadata(src, dst, this.policy.preserve) && this.preservesMetadata()) return this.propagateMeta(path, from, s);
      return this.agree(path, s.local!, s.remote!);
    }
    this.actions.push({ kind: 'copy', path, to, source: src, expect: dst });
  }

  private propagateMeta(path: RelPath, from: Side, s: PathState): void {
    const to = otherSide(from);
    const src = s[from]!;
    const dst = s[to];
    if (!dst || dst.kind !== src.kind) return this.propagate(path, from, s);
    if (!this.preservesMetadata() || src.kind === 'symlink') return this.agree(path, s.local!, s.remote!);
    this.actions.push({ kind: 'setmeta', path, to, source: src, expect: dst });
  }

  private remove(path: RelPath, on: Side, now: SyncableEntry): void {
    if (!this.policy.deletes) return this.skip(path, 'deletion not propagated (deletes are off)');
    this.actions.push({ kind: 'delete', path, to: on, expect: now });
  }

  private agree(path: RelPath, local: SyncableEntry, remote: SyncableEntry): void {
    const hash = local.kind === 'file' ? (local.hash ?? (remote.kind === 'file' ? remote.hash : undefined)) : undefined;
    this.agreements.set(path, { kind: local.kind, hash, local: withoutHash(local), remote: withoutHash(remote) });
  }

  private conflict(path: RelPath, s: PathState, kind: ConflictKind): void {
    this.conflicts.push({ path, kind, local: s.local, remote: s.remote });
    this.blocked.add(path);
  }

  private skip(path: RelPath, reason: string): void {
    this.skips.push({ path, reason });
    this.blocked.add(path);
  }

  private bothChangedKind(s: PathState): ConflictKind {
    if (s.record) return 'both-modified';
    // Without any snapshot there is no telling which side is newer: the first run or a rescan.
    return this.firstRun ? 'undeterminable' : 'both-created';
  }

  private newerSide(local: SyncableEntry, remote: SyncableEntry): Side | undefined {
    const tolerance = this.policy.mtimeToleranceMs;
    if (local.mtimeMs > remote.mtimeMs + tolerance) return 'local';
    if (remote.mtimeMs > local.mtimeMs + tolerance) return 'remote';
    return undefined;
  }

  private preservesMetadata(): boolean {
    const p = this.policy.preserve;
    return p.mode || p.owner || p.times;
  }

  /**
   * A directory is removed only if everything below it on that side is removed too. Something that
   * stays (a skipped or conflicted child, or one outside the plan) keeps the directory, and a
   * directory cleared to make room for a file keeps the file from being written.
   */
  private dropUnsafeDirectoryDeletes(): void {
    const dirDeletes = this.actions.filter((a) => a.kind === 'delete' && a.expect.kind === 'dir');
    if (dirDeletes.length === 0) return;
    const deleted = { local: new Set<RelPath>(), remote: new Set<RelPath>() };
    for (const a of this.actions) if (a.kind === 'delete') deleted[a.to].add(a.path);
    const keep = { local: new Set<RelPath>(), remote: new Set<RelPath>() };
    for (const side of ['local', 'remote'] as const) {
      const candidates = new Set(dirDeletes.filter((a) => a.to === side).map((a) => a.path));
      if (candidates.size === 0) continue;
      const tree = side === 'local' ? this.local : this.remote;
      for (const path of tree.keys()) {
        if (deleted[side].has(path)) continue;
        for (const a of ancestors(path)) if (candidates.has(a)) keep[side].add(a);
      }
    }
    const refused = new Set<string>();
    for (const a of dirDeletes) {
      if (keep[a.to].has(a.path)) refused.add(`${a.to}\0${a.path}`);
    }
    if (refused.size === 0) return;
    const kept: Action[] = [];
    for (const a of this.actions) {
      if (refused.has(`${a.to}\0${a.path}`) && (a.kind === 'delete' || a.kind === 'copy' || a.kind === 'mkdir')) {
        if (a.kind === 'delete') this.skips.push({ path: a.path, reason: `directory kept on ${a.to}: something inside it is not being deleted` });
        continue;
      }
      kept.push(a);
    }
    this.actions.length = 0;
    this.actions.push(...kept);
  }
}

/** Deletions deepest first, then directories parent first, then copies and metadata. */
function orderActions(actions: Action[]): Action[] {
  const deletes = actions.filter((a) => a.kind === 'delete').sort((a, b) => depth(b.path) - depth(a.path) || compareParentFirst(a.path, b.path));
  const mkdirs = actions.filter((a) => a.kind === 'mkdir').sort((a, b) => compareParentFirst(a.path, b.path));
  const rest = actions.filter((a) => a.kind === 'copy' || a.kind === 'setmeta' || a.kind === 'clone');
  return [...deletes, ...mkdirs, ...rest];
}

