import type { Readable } from 'node:stream';
import * as vscode from 'vscode';
import type { Entry } from '../engine/entry';
import type { RelPath } from '../engine/path';
import type { Action } from '../engine/plan';
import type { Direction } from '../engine/policy';
import type { SyncError } from '../errors';
import { LocalReplica } from '../replica/local/localReplica';
import type { Replica } from '../replica/replica';
import { ContinuousRunner } from '../session/continuous';
import type { SessionState, SyncEvent, SyncSummary } from '../session/events';
import { SyncSession } from '../session/syncSession';
import type { StoredConflict } from '../store/snapshotStore';
import type { PeerConnector } from './connector';
import type { SessionSpec } from './settings';

/** What every surface renders for one session. Immutable: a change is a new object and an event. */
export interface SessionView {
  readonly id: string;
  readonly label: string;
  readonly folderName: string;
  readonly address: string;
  readonly direction: Direction;
  readonly mode: SessionSpec['mode'];
  /** What it is doing now, for the status bar. */
  readonly activity: 'idle' | 'connecting' | 'syncing' | 'watching' | 'reconnecting' | 'halted' | 'error';
  /** The engine's own state. */
  readonly engineState: SessionState;
  /** A continuous or interval runner is live. */
  readonly live: false | 'continuous' | 'interval';
  readonly progress?: { readonly done: number; readonly total: number; readonly bytes: number };
  readonly conflicts: readonly StoredConflict[];
  readonly lastSync?: { readonly at: number; readonly summary: SyncSummary };
  readonly lastError?: { readonly at: number; readonly message: string; readonly code?: string };
  readonly halted?: string;
  /** How the peer is reached: local, helper or sftp; undefined before the first connection. */
  readonly tier?: string;
  /** Increases with every session object created: a restart shows as a new generation. */
  readonly generation: number;
}

let generations = 0;

/**
 * One configured session of one workspace folder, kept alive while its settings stay the same. It
 * owns the peer connection (opened on first use and reused), the engine session, and, in continuous or
 * interval mode, the runner. Every operation goes through `operate`, which keeps the view up to date
 * and turns failures into `lastError` before rethrowing them to the command that asked.
 */
export class LiveSession implements vscode.Disposable {
  private readonly _onDidChange = new vscode.EventEmitter<SessionView>();
  readonly onDidChange = this._onDidChange.event;
  private viewValue: SessionView;
  private readonly local: LocalReplica;
  private session: SyncSession | undefined;
  private opening: Promise<SyncSession> | undefined;
  private runner: ContinuousRunner | undefined;
  /** The runner's initial sync is done and its watchers are ready. */
  private runnerReady = false;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private busy = 0;

  constructor(
    readonly spec: SessionSpec,
    private readonly connector: PeerConnector,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.local = new LocalReplica(spec.config.localRoot);
    this.viewValue = {
      id: spec.id,
      label: spec.label,
      folderName: spec.folder.name,
      address: spec.address,
      direction: spec.config.direction,
      mode: spec.mode,
      activity: 'idle',
      engineState: 'idle',
      live: false,
      conflicts: [],
      generation: ++generations,
    };
  }

  get view(): SessionView {
    return this.viewValue;
  }

  // ---- operations ---------------------------------------------------------------------------------

  /** A full sync in the session's own direction (`rescan` drops the snapshot first). */
  sync(options: { rescan?: boolean; force?: boolean; signal?: AbortSignal } = {}): Promise<SyncSummary> {
    return this.operate(options.rescan ? 'rescan' : 'sync', async (s) => s.run({ rescan: options.rescan, force: options.force, signal: options.signal }));
  }

  /** One full run in another direction (Push / Pull on any session), with the same snapshot. */
  syncOnce(direction: Direction, signal?: AbortSignal): Promise<SyncSummary> {
    if (direction === this.spec.config.direction) return this.sync({ signal });
    return this.exclusive(async () => {
      const wasLive = this.runner ? this.viewValue.live : false;
      await this.stopRunner();
      try {
        return await this.operate(direction, async (main) => {
          const once = new SyncSession({ ...this.spec.config, direction }, main.sides);
          const unhook = once.onEvent((e) => this.onEngineEvent(e));
          try {
            return await once.run({ signal });
          } finally {
            unhook();
          }
        }, false);
      } finally {
        if (wasLive && !this.disposed) await this.startRunner(wasLive).catch(() => undefined);
      }
    });
  }

  /** The files an editor just saved: synced at once, no scan of anything else. */
  syncSaved(paths: readonly RelPath[]): Promise<SyncSummary> {
    return this.operate('save', (s) => s.syncPaths(paths));
  }

  resolve(path: RelPath, keep: 'local' | 'remote' | 'both'): Promise<SyncSummary> {
    return this.operate(`resolve ${keep}`, (s) => s.resolve(path, keep));
  }

