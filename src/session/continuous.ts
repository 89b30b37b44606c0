import { EventEmitter } from 'node:events';
import type { RelPath } from '../engine/path';
import type { Side } from '../engine/policy';
import { SyncError } from '../errors';
import type { Replica, Watcher } from '../replica/replica';
import type { SyncSummary } from './events';
import type { SyncSession } from './syncSession';

/**
 * Quiet time after a change before it is synced. An editor's save is a burst of events within a
 * millisecond or two; 30 ms covers it with room to spare while keeping save-to-peer latency low. A file
 * still being written when it is sent is caught anyway: the copy re-checks the source after reading it
 * and the target before replacing it, and a refused copy is simply retried.
 */
export const DEFAULT_COOLOFF_MS = 30;

export interface ContinuousOptions {
  /** 'continuous': watch both sides and sync each change; 'interval': a full run every intervalSeconds. */
  readonly mode: 'continuous' | 'interval';
  readonly intervalSeconds?: number;
  /** Quiet time after the last change before a sync starts (editors write in bursts). */
  readonly cooloffMs?: number;
  /** Where a side has no change events, how often it is listed. */
  readonly remotePollSeconds?: number;
  /** Reopens the remote side after a lost connection; without it a lost connection stops the session. */
  readonly reconnect?: () => Promise<Replica>;
}

export interface LiveStatus {
  readonly running: boolean;
  /** Paths changed and waiting for the next sync. */
  readonly queued: number;
  readonly watch: Partial<Record<Side, Watcher['method']>>;
  readonly lastSync?: { readonly at: number; readonly summary: SyncSummary };
  readonly lastError?: { readonly at: number; readonly message: string; readonly code?: string };
  readonly reconnecting: boolean;
}

/** More dirty paths than this are synced by one full run, not path by path (branch switches). */
const BULK_THRESHOLD = 2000;
/** A stream of changes still syncs at least this often. */
const MAX_DELAY_MS = 1000;
/**
 * A path gone from the local side may be the first half of a rename whose other half (the new name) is
 * still on its way from the watcher: a small batch holding one waits this long after its last event,
 * so that the rename is carried out as one (not as a delete and a copy). Saves are not delayed.
 */
const RENAME_PAIR_MS = 150;
/** Batches larger than this are not checked for a pending rename half. */
const RENAME_PAIR_MAX_PATHS = 64;
const ERROR_RETRY_MS = 5000;

/**
 * Keeps a session live: an initial full sync, then each change found by the watchers is synced after
 * a short cool-off — only the changed paths, never a full rescan per event. Lost events ('overflow',
 * watcher errors) fall back to a full run; a lost connection is retried with backoff and followed by a
 * full run. Runs never overlap (the session queues them).
 */
export class ContinuousRunner {
  private readonly emitter = new EventEmitter();
  private readonly dirty = new Set<RelPath>();
  private fullPending = false;
  private timer: NodeJS.Timeout | undefined;
  private firstDirtyAt = 0;
  private lastDirtyAt = 0;
  /** After a failed sync, the next one waits until then. */
  private retryAt = 0;
  private flushing: Promise<void> | undefined;
  private readonly watchers: Partial<Record<Side, Watcher>> = {};
  private readonly abort = new AbortController();
  private stopped = false;
  private statusValue: LiveStatus = { running: false, queued: 0, watch: {}, reconnecting: false };

  /** Paths whose sync was refused because they changed under it: tried again after the cool-off. */
  private readonly changedUnderway = new Set<RelPath>();

  constructor(
    readonly session: SyncSession,
    private readonly options: ContinuousOptions,
  ) {
    // A file still being written when it was copied is refused ('Changed'); its last write event may
    // already have been delivered (or coalesced), so it is not left to the next event to retry.
    session.onEvent((e) => {
      if (e.type === 'failed' && e.error.code === 'Changed') this.changedUnderway.add(e.action.path);
    });
  }

  get status(): LiveStatus {
    return this.statusValue;
  }

  onStatus(listener: (status: LiveStatus) => void): () => void {
    this.emitter.on('status', listener);
    return () => this.emitter.off('status', listener);
  }

  /** The initial sync; then the session stays live until stop(). */
  async start(): Promise<SyncSummary> {
    await this.session.open();
    this.update({ running: true });
    const first = await this.session.run({ signal: this.abort.signal });
    this.recordSync(first);
    if (this.options.mode === 'interval') this.scheduleInterval();
    else await this.startWatchers();
    return first;
  }

  /** Stops watching; the run in flight finishes its current actions, and the snapshot is saved. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    await Promise.all(Object.values(this.watchers).map((w) => w?.close()));
    await this.flushing;
    await this.session.close();
    this.update({ running: false, queued: 0 });
  }

  /** Paths reported changed from outside the watchers (an editor save): synced after the cool-off. */
  notify(paths: readonly RelPath[]): void {
    this.markDirty(paths);
  }

  // ---- watching -----------------------------------------------------------------------------------

  private watchedSides(): Side[] {
    const d = this.session.config.direction;
    return d === 'push' ? ['local'] : d === 'pull' ? ['remote'] : ['local', 'remote'];
  }

  private async startWatchers(): Promise<void> {
    for (const side of this.watchedSides()) await this.startWatcher(side);
  }

