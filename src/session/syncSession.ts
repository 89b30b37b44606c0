import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import { EventEmitter } from 'node:events';
import { isRacy, recordMatcher, type BaseRecord, type Settled } from '../engine/base';
import { classify } from '../engine/change';
import { changedSince } from '../engine/changedSince';
import { isSyncable, sameFingerprint, type Tree } from '../engine/entry';
import { Filter } from '../engine/filter';
import { guard } from '../engine/guard';
import { ancestors, baseName, compareParentFirst, isWithin, join, parentOf, ROOT, type RelPath } from '../engine/path';
import type { Plan } from '../engine/plan';
import { otherSide, type Direction, type ReconcilePolicy, type Side } from '../engine/policy';
import { reconcile } from '../engine/reconcile';
import { SyncError } from '../errors';
import type { Replica, ScanOptions } from '../replica/replica';
import { journalFile } from '../store/journal';
import { digestFile, SnapshotStore, type StoredConflict } from '../store/snapshotStore';
import type { RunOptions, SessionConfig } from './config';
import type { SessionState, SyncEvent, SyncSummary } from './events';
import { execute, type ActionOutcome, type ExecutorOptions } from './executor';
import { CaseFolding, markStoredCase, outermostCreated, storedUnderOtherCase } from './caseFolding';
import { conflictCopyName } from './conflictName';
import { MARKER_NAME, registerSession } from './rootMarker';
import { quietRunFile, snapshotFile } from './stateFile';

/**
 * A record whose mtime is this close to the scan is confirmed by hash next time ("racy git"): an edit
 * within the same clock tick keeps the mtime. Whole-second mtimes (SFTP, FAT, HFS+, forged by tools)
 * get a window of two seconds; finer ones only have the kernel's timestamp tick to fear.
 */
const RACY_WINDOW_COARSE_MS = 2000;
const RACY_WINDOW_FINE_MS = 100;
const MAX_HASH_ROUNDS = 3;

interface SessionMeta {
  readonly localRoot: string;
  readonly peer: string;
  readonly name?: string;
}

/**
 * One local root + one peer + direction + options. A run is scan -> reconcile -> guard -> execute ->
 * commit; only what actually happened is folded into the snapshot, which is saved atomically.
 */
export class SyncSession {
  private readonly emitter = new EventEmitter();
  readonly filter: Filter;
  private stateValue: SessionState = 'idle';
  /** Held open between open() and close() (continuous sessions); otherwise opened per call. */
  private heldStore: SnapshotStore | undefined;
  /** Runs one at a time: each waits for the one before it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Recorded in the roots' loop markers (once per session object). */
  private registered = false;
  /** Which sides ignore case in names (probed once each, when first written to). */
  private readonly caseFolding = new CaseFolding();

  constructor(
    readonly config: SessionConfig,
    readonly sides: Record<Side, Replica>,
  ) {
    // The loop marker lives at each root and is never synced.
    this.filter = new Filter([{ type: 'exclude', pattern: `/${MARKER_NAME}` }, ...config.filters]);
  }

  /** Keeps the snapshot open across runs (for a session that stays alive). */
  async open(): Promise<void> {
    if (this.heldStore) return;
    this.heldStore = await this.openStore();
    this.heldStore.deferIndex = true;
  }

  /** Waits for the run in progress, saves and releases the snapshot. */
  async close(): Promise<void> {
    await this.exclusive(async () => {
      const store = this.heldStore;
      this.heldStore = undefined;
      if (store) {
        await store.save();
        await store.writeIndexIfMissing();
        store.close();
      }
    });
  }

  /** Replaces the remote side after a reconnect. */
  replaceRemote(remote: Replica): void {
    (this.sides as { remote: Replica }).remote = remote;
  }

  get state(): SessionState {
    return this.stateValue;
  }

  get snapshotFile(): string {
    return snapshotFile(this.config.stateDir, this.config.localRoot, this.config.peer, this.config.name);
  }

  /**
   * Present while a run is writing (a file, not a snapshot field: no extra save on the hot path).
   * Left behind by a run that was killed or failed, it makes the next one-way run compare in full.
   */
  private get inFlightFile(): string {
    return `${this.snapshotFile}.inflight`;
  }

  /** Marks a run as writing (see inFlightFile); true when this call made the mark. */
  private async markInFlight(): Promise<boolean> {
    if (await exists(this.inFlightFile)) return false;
    await fs.mkdir(this.config.stateDir, { recursive: true });
    await fs.writeFile(this.inFlightFile, '');
    return true;
  }