  /** Starts continuous (or interval) syncing: an initial full sync, then live. */
  startLive(mode: 'continuous' | 'interval' = this.spec.mode === 'interval' ? 'interval' : 'continuous'): Promise<void> {
    return this.exclusive(() => this.startRunner(mode));
  }

  private startRunner(mode: 'continuous' | 'interval'): Promise<void> {
    if (this.runner) return Promise.resolve();
    return this.operate(`start ${mode}`, async (session) => {
      const runner = new ContinuousRunner(session, {
        mode,
        intervalSeconds: this.spec.intervalSeconds,
        cooloffMs: this.spec.cooloffMs,
        remotePollSeconds: 2,
        reconnect: () => this.connector.open(this.spec),
      });
      this.runner = runner;
      runner.onStatus((st) => {
        if (this.runner !== runner) return;
        if (st.lastError && st.lastError !== this.viewValue.lastError && (!st.lastSync || st.lastError.at >= st.lastSync.at)) {
          this.log.error(`${this.spec.label}: ${st.lastError.code ? `[${st.lastError.code}] ` : ''}${st.lastError.message}`);
          this.update({ lastError: st.lastError });
        }
        if (st.lastSync && st.lastSync !== this.viewValue.lastSync) this.update({ lastSync: st.lastSync, lastError: undefined });
        if (st.reconnecting) this.log.warn(`${this.spec.label}: connection lost, reconnecting`);
        this.update({ activity: this.activity() });
      });
      this.update({ live: mode });
      try {
        await runner.start();
        this.runnerReady = true;
      } catch (err) {
        this.runner = undefined;
        this.update({ live: false });
        await runner.stop().catch(() => undefined);
        throw err;
      }
      const how = Object.entries(runner.status.watch).map(([side, m]) => `${side}: ${m}`).join(', ');
      this.log.info(`${this.spec.label}: ${mode === 'interval' ? `syncing every ${this.spec.intervalSeconds} s` : `watching for changes (${how})`}`);
    }, false);
  }

  /** Stops the runner; the snapshot is saved. */
  async stopLive(): Promise<void> {
    await this.exclusive(() => this.stopRunner());
  }

  /** Rereads the open conflicts from the snapshot. */
  async refreshConflicts(): Promise<readonly StoredConflict[]> {
    const session = await this.ensureSession();
    const conflicts = await session.conflicts();
    this.update({ conflicts });
    return conflicts;
  }

  /** Reads the peer's version of a file (for the diff editor); connects if needed. */
  async readRemote(path: RelPath): Promise<Uint8Array> {
    const remote = (await this.ensureSession()).sides.remote;
    return readAll(await remote.read(path));
  }

  async statRemote(path: RelPath): Promise<Entry | undefined> {
    return (await this.ensureSession()).sides.remote.stat(path);
  }

  /** Opens the connection without syncing (Test Connection). */
  async connect(): Promise<string> {
    const s = await this.ensureSession();
    return s.sides.remote.tier;
  }

  // ---- internals ----------------------------------------------------------------------------------