  private async startWatcher(side: Side): Promise<void> {
    const watcher = await this.session.sides[side].watch(
      { filter: this.session.filter, pollSeconds: this.options.remotePollSeconds ?? 5 },
      {
        onChange: (paths) => (paths === 'overflow' ? this.markFull() : this.markDirty(paths)),
        onError: (err) => this.recordError(err),
      },
    );
    if (this.stopped) return void (await watcher.close());
    this.watchers[side] = watcher;
    this.update({ watch: { ...this.statusValue.watch, [side]: watcher.method } });
  }

  private markDirty(paths: readonly RelPath[]): void {
    if (this.stopped) return;
    if (this.dirty.size === 0) this.firstDirtyAt = Date.now();
    this.lastDirtyAt = Date.now();
    for (const p of paths) this.dirty.add(p);
    this.update({ queued: this.dirty.size });
    this.schedule();
  }

  private markFull(): void {
    this.fullPending = true;
    this.markDirty([]);
  }

  private schedule(): void {
    if (this.stopped || this.options.mode === 'interval') return;
    if (this.timer) clearTimeout(this.timer);
    const cooloff = this.options.cooloffMs ?? DEFAULT_COOLOFF_MS;
    const wait = Math.max(Math.min(cooloff, Math.max(0, this.firstDirtyAt + MAX_DELAY_MS - Date.now())), this.retryAt - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, wait);
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.stopped) return;
    if (this.dirty.size === 0 && !this.fullPending) return;
    if (await this.renameHalfPending()) return;
    if (this.flushing || this.stopped) return;
    const paths = [...this.dirty];
    const full = this.fullPending || paths.length > BULK_THRESHOLD;
    this.dirty.clear();
    this.fullPending = false;
    this.update({ queued: 0 });
    this.flushing = (async () => {
      try {
        const summary = full ? await this.session.run({ signal: this.abort.signal }) : await this.session.syncPaths(paths);
        this.recordSync(summary);
      } catch (err) {
        this.recordError(err as Error);
        if ((err as SyncError).code === 'ConnectionLost') await this.reconnect();
        else if (!this.stopped) {
          // Retried, but not in a hot loop: a session-level failure (a missing root, say) waits.
          for (const p of paths) this.dirty.add(p);
          this.fullPending ||= full;
          this.retryAt = Date.now() + ERROR_RETRY_MS;
        }
      }
    })();
    await this.flushing;
    this.flushing = undefined;
    if (this.changedUnderway.size > 0 && !this.stopped) {
      this.markDirty([...this.changedUnderway]);
      this.changedUnderway.clear();
    }
    if (this.dirty.size > 0 || this.fullPending) this.schedule();
  }

  /** True (and the flush put off) while a small batch with a locally gone path may still get its pair. */
  private async renameHalfPending(): Promise<boolean> {
    if (this.fullPending || this.dirty.size > RENAME_PAIR_MAX_PATHS || !this.watchedSides().includes('local')) return false;
    if (this.lastDirtyAt + RENAME_PAIR_MS <= Date.now()) return false;
    const local = this.session.sides.local;
    const gone = await Promise.all([...this.dirty].map((p) => local.stat(p).then((e) => e === undefined, () => false)));
    if (!gone.some(Boolean) || this.stopped) return false;
    // New events meanwhile set their own timer; else wait out the rest of the pairing time.
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, Math.max(0, this.lastDirtyAt + RENAME_PAIR_MS - Date.now()));
    }
    return true;
  }

  private scheduleInterval(): void {
    const seconds = this.options.intervalSeconds ?? 60;
    this.timer = setTimeout(async () => {
      if (this.stopped) return;
      this.flushing = this.session
        .run({ signal: this.abort.signal })
        .then((s) => this.recordSync(s))
        .catch(async (err) => {
          this.recordError(err as Error);
          if ((err as SyncError).code === 'ConnectionLost') await this.reconnect();
        });
      await this.flushing;
      this.flushing = undefined;
      if (!this.stopped) this.scheduleInterval();
    }, seconds * 1000);
  }

  /** Reopens the remote with backoff (1 s doubling to 30 s), then asks for a full run. */
  private async reconnect(): Promise<void> {
    const reopen = this.options.reconnect;
    if (!reopen) return;
    this.update({ reconnecting: true });
    await this.watchers.remote?.close().catch(() => undefined);
    delete this.watchers.remote;
    for (let delay = 1000; !this.stopped; delay = Math.min(delay * 2, 30_000)) {
      await new Promise((r) => setTimeout(r, delay));
      if (this.stopped) return;
      try {
        const remote = await reopen();
        await this.session.sides.remote.close().catch(() => undefined);
        this.session.replaceRemote(remote);
        if (this.options.mode === 'continuous' && this.watchedSides().includes('remote')) await this.startWatcher('remote');
        this.update({ reconnecting: false });
        this.markFull();
        return;
      } catch (err) {
        this.recordError(err as Error);
      }
    }
  }

  private recordSync(summary: SyncSummary): void {
    this.update({ lastSync: { at: Date.now(), summary } });
  }

  private recordError(err: Error): void {
    this.update({ lastError: { at: Date.now(), message: err.message, code: (err as SyncError).code } });
  }

  private update(patch: Partial<LiveStatus>): void {
    this.statusValue = { ...this.statusValue, ...patch };
    this.emitter.emit('status', this.statusValue);
  }
}