  onEvent(listener: (event: SyncEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  /**
   * One complete sync of the whole root. A one-way run with a snapshot scans only its source: the
   * target is taken to be as the snapshot recorded it and is looked at only where the plan writes (each
   * write re-checks it). So a push with nothing to do costs a local scan and no connection at all; a
   * target changed behind our back is found at the write, looked at again in full and follows
   * `overwrite`. `--rescan` compares both sides in full.
   */
  run(options: RunOptions = {}): Promise<SyncSummary> {
    return this.exclusive(async () => {
      const started = Date.now();
      const whole: ScanOptions = { filter: this.filter, symlinks: this.config.symlinks, under: ROOT };
      // A bidi run looks at the peer anyway: let the connection come up, and the peer's listing start,
      // while the snapshot loads (the scan below gets that listing: same options object). Not on a first
      // run: its peer root may not exist until the roots are checked (and created).
      if (this.config.direction === 'bidi') {
        const listEarly = !options.rescan && (await exists(this.snapshotFile));
        this.sides.remote.connectEarly?.(listEarly ? whole : undefined);
      }
      if (options.rescan) await this.dropSnapshot();
      return this.withStore(async (store) => {
        const direction = this.config.direction;
        const interrupted = await exists(this.inFlightFile);
        if (direction === 'bidi' || store.base.size === 0 || interrupted) {
          // The local walk needs nothing from the peer: it goes on while the peer connects and its root
          // is checked (a missing local root is reported by checkRoots, not by this scan).
          // (No early start of the write stream here: looking at every entry as it is scanned cost a bidi
          // run with nothing to do ~0.25 s over 100,000 paths, more than the stream's start saves.)
          const localScan = this.sides.local.scan(whole);
          localScan.catch(() => undefined);
          const createdRoot = await this.checkRoots(store);
          // A new session says at once whether it would close a loop (it connects anyway): before
          // anything is planned, while the peer is listed.
          const registering = store.base.size === 0 && !options.dryRun ? this.register() : undefined;
          registering?.catch(() => undefined);
          this.setState('scanning');
          // A peer root this run has just made holds nothing to list (whatever lands in it meanwhile is
          // refused by the writes' own checks, which never replace what they did not expect).
          const remoteScan = createdRoot ? Promise.resolve<Tree>(new Map()) : this.sides.remote.scan(whole);
          const scanned = { local: await localScan, remote: await remoteScan };
          await registering;
          // After an interrupted run the target may hold writes the snapshot does not know: all of it.
          const scope = store.base.size > 0 && !interrupted ? this.narrow(store, scanned) : undefined;
          if (scope === 'nothing') {
            await store.writeIndexIfMissing();
            return this.nothingToDo(direction, options, started);
          }
          const within = scopeTest(scope);
          const trees = scope ? { local: subtree(scanned.local, within), remote: subtree(scanned.remote, within) } : scanned;
          return (await this.syncTrees(store, trees, options, started, scope)).summary;
        }
        const source: Side = direction === 'push' ? 'local' : 'remote';
        const target = otherSide(source);
        if (source === 'remote') await this.checkRoots(store);
        else await this.checkLocalRoot();
        this.setState('scanning');
        const onEntry = source === 'local' && !options.dryRun ? this.onFirstLocalChange(store) : undefined;
        const scanned = await this.sides[source].scan({ filter: this.filter, symlinks: this.config.symlinks, onEntry });
        const scope = this.narrow(store, { [source]: scanned });
        if (scope === 'nothing') {
          await store.writeIndexIfMissing();
          return this.nothingToDo(direction, options, started);
        }
        const within = scopeTest(scope);
        const trees = { [source]: scope ? subtree(scanned, within) : scanned, [target]: recordedTree(store, target, within) } as Record<Side, Tree>;
        const first = await this.syncTrees(store, trees, options, started, scope, async () => {
          await this.checkRoots(store);
        }, undefined, true);
        if (first.changed.length === 0 || options.dryRun || options.signal?.aborted) return first.summary;
        // The target had changed where we wrote: look at those paths on both sides and decide again.
        const again = await this.syncPathsNow(store, first.changed, options, started);
        return mergeSummaries([first.summary, again], Date.now() - started);
      });
    });
  }

  /**
   * What a run with a snapshot has to decide about. Only what changed since the snapshot (see
   * changedSince) and what is in conflict needs a decision; everything else is as the snapshot recorded
   * it on both sides. 'nothing': nothing changed. A scope: few enough paths changed to list: decide
   * about just those (the outermost of them, and what is under them), as an editor save does. Undefined:
   * the whole tree.
   *
   * New paths are in the scope like any other: a rename or move is a path gone and a path new on the
   * same side, so both of its ends are, and the reconciler finds it within the scope. The scope is
   * `settled`: every path outside it was just found unchanged, so its record stands for both sides
   * there (a copy's source, a name taken).
   */
  private narrow(store: SnapshotStore, scanned: Partial<Record<Side, Tree>>): Scope | 'nothing' | undefined {
    const paths: RelPath[] = store.conflicts().map((c) => c.path);
    for (const side of ['local', 'remote'] as const) {
      const tree = scanned[side];
      if (tree) paths.push(...changedSince(store.base, side, tree, this.config.preserve));
    }
    if (paths.length === 0) return 'nothing';
    if (paths.length > NARROW_MAX_PATHS) return undefined;
    const roots = topMost(paths);
    return { roots, parents: new Set(roots.flatMap((p) => ancestors(p))), settled: true };
  }

  /**
   * For a push's scan of the local side: the first entry that differs from the snapshot
   * lets the peer start connecting while the scan goes on (a run with nothing to do still opens no
   * connection; one with a change does not wait for the whole scan before the connection's round trips
   * begin). The first recorded file whose content changed also starts what the peer's writes need (the
   * server's start-up of its write stream): a new path may be a rename's, which writes no file, and a
   * stream started for nothing delays the end of the run.
   */
  private onFirstLocalChange(store: SnapshotStore): ScanOptions['onEntry'] {
    const peer = this.sides.remote;
    if (!peer.connectEarly && !peer.prepareWrites) return undefined;
    let seen = false;
    let prepared = false;
    const conflicted = new Set(store.conflicts().map((c) => c.path));
    const matcher = recordMatcher(store.base);
    return (path, entry) => {
      // Only a sure change: one that needs a hash to tell may turn out to be none, an unreadable path is
      // a problem to report, not something to write, and a path in conflict stays as it is. (A file
      // touched without a change in content still counts: such a run may connect for nothing.)
      if (prepared || !isSyncable(entry) || conflicted.has(path)) return;
      if (matcher?.matchesRecorded(path, 'local', entry)) return;
      const record = store.base.get(path);
      const change = record ? classify(record, record.local, entry, this.config.preserve, 'local').change : undefined;
      if (change === 'unchanged') return;
      if (!seen) peer.connectEarly?.();
      seen = true;
      if (change === 'modified' && record?.kind === 'file' && entry.kind === 'file') {
        prepared = true;
        peer.prepareWrites?.();
      }
    };
  }

  /** A run that found nothing changed since the snapshot: no plan, no connection, no save. */
  private async nothingToDo(direction: Direction, options: RunOptions, started: number): Promise<SyncSummary> {
    const empty: Plan = { actions: [], agreements: new Map(), forgets: [], conflicts: [], skips: [], problems: [], hashRequests: [] };
    const summary = summarise(direction, empty, [], !!options.dryRun, undefined, Date.now() - started);
    if (!options.dryRun) await fs.writeFile(quietRunFile(this.snapshotFile), JSON.stringify({ at: Date.now() })).catch(() => undefined);
    this.setState('idle');
    this.emit({ type: 'done', summary });
    return summary;
  }

  /**
   * Syncs just these paths (and what lies below them): what a watcher or an editor save reports. No
   * scan of anything else, so a saved file reaches the peer at once. Filters and conflicts apply as in
   * a full run: an excluded or conflicted path is left alone.
   */
  syncPaths(paths: readonly RelPath[]): Promise<SyncSummary> {
    return this.exclusive(() => this.withStore((store) => this.syncPathsNow(store, paths, {}, Date.now())));
  }

  private async syncPathsNow(store: SnapshotStore, paths: readonly RelPath[], options: RunOptions, started: number): Promise<SyncSummary> {
    // An unmounted root reads as "everything under these paths was deleted": check first.
    await this.checkRoots(store);
    const scope = topMost(paths);
    if (scope.includes(ROOT)) return (await this.syncTrees(store, await this.scanBoth(ROOT), options, started, undefined)).summary;
    this.setState('scanning');
    const trees: Record<Side, Tree> = { local: new Map(), remote: new Map() };
    for (const path of scope) {
      const part = await this.scanBoth(path);
      for (const side of ['local', 'remote'] as const) for (const [p, e] of part[side]) trees[side].set(p, e);
    }
    // Ancestors too, so that a new parent directory is created and recorded.
    const parents = new Set(scope.flatMap((p) => ancestors(p)));
    for (const dir of parents) {
      for (const side of ['local', 'remote'] as const) {
        if (trees[side].has(dir)) continue;
        const entry = await this.sides[side].stat(dir);
        if (entry) trees[side].set(dir, entry);
      }
    }
    // A lookup on a side that ignores case may have found a name stored under another case.
    await this.correctCaseViews(store, trees, [...scope, ...parents]);
    return (await this.syncTrees(store, trees, options, started, { roots: scope, parents })).summary;
  }

  /**
   * A one-way run takes its target to be as the snapshot recorded it. Where the target ignores case, a
   * new name may meet one stored there under another case since: that one goes into the target's tree
   * (see markStoredCase), so the engine sees the clash. True when there was one.
   */
  private async lookAtStoredCase(store: SnapshotStore, plan: Plan, trees: Record<Side, Tree>, direction: Direction): Promise<boolean> {
    const target: Side = direction === 'push' ? 'remote' : 'local';
    if (direction === 'bidi' || !this.caseFolding.sides[target]) return false;
    // A name the snapshot knows is in the view already, or outside a scoped plan's (which sees it there).
    const found = (await storedUnderOtherCase(this.sides[target], trees[target], outermostCreated(plan, target))).filter((f) => !store.base.has(f.stored));
    markStoredCase(trees[target], found);
    return found.length > 0;
  }

  /** Corrects the views of written-to, case-insensitive sides where a path the snapshot does not know was found under another case. */
  private async correctCaseViews(store: SnapshotStore, trees: Record<Side, Tree>, looked: readonly RelPath[]): Promise<void> {
    const written: Side[] = this.config.direction === 'push' ? ['remote'] : this.config.direction === 'pull' ? ['local'] : ['local', 'remote'];
    for (const side of written) {
      const unknown = looked.filter((p) => trees[side].has(p) && !store.base.has(p));
      if (unknown.length === 0 || !(await this.caseFolding.ignoresCase(side, this.sides[side]))) continue;
      markStoredCase(trees[side], await storedUnderOtherCase(this.sides[side], trees[side], unknown));
    }
  }

  /** Open conflicts recorded by the last run. */
  conflicts(): Promise<StoredConflict[]> {
    return this.withStore(async (store) => store.conflicts());
  }

  /**
   * Resolves a conflict by making both sides hold the chosen version: `local` or `remote`, or `both`
   * (the local version is renamed to `name.conflict-<peer>-<time>.ext` and both are synced).
   */
  resolve(path: RelPath, keep: 'local' | 'remote' | 'both'): Promise<SyncSummary> {
    return this.exclusive(() =>
      this.withStore(async (store) => {
        const started = Date.now();
        const conflict = store.conflicts().find((c) => c.path === path);
        if (!conflict) throw new SyncError('Usage', `no open conflict at '${path}' (run 'ssh-sync conflicts list' to see them)`, path);
        const steps: { path: RelPath; direction: Direction }[] = [];
        if (keep === 'both') {
          const local = await this.sides.local.stat(path);
          if (local && local.kind !== 'problem') {
            const copyPath = await this.freeConflictCopyPath(path);
            await this.sides.local.rename(path, copyPath, local);
            steps.push({ path: copyPath, direction: 'push' });
          }
          steps.push({ path, direction: 'pull' });
        } else {
          steps.push({ path, direction: keep === 'local' ? 'push' : 'pull' });
        }
        const outcomes: SyncSummary[] = [];
        for (const step of steps) {
          const trees = await this.scanBoth(step.path);
          outcomes.push((await this.syncTrees(store, trees, { force: true }, started, { roots: [step.path], parents: new Set() }, undefined, step.direction)).summary);
        }
        store.removeConflict(path);
        await store.save();
        return mergeSummaries(outcomes, Date.now() - started);
      }),
    );
  }

  // ---- one pass ---------------------------------------------------------------------------------------

  /**
   * Reconciles and carries out the plan for `trees`. With a `scope`, only paths within its roots (and
   * the roots' parents) are considered; other paths' base records and conflicts are left alone (the
   * reconciler is given neither them nor their entries, so it cannot take them for gone). A `settled`
   * scope's records outside it still serve as copy sources and taken names (see Settled).
   */
  private async syncTrees(
    store: SnapshotStore,
    trees: Record<Side, Tree>,
    options: RunOptions,
    started: number,
    scope: Scope | undefined,
    /** Called before anything is written, when there is something to write (connects a lazy peer). */
    beforeWrite?: () => Promise<void>,
    /** A resolution: this direction, the source winning. */
    resolving?: Direction,
    /**
     * The target was not scanned: an action refused because the target changed is not a failure but a
     * path to look at again (returned in `changed`).
     */
    targetUnscanned = false,
  ): Promise<{ summary: SyncSummary; changed: RelPath[] }> {
    this.setState('reconciling');
    const inScope = scopeTest(scope);
    const base = scope === undefined ? store.base : recordsWithin(store.base, inScope);
    const outside = scope?.settled ? recordsOutside(store.base, base) : undefined;
    const policyNow = (): ReconcilePolicy => (resolving ? { ...this.policy(), direction: resolving, overwrite: 'always', deletes: true } : this.policy());
    let policy = policyNow();
    let plan = await this.plan(base, trees, policy, outside);
    if (beforeWrite && plan.actions.length > 0 && !options.dryRun) {
      await beforeWrite();
      // The peer is connected now: what it can do (copies, cheap hashes) may change the plan.
      policy = policyNow();
      plan = await this.plan(base, trees, policy, outside);
    }
    // Until this run is folded in, the target may hold temp files or writes the snapshot does not know
    // (the case probe below writes one too): a one-way run after an interrupted one looks at the target
    // in full again. Marked before anything is written; a run that writes nothing after all unmarks.
    const markedHere = plan.actions.length > 0 && !options.dryRun && (await this.markInFlight());
    // Names differing only in case collide on a side that ignores case: the engine must know which do.
    if (plan.actions.length > 0 && !options.dryRun && (await this.caseFolding.learn(plan, this.sides))) {
      policy = policyNow();
      plan = await this.plan(base, trees, policy, outside);
    }
    if (targetUnscanned && !options.dryRun && (await this.lookAtStoredCase(store, plan, trees, policy.direction))) {
      plan = await this.plan(base, trees, policy, outside);
    }
    for (const p of plan.problems) this.emit({ type: 'problem', ...p });
    for (const c of plan.conflicts) this.emit({ type: 'conflict', conflict: c });
    for (const s of plan.skips) this.emit({ type: 'skip', skip: s });

    const files = scope === undefined ? undefined : store.countFiles();
    const sideFiles = files === undefined ? undefined : { local: files, remote: files };
    const verdict = options.force ? { halt: false } : guard(plan, trees, { maxDelete: this.config.maxDelete, sideFiles });
    const summary = (outcomes: ActionOutcome[], halted?: string): SyncSummary =>
      summarise(policy.direction, plan, outcomes, !!options.dryRun, halted, Date.now() - started);
    if (verdict.halt) {
      if (markedHere) await fs.rm(this.inFlightFile, { force: true });
      this.setState('halted');
      return { summary: summary([], `${verdict.reason}. Nothing was changed. Check both folders; run again with --force to go ahead.`), changed: [] };
    }
    if (options.dryRun) {
      for (const action of plan.actions) this.emit({ type: 'action', action, bytes: 0, dryRun: true });
      this.setState('idle');
      return { summary: summary([]), changed: [] };
    }
    if (plan.actions.length > 0) await this.register();

    this.setState('transferring');
    // (A plan made again after the mark was decided may have actions the first one had not.)
    if (plan.actions.length > 0) await this.markInFlight();
    let done = 0;
    let bytes = 0;
    const executeOptions: ExecutorOptions = {
      preserve: this.config.preserve,
      followSymlinks: this.config.symlinks === 'follow',
      // Over SSH, many transfers in flight hide the round trips (the helper's one stream takes many more
      // than SFTP's handles: 100,000 small files went ~23 -> ~17-21 s with 128); on one machine, the disk
      // is the limit.
      concurrency: this.config.concurrency ?? ({ local: 8, helper: 128 } as Record<string, number>)[this.sides.remote.tier] ?? 32,
      signal: options.signal,
      onOutcome: (o) => {
        done++;
        if (o.ok) {
          bytes += o.bytes;
          this.emit({ type: 'action', action: o.action, bytes: o.bytes });
        } else if (!(targetUnscanned && o.error.code === 'Changed')) {
          this.emit({ type: 'failed', action: o.action, error: o.error });
        }
        this.emit({ type: 'progress', done, total: plan.actions.length, bytes });
      },
    };
    // Renames first, and saved before anything else runs: the rest of the plan was decided in the world
    // after them, and a run killed after a rename must not find the renamed file unknown to the base.
    const renames = plan.actions.filter((a) => a.kind === 'rename');
    const renamed = await execute(renames, this.sides, executeOptions);
    if (renamed.length > 0) {
      store.batch(() => {
        for (const o of renamed) if (o.ok && o.moved) store.relocateBase(o.moved.from, o.moved.to);
      });
      await store.save({ index: false }); // the run's last save writes the index
    }
    const outcomes = [...renamed, ...(await execute(plan.actions.filter((a) => a.kind !== 'rename'), this.sides, executeOptions))];

    // Fold into the base only what happened.
    const racyAfter = started;
    const handled = new Set<RelPath>([...plan.agreements.keys(), ...plan.forgets, ...outcomes.flatMap((o) => (o.action.kind === 'rename' ? [o.action.path, o.action.from] : [o.action.path]))]);
    const scannedSides: Side[] = targetUnscanned ? [policy.direction === 'pull' ? 'remote' : 'local'] : ['local', 'remote'];
    store.batch(() => {
      for (const [path, record] of confirmedRacy(base, trees, scannedSides, handled, racyAfter)) store.setBase(path, record);
      for (const [path, record] of plan.agreements) store.setBase(path, markRacy(record, racyAfter));
      for (const path of plan.forgets) store.deleteBase(path);
      for (const o of outcomes) {
        if (!o.ok || o.moved) continue;
        if (o.record) store.setBase(o.action.path, markRacy(o.record, racyAfter));
        else if (o.forget) store.deleteBase(o.action.path);
      }
      if (scope === undefined) store.replaceConflicts(plan.conflicts, Date.now());
      else store.replaceConflictsWhere(inScope, plan.conflicts, Date.now());
      const tier = { local: this.sides.local.tier, remote: this.sides.remote.tier };
      const failed = outcomes.filter((o) => !o.ok).length;
      store.setMeta('lastRun', { at: Date.now(), direction: policy.direction, conflicts: plan.conflicts.length, failed, tier });
    });
    await store.save();
    // A clean finish: the snapshot knows all that was written. (Failures may have left temp files.)
    if ((plan.actions.length > 0 || markedHere) && outcomes.every((o) => o.ok) && !options.signal?.aborted) await fs.rm(this.inFlightFile, { force: true });
    this.setState('idle');
    const changed = targetUnscanned ? outcomes.filter((o) => !o.ok && o.error.code === 'Changed').map((o) => o.action.path) : [];
    const result = summary(outcomes.filter((o) => o.ok || !changed.includes(o.action.path)));
    this.emit({ type: 'done', summary: result });
    return { summary: result, changed };
  }

  /** Reconciles, hashing what the decision needs and trying again, a few rounds at most. */
  private async plan(base: Map<RelPath, BaseRecord>, trees: Record<Side, Tree>, policy: ReconcilePolicy, outside?: Settled): Promise<Plan> {
    let plan = reconcile(base, trees.local, trees.remote, policy, outside);
    for (let round = 0; round < MAX_HASH_ROUNDS && plan.hashRequests.length > 0; round++) {
      const hashOne = async ({ path, side }: { path: RelPath; side: Side }) => {
        const entry = trees[side].get(path);
        if (entry?.kind !== 'file') return;
        try {
          trees[side].set(path, { ...entry, hash: await this.sides[side].hash(path) });
        } catch (err) {
          trees[side].set(path, { kind: 'problem', message: (err as Error).message });
        }
      };
      // A remote helper, and a local folder, hash in batches of whatever is asked at once: ask for many
      // at a time there (SFTP reads each file over the link: a few at a time).
      const inFlight = (side: Side) => ({ helper: 32768, local: 4096 })[this.sides[side].tier as string] ?? 8;
      await Promise.all((['local', 'remote'] as const).map((side) => runLimited(plan.hashRequests.filter((h) => h.side === side), inFlight(side), hashOne)));
      plan = reconcile(base, trees.local, trees.remote, policy, outside);
    }
    return plan;
  }

  private async scanBoth(under: RelPath, given?: ScanOptions): Promise<Record<Side, Tree>> {
    const options = given ?? { filter: this.filter, symlinks: this.config.symlinks, under };
    const [local, remote] = await Promise.all([this.sides.local.scan(options), this.sides.remote.scan(options)]);
    return { local, remote };
  }

  private policy(): ReconcilePolicy {
    const c = this.config;
    return {
      direction: c.direction,
      overwrite: c.overwrite,
      deletes: c.deletes,
      preserve: c.preserve,
      isExcluded: (path, isDir) => this.filter.excludes(path, isDir),
      mtimeToleranceMs: Math.max(this.sides.local.mtimeToleranceMs, this.sides.remote.mtimeToleranceMs),
      copyWithin: { local: !!this.sides.local.copyWithin, remote: !!this.sides.remote.copyWithin },
      // Hashing costs a read where the data is; over plain SFTP that is a whole download.
      cheapHash: { local: this.sides.local.tier !== 'sftp', remote: this.sides.remote.tier !== 'sftp' },
      caseInsensitive: this.caseFolding.sides,
    };
  }

  private async withStore<T>(fn: (store: SnapshotStore) => Promise<T>): Promise<T> {
    if (this.heldStore) return this.failing(() => fn(this.heldStore!));
    const store = await this.openStore();
    try {
      return await this.failing(() => fn(store));
    } finally {
      store.close();
    }
  }

  /** Errors leave the session in the error state and are reported, then rethrown to the caller. */
  private async failing<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.setState('error');
      throw err;
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async dropSnapshot(): Promise<void> {
    const held = this.heldStore;
    if (held) {
      held.close();
      this.heldStore = undefined;
    }
    // The snapshot and what is kept beside it (its digest, the time of the last run with nothing to do).
    for (const file of [this.snapshotFile, digestFile(this.snapshotFile), journalFile(this.snapshotFile), quietRunFile(this.snapshotFile)]) await fs.rm(file, { force: true });
    if (held) this.heldStore = await this.openStore();
  }

  private async openStore(): Promise<SnapshotStore> {
    const { store, warning } = await SnapshotStore.open(this.snapshotFile);
    if (warning) this.emit({ type: 'warning', message: warning });
    const meta = store.getMeta<SessionMeta>('session');
    if (meta && (meta.localRoot !== this.config.localRoot || meta.peer !== this.config.peer)) {
      store.close();
      throw new SyncError(
        'SnapshotMismatch',
        `the session '${this.config.name ?? this.snapshotFile}' belongs to ${meta.localRoot} <-> ${meta.peer}, not ${this.config.localRoot} <-> ${this.config.peer}; choose another --name`,
      );
    }
    if (!meta) store.setMeta('session', { localRoot: this.config.localRoot, peer: this.config.peer, name: this.config.name } satisfies SessionMeta);
    store.setMeta('config', { direction: this.config.direction, overwrite: this.config.overwrite, deletes: this.config.deletes, symlinks: this.config.symlinks, preserve: this.config.preserve, filters: this.config.filters });
    return store;
  }

  /**
   * A missing local root is an error. A missing peer root is created on a first run; once a snapshot
   * exists it means the folder was removed or unmounted, and the run halts rather than delete.
   */
  private async checkLocalRoot(): Promise<void> {
    if (!(await this.sides.local.rootExists())) {
      throw new SyncError('NotFound', `the local folder ${this.config.localRoot} does not exist or is not a directory`);
    }
  }

  /** Checks both roots, creating a missing peer root on a first run: true when this call made it. */
  private async checkRoots(store: SnapshotStore): Promise<boolean> {
    await this.checkLocalRoot();
    if (await this.sides.remote.rootExists()) return false;
    if (store.base.size > 0) {
      throw new SyncError('Halted', `the peer folder ${this.config.peer} is missing although it was synced before (removed or unmounted?); nothing was changed. Restore it, or run with --rescan to start over`);
    }
    return this.sides.remote.createRoot();
  }

  /** `name.conflict-<peer>-<time>.ext`, or with `-2`, `-3`… when that is taken on either side. */
  private async freeConflictCopyPath(path: RelPath): Promise<RelPath> {
    const when = new Date();
    for (let n = 1; n <= 1000; n++) {
      const candidate = join(parentOf(path), conflictCopyName(baseName(path), this.peerLabel(), when, n));
      const [l, r] = await Promise.all([this.sides.local.stat(candidate), this.sides.remote.stat(candidate)]);
      // A path that cannot be looked at (its parent is a file on that side, say) holds nothing either;
      // the rename below still refuses any name that turns out to be taken.
      if (!isSyncable(l) && !isSyncable(r)) return candidate;
    }
    throw new SyncError('Io', `cannot find a free name for the local copy of ${path}; rename it by hand and resolve again`, path);
  }

  /** Records this session in the roots' loop markers, refusing one that would close a loop. */
  private async register(): Promise<void> {
    if (this.registered) return;
    await registerSession(this.sessionId(), this.config.direction, this.sides.local, this.sides.remote);
    this.registered = true;
  }

  /** Stable for one snapshot on one machine: names this session in the roots' markers. */
  private sessionId(): string {
    return createHash('sha256').update(`${os.hostname()}\n${this.snapshotFile}`).digest('hex').slice(0, 16);
  }

  private peerLabel(): string {
    const host = /^(?:ssh:\/\/)?(?:[^@/]+@)?([^:/]+):/.exec(this.config.peer)?.[1];
    const label = host ?? baseName(this.config.peer.replace(/\/+$/, ''));
    return label.replace(/[^A-Za-z0-9._-]/g, '_') || 'peer';
  }

  private setState(state: SessionState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.emit({ type: 'state', state });
  }

  private emit(event: SyncEvent): void {
    this.emitter.emit('event', event);
  }
}

/** Whether an mtime is too close to a scan to tell a later edit in the same clock tick. */
function tooClose(mtimeMs: number, scanStarted: number): boolean {
  return mtimeMs >= scanStarted - (mtimeMs % 1000 === 0 ? RACY_WINDOW_COARSE_MS : RACY_WINDOW_FINE_MS);
}

function racyValue(local: boolean, remote: boolean): BaseRecord['racy'] {
  return local && remote ? true : local ? 'local' : remote ? 'remote' : undefined;
}

function markRacy(record: BaseRecord, scanStarted: number): BaseRecord {
  const local = record.kind === 'file' && tooClose(record.local.mtimeMs, scanStarted);
  const remote = record.kind === 'file' && tooClose(record.remote.mtimeMs, scanStarted);
  const racy = racyValue(local, remote);
  return racy === record.racy ? record : { ...record, racy };
}

/**
 * Racy records this run confirmed: a side scanned now (`sides`), holding the recorded fingerprint, was
 * hashed and holds the agreed content. Such a side is racy no more once its mtime is outside the window
 * of this run's scan (an edit from now on gets another mtime); without this, it was hashed on every run
 * for good. A side not read this run (a one-way run's target) stays as it was. Paths the plan handled
 * (`handled`) are folded in with the rest.
 */
function confirmedRacy(base: ReadonlyMap<RelPath, BaseRecord>, trees: Record<Side, Tree>, sides: readonly Side[], handled: ReadonlySet<RelPath>, scanStarted: number): [RelPath, BaseRecord][] {
  const confirmed = new Map<RelPath, Set<Side>>();
  for (const side of sides) {
    for (const [path, entry] of trees[side]) {
      if (entry.kind !== 'file' || entry.hash === undefined || handled.has(path)) continue;
      const record = base.get(path);
      if (!record || record.kind !== 'file' || !isRacy(record, side) || record.hash !== entry.hash || !sameFingerprint(record[side], entry)) continue;
      let set = confirmed.get(path);
      if (!set) confirmed.set(path, (set = new Set()));
      set.add(side);
    }
  }
  const out: [RelPath, BaseRecord][] = [];
  for (const [path, read] of confirmed) {
    const record = base.get(path) as BaseRecord;
    const still = (side: Side) => isRacy(record, side) && (!read.has(side) || tooClose(record[side].mtimeMs, scanStarted));
    const racy = racyValue(still('local'), still('remote'));
    if (racy !== record.racy) out.push([path, { ...record, racy }]);
  }
  return out;
}

/** A side as the snapshot last saw it (one-way runs take the target to be unchanged). */
function recordedTree(store: SnapshotStore, side: Side, within: (p: RelPath) => boolean = () => true): Tree {
  const tree: Tree = new Map();
  // With the recorded hash: what was never looked at is never "confirmed by hash" against itself.
  for (const path of store.base.keys()) {
    if (!within(path)) continue;
    const record = store.base.get(path) as BaseRecord;
    tree.set(path, record[side].kind === 'file' && record.hash ? { ...record[side], hash: record.hash } : record[side]);
  }
  return tree;
}

/** Whether a path lies within a scope (its roots, what is under them, and their parents). */
function scopeTest(scope: Scope | undefined): (p: RelPath) => boolean {
  if (scope === undefined || scope.roots.includes(ROOT)) return () => true;
  const roots = new Set(scope.roots);
  return (p) => scope.parents.has(p) || roots.has(p) || ancestors(p).some((a) => roots.has(a));
}

function subtree(tree: Tree, within: (p: RelPath) => boolean): Tree {
  const out: Tree = new Map();
  for (const [path, entry] of tree) if (within(path)) out.set(path, entry);
  return out;
}

/** More changed paths than this: the whole tree is reconciled (listing them costs more than it saves). */
const NARROW_MAX_PATHS = 1000;

interface Scope {
  readonly roots: readonly RelPath[];
  readonly parents: ReadonlySet<RelPath>;
  /**
   * Every path outside the scope was found unchanged since the snapshot (by narrow(); a watcher's or an
   * editor's list of paths says nothing of the others), so its record holds for both sides there.
   */
  readonly settled?: boolean;
}

/** The snapshot's records outside a scope: those of `all` that `inside` leaves out (computed when asked, not held). */
function recordsOutside(all: ReadonlyMap<RelPath, BaseRecord>, inside: ReadonlyMap<RelPath, BaseRecord>): Settled {
  return {
    *[Symbol.iterator]() {
      for (const entry of all) if (!inside.has(entry[0])) yield entry;
    },
  };
}

/** The outermost of these paths: 'a' covers 'a/b'. */
function topMost(paths: readonly RelPath[]): RelPath[] {
  const sorted = [...new Set(paths)].sort(compareParentFirst);
  const out: RelPath[] = [];
  for (const p of sorted) if (!out.some((o) => isWithin(p, o))) out.push(p);
  return out;
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

/** The base records within a scope, looked up by key (a record outside is never built: see ColumnarBase). */
function recordsWithin(base: ReadonlyMap<RelPath, BaseRecord>, within: (p: RelPath) => boolean): Map<RelPath, BaseRecord> {
  const out = new Map<RelPath, BaseRecord>();
  for (const path of base.keys()) if (within(path)) out.set(path, base.get(path) as BaseRecord);
  return out;
}

function summarise(direction: string, plan: Plan, outcomes: ActionOutcome[], dryRun: boolean, halted: string | undefined, durationMs: number): SyncSummary {
  const ok = outcomes.filter((o) => o.ok);
  const count = (kind: string) => (dryRun ? plan.actions : ok.map((o) => o.action)).filter((a) => a.kind === kind).length;
  return {
    direction,
    copied: count('copy'),
    renamed: count('rename'),
    deleted: (dryRun ? plan.actions : ok.map((o) => o.action)).filter((a) => a.kind === 'delete' && !a.replaced).length,
    dirsCreated: count('mkdir'),
    metadata: count('setmeta'),
    adopted: plan.agreements.size,
    bytes: ok.reduce((n, o) => n + (o.ok ? o.bytes : 0), 0),
    conflicts: plan.conflicts.length,
    skipped: plan.skips.length,
    problems: plan.problems.length,
    failed: outcomes.length - ok.length,
    dryRun,
    halted,
    durationMs,
  };
}

function mergeSummaries(list: SyncSummary[], durationMs: number): SyncSummary {
  const sum = (k: keyof SyncSummary) => list.reduce((n, s) => n + (s[k] as number), 0);
  return {
    direction: list.map((s) => s.direction).join('+'),
    copied: sum('copied'),
    renamed: sum('renamed'),
    deleted: sum('deleted'),
    dirsCreated: sum('dirsCreated'),
    metadata: sum('metadata'),
    adopted: sum('adopted'),
    bytes: sum('bytes'),
    conflicts: sum('conflicts'),
    skipped: sum('skipped'),
    problems: sum('problems'),
    failed: sum('failed'),
    dryRun: false,
    halted: list.find((s) => s.halted)?.halted,
    durationMs,
  };
}

async function runLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
