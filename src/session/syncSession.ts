import { promises as fs } from 'node:fs';
import { EventEmitter } from 'node:events';
import type { BaseRecord } from '../engine/base';
import type { Tree } from '../engine/entry';
import { Filter } from '../engine/filter';
import { guard } from '../engine/guard';
import { baseName, isWithin, join, parentOf, ROOT, type RelPath } from '../engine/path';
import type { Plan } from '../engine/plan';
import type { Direction, ReconcilePolicy, Side } from '../engine/policy';
import { reconcile } from '../engine/reconcile';
import { SyncError } from '../errors';
import type { Replica } from '../replica/replica';
import { SnapshotStore, type StoredConflict } from '../store/snapshotStore';
import type { RunOptions, SessionConfig } from './config';
import type { SessionState, SyncEvent, SyncSummary } from './events';
import { execute, type ActionOutcome } from './executor';
import { conflictCopyName } from './conflictName';
import { snapshotFile } from './stateFile';

/** A record whose mtime is this close to the scan is confirmed by hash next time ("racy git"). */
const RACY_WINDOW_MS = 2000;
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
  private readonly filter: Filter;
  private stateValue: SessionState = 'idle';

  constructor(
    readonly config: SessionConfig,
    private readonly sides: Record<Side, Replica>,
  ) {
    this.filter = new Filter(config.filters);
  }

  get state(): SessionState {
    return this.stateValue;
  }

  get snapshotFile(): string {
    return snapshotFile(this.config.stateDir, this.config.localRoot, this.config.peer, this.config.name);
  }

  onEvent(listener: (event: SyncEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  /** One complete sync of the whole root. */
  async run(options: RunOptions = {}): Promise<SyncSummary> {
    const started = Date.now();
    if (options.rescan) await dropSnapshot(this.snapshotFile);
    const store = await this.openStore();
    try {
      await this.checkRoots(store);
      this.setState('scanning');
      const trees = await this.scanBoth(ROOT);
      const summary = await this.syncTrees(store, trees, this.policy(), options, started, undefined);
      return summary;
    } catch (err) {
      this.setState('error');
      throw err;
    } finally {
      store.close();
    }
  }

  /** Open conflicts recorded by the last run. */
  async conflicts(): Promise<StoredConflict[]> {
    const store = await this.openStore();
    try {
      return store.conflicts();
    } finally {
      store.close();
    }
  }

  /**
   * Resolves a conflict by making both sides hold the chosen version: `local` or `remote`, or `both`
   * (the local version is renamed to `name.conflict-<peer>-<time>.ext` and both are synced).
   */
  async resolve(path: RelPath, keep: 'local' | 'remote' | 'both'): Promise<SyncSummary> {
    const started = Date.now();
    const store = await this.openStore();
    try {
      const conflict = store.conflicts().find((c) => c.path === path);
      if (!conflict) throw new SyncError('Usage', `no open conflict at '${path}' (run 'ssh-sync conflicts list' to see them)`, path);
      const paths: { path: RelPath; direction: Direction }[] = [];
      if (keep === 'both') {
        const local = await this.sides.local.stat(path);
        if (local && local.kind !== 'problem') {
          const copyPath = join(parentOf(path), conflictCopyName(baseName(path), this.peerLabel(), new Date()));
          await this.sides.local.rename(path, copyPath, local);
          paths.push({ path: copyPath, direction: 'push' });
        }
        paths.push({ path, direction: 'pull' });
      } else {
        paths.push({ path, direction: keep === 'local' ? 'push' : 'pull' });
      }
      const outcomes: SyncSummary[] = [];
      for (const p of paths) {
        const trees = await this.scanBoth(p.path);
        const policy: ReconcilePolicy = { ...this.policy(), direction: p.direction, overwrite: 'always', deletes: true };
        outcomes.push(await this.syncTrees(store, trees, policy, { force: true }, started, p.path));
      }
      store.removeConflict(path);
      await store.save();
      return mergeSummaries(outcomes, Date.now() - started);
    } finally {
      store.close();
    }
  }

  // ---- one pass ---------------------------------------------------------------------------------------

  /**
   * Reconciles and carries out the plan for `trees`. With `under`, only that subtree is considered and
   * other paths' base records and conflicts are left alone.
   */
  private async syncTrees(store: SnapshotStore, trees: Record<Side, Tree>, policy: ReconcilePolicy, options: RunOptions, started: number, under: RelPath | undefined): Promise<SyncSummary> {
    this.setState('reconciling');
    const base = under === undefined ? store.base : new Map([...store.base].filter(([p]) => isWithin(p, under)));
    const plan = await this.plan(base, trees, policy);
    for (const p of plan.problems) this.emit({ type: 'problem', ...p });
    for (const c of plan.conflicts) this.emit({ type: 'conflict', conflict: c });
    for (const s of plan.skips) this.emit({ type: 'skip', skip: s });

    const verdict = options.force ? { halt: false } : guard(plan, trees, { maxDelete: this.config.maxDelete });
    const summary = (outcomes: ActionOutcome[], halted?: string): SyncSummary =>
      summarise(policy.direction, plan, outcomes, !!options.dryRun, halted, Date.now() - started);
    if (verdict.halt) {
      this.setState('halted');
      return summary([], `${verdict.reason}. Nothing was changed. Check both folders; run again with --force to go ahead.`);
    }
    if (options.dryRun) {
      for (const action of plan.actions) this.emit({ type: 'action', action, bytes: 0, dryRun: true });
      this.setState('idle');
      return summary([]);
    }

    this.setState('transferring');
    let done = 0;
    let bytes = 0;
    const outcomes = await execute(plan.actions, this.sides, {
      preserve: this.config.preserve,
      followSymlinks: this.config.symlinks === 'follow',
      concurrency: this.config.concurrency ?? 8,
      onOutcome: (o) => {
        done++;
        if (o.ok) {
          bytes += o.bytes;
          this.emit({ type: 'action', action: o.action, bytes: o.bytes });
        } else {
          this.emit({ type: 'failed', action: o.action, error: o.error });
        }
        this.emit({ type: 'progress', done, total: plan.actions.length, bytes });
      },
    });

    // Fold into the base only what happened.
    const racyAfter = started - RACY_WINDOW_MS;
    store.batch(() => {
      // Renames first: the rest of the plan was decided in the world after them.
      for (const o of outcomes) if (o.ok && o.moved) store.relocateBase(o.moved.from, o.moved.to);
      for (const [path, record] of plan.agreements) store.setBase(path, markRacy(record, racyAfter));
      for (const path of plan.forgets) store.deleteBase(path);
      for (const o of outcomes) {
        if (!o.ok || o.moved) continue;
        if (o.record) store.setBase(o.action.path, markRacy(o.record, racyAfter));
        else if (o.forget) store.deleteBase(o.action.path);
      }
      if (under === undefined) store.replaceConflicts(plan.conflicts, Date.now());
      store.setMeta('lastRun', { at: Date.now(), direction: policy.direction, conflicts: plan.conflicts.length, failed: outcomes.filter((o) => !o.ok).length });
    });
    await store.save();
    this.setState('idle');
    return summary(outcomes);
  }

  /** Reconciles, hashing what the decision needs and trying again, a few rounds at most. */
  private async plan(base: Map<RelPath, BaseRecord>, trees: Record<Side, Tree>, policy: ReconcilePolicy): Promise<Plan> {
    let plan = reconcile(base, trees.local, trees.remote, policy);
    for (let round = 0; round < MAX_HASH_ROUNDS && plan.hashRequests.length > 0; round++) {
      await runLimited(plan.hashRequests, 8, async ({ path, side }) => {
        const entry = trees[side].get(path);
        if (entry?.kind !== 'file') return;
        try {
          trees[side].set(path, { ...entry, hash: await this.sides[side].hash(path) });
        } catch (err) {
          trees[side].set(path, { kind: 'problem', message: (err as Error).message });
        }
      });
      plan = reconcile(base, trees.local, trees.remote, policy);
    }
    return plan;
  }

  private async scanBoth(under: RelPath): Promise<Record<Side, Tree>> {
    const options = { filter: this.filter, symlinks: this.config.symlinks, under };
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
    };
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
  private async checkRoots(store: SnapshotStore): Promise<void> {
    if (!(await this.sides.local.rootExists())) {
      throw new SyncError('NotFound', `the local folder ${this.config.localRoot} does not exist or is not a directory`);
    }
    if (await this.sides.remote.rootExists()) return;
    if (store.base.size > 0) {
      throw new SyncError('Halted', `the peer folder ${this.config.peer} is missing although it was synced before (removed or unmounted?); nothing was changed. Restore it, or run with --rescan to start over`);
    }
    await this.sides.remote.createRoot();
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

function markRacy(record: BaseRecord, after: number): BaseRecord {
  const racy = record.kind === 'file' && (record.local.mtimeMs >= after || record.remote.mtimeMs >= after);
  return racy === !!record.racy ? record : { ...record, racy: racy || undefined };
}

async function dropSnapshot(file: string): Promise<void> {
  await fs.rm(file, { force: true });
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