  /**
   * The one operation funnel. `queued` operations wait for the ones before them (a push and a save
   * never interleave); the runner's own syncs are serialised by the engine session.
   */
  private operate<T>(what: string, fn: (session: SyncSession) => Promise<T>, queued = true): Promise<T> {
    const body = async () => {
      this.busy++;
      try {
        const session = await this.ensureSession();
        this.log.debug(`${this.spec.label}: ${what}`);
        const result = await fn(session);
        if (isSummary(result)) this.afterSummary(result);
        return result;
      } catch (err) {
        const e = err as SyncError;
        this.update({ lastError: { at: Date.now(), message: e.message, code: e.code } });
        if (e.code === 'ConnectionLost' && !this.runner) await this.dropConnection();
        throw err;
      } finally {
        this.busy--;
        if (this.session) await this.refreshConflicts().catch(() => undefined);
        this.update({ activity: this.activity() });
      }
    };
    return queued ? this.exclusive(body) : body();
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private afterSummary(s: SyncSummary): void {
    this.update({ lastSync: { at: Date.now(), summary: s }, halted: s.halted, lastError: s.halted ? this.viewValue.lastError : undefined, progress: undefined });
    if (s.halted) this.log.warn(`${this.spec.label}: halted: ${s.halted}`);
  }

  private ensureSession(): Promise<SyncSession> {
    if (this.session) return Promise.resolve(this.session);
    this.opening ??= (async () => {
      this.update({ activity: 'connecting' });
      try {
        const remote: Replica = await this.connector.open(this.spec);
        if (this.disposed) {
          await remote.close();
          throw new Error('the session was closed');
        }
        const session = new SyncSession(this.spec.config, { local: this.local, remote });
        session.onEvent((e) => this.onEngineEvent(e));
        this.session = session;
        this.log.info(`${this.spec.label}: connected to ${this.spec.address} (tier: ${remote.tier})`);
        this.update({ tier: remote.tier });
        return session;
      } finally {
        this.opening = undefined;
        this.update({ activity: this.activity() });
      }
    })();
    return this.opening;
  }

  private onEngineEvent(e: SyncEvent): void {
    const label = this.spec.label;
    switch (e.type) {
      case 'state':
        this.update({ engineState: e.state, progress: e.state === 'transferring' ? this.viewValue.progress : undefined });
        this.update({ activity: this.activity() });
        break;
      case 'action':
        this.log.info(`${label}: ${describeAction(e.action)}${e.bytes ? ` (${e.bytes} bytes)` : ''}`);
        break;
      case 'failed':
        this.log.error(`${label}: [${e.error.code}] ${describeAction(e.action)} failed: ${e.error.message}`);
        break;
      case 'conflict':
        this.log.warn(`${label}: conflict (${e.conflict.kind}) at ${e.conflict.path}`);
        break;
      case 'skip':
        this.log.debug(`${label}: skipped ${e.skip.path}: ${e.skip.reason}`);
        break;
      case 'problem':
        this.log.warn(`${label}: problem on the ${e.side} side at ${e.path}: ${e.message}`);
        break;
      case 'warning':
        this.log.warn(`${label}: ${e.message}`);
        break;
      case 'progress':
        this.update({ progress: { done: e.done, total: e.total, bytes: e.bytes } });
        break;
      case 'done':
        this.log.info(`${label}: done: ${summaryLine(e.summary)}`);
        if (this.runner) void this.refreshConflicts().catch(() => undefined);
        break;
    }
  }

  private activity(): SessionView['activity'] {
    const v = this.viewValue;
    if (this.opening) return 'connecting';
    if (this.runner?.status.reconnecting) return 'reconnecting';
    if (['scanning', 'reconciling', 'transferring'].includes(v.engineState)) return 'syncing';
    if (v.lastError) return 'error';
    if (v.halted) return 'halted';
    if (this.runner && this.runnerReady) return 'watching';
    return 'idle';
  }

  private async stopRunner(): Promise<void> {
    const runner = this.runner;
    if (!runner) return;
    this.runner = undefined;
    this.runnerReady = false;
    await runner.stop();
    this.log.info(`${this.spec.label}: stopped`);
    this.update({ live: false, activity: this.activity() });
  }

  private async dropConnection(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.sides.remote.close().catch(() => undefined);
  }

  private update(patch: Partial<SessionView>): void {
    if (this.disposed) return;
    const next = { ...this.viewValue, ...patch };
    if (Object.keys(patch).every((k) => (next as Record<string, unknown>)[k] === (this.viewValue as unknown as Record<string, unknown>)[k])) return;
    this.viewValue = next;
    this._onDidChange.fire(next);
  }

  get isBusy(): boolean {
    return this.busy > 0 || !!this.opening;
  }

  /** Waits until queued operations are done. */
  async idle(): Promise<void> {
    await this.queue;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.stopRunner().catch((err) => this.log.error(`${this.spec.label}: stopping: ${(err as Error).message}`));
    await this.queue;
    this.disposed = true;
    await this.opening?.catch(() => undefined);
    await this.dropConnection();
    await this.local.close().catch(() => undefined);
    this._onDidChange.dispose();
  }
}

function isSummary(v: unknown): v is SyncSummary {
  return typeof v === 'object' && v !== null && 'copied' in v && 'durationMs' in v;
}

async function readAll(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

export function describeAction(a: Action): string {
  const arrow = a.to === 'remote' ? '→ remote' : '→ local';
  switch (a.kind) {
    case 'copy':
      return `copy ${a.path} ${arrow}`;
    case 'mkdir':
      return `mkdir ${a.path} ${arrow}`;
    case 'delete':
      return `delete ${a.path} on ${a.to}`;
    case 'rename':
      return `rename ${a.from} to ${a.path} on ${a.to}`;
    case 'clone':
      return `copy ${a.from} to ${a.path} on ${a.to} (content already there)`;
    case 'setmeta':
      return `metadata ${a.path} ${arrow}`;
  }
}

export function summaryLine(s: SyncSummary): string {
  const parts = [
    s.copied && `${s.copied} copied`,
    s.renamed && `${s.renamed} renamed`,
    s.deleted && `${s.deleted} deleted`,
    s.dirsCreated && `${plural(s.dirsCreated, 'folder')} created`,
    s.conflicts && plural(s.conflicts, 'conflict'),
    s.problems && plural(s.problems, 'problem'),
    s.failed && `${s.failed} failed`,
  ].filter(Boolean);
  return `${parts.join(', ') || 'nothing to do'} in ${s.durationMs} ms${s.halted ? ` (halted: ${s.halted})` : ''}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
