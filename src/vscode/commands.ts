import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Direction } from '../engine/policy';
import type { SyncSummary } from '../session/events';
import type { StoredConflict } from '../store/snapshotStore';
import { AddSessionWizard } from './addSession';
import { describeConflict, KIND_LABELS, type ConflictNode } from './conflictTree';
import type { ErrorFunnel } from './errors';
import { summaryLine, type LiveSession } from './liveSession';
import type { Prompts } from './prompts';
import { remoteUri, type RemoteFileSystem } from './remoteFs';
import type { SessionManager } from './sessionManager';

type Target = ConflictNode | vscode.Uri | string | undefined;

export interface DiffRecord {
  readonly left: string;
  readonly right: string;
  readonly title: string;
}

/**
 * Every command of the extension. Each is wrapped once: a failure anywhere reaches the error funnel
 * with a Retry that runs the same command again, and the command itself never throws at VS Code.
 */
export class CommandCenter implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  lastDiff: DiffRecord | undefined;

  constructor(
    private readonly manager: SessionManager,
    private readonly funnel: ErrorFunnel,
    private readonly log: vscode.LogOutputChannel,
    private readonly prompts: () => Prompts,
    private readonly remoteFs: RemoteFileSystem,
    private readonly wizard: AddSessionWizard,
  ) {
    const commands: Record<string, (...args: never[]) => Promise<unknown>> = {
      'sshSync.syncNow': (t: Target) => this.syncCommand(t, undefined),
      'sshSync.push': (t: Target) => this.syncCommand(t, 'push'),
      'sshSync.pull': (t: Target) => this.syncCommand(t, 'pull'),
      'sshSync.rescan': (t: Target) => this.syncCommand(t, undefined, true),
      'sshSync.startContinuous': (t: Target) => this.startContinuous(t),
      'sshSync.stop': (t: Target) => this.stop(t),
      'sshSync.showConflicts': () => this.showConflicts(),
      'sshSync.resolveKeepLocal': (t: Target) => this.resolve(t, 'local'),
      'sshSync.resolveKeepRemote': (t: Target) => this.resolve(t, 'remote'),
      'sshSync.resolveKeepBoth': (t: Target) => this.resolve(t, 'both'),
      'sshSync.markResolved': (t: Target) => this.resolve(t, 'merged'),
      'sshSync.compareWithRemote': (t: Target) => this.compare(t),
      'sshSync.showLog': async () => this.log.show(),
      'sshSync.showStatus': () => this.showStatus(),
      'sshSync.statusActions': () => this.statusActions(),
      'sshSync.addSession': () => this.wizard.run(),
      'sshSync.testConnection': (t: Target) => this.testConnection(t),
    };
    for (const [id, fn] of Object.entries(commands)) {
      this.disposables.push(vscode.commands.registerCommand(id, (...args: never[]) => this.guarded(id, () => fn(...args), args)));
    }
  }

  /** The funnel: returns the command's result, or undefined after reporting its failure. */
  private async guarded<T>(id: string, fn: () => Promise<T>, args: unknown[] = []): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      this.funnel.error(err, commandTitle(id), () => vscode.commands.executeCommand(id, ...args));
      return undefined;
    }
  }

  // ---- syncing ------------------------------------------------------------------------------------

  private async syncCommand(target: Target, direction: Direction | undefined, rescan = false): Promise<SyncSummary | undefined> {
    const session = await this.pickSession(target, rescan ? 'Rescan which session?' : 'Sync which session?');
    if (!session) return undefined;
    const what = rescan ? 'Rescanning' : direction === 'push' ? 'Pushing' : direction === 'pull' ? 'Pulling' : 'Syncing';
    const summary = await this.withProgress(session, `${what} ${session.spec.label}`, (signal) =>
      direction ? session.syncOnce(direction, signal) : session.sync({ rescan, signal }),
    );
    this.report(session, summary, () => this.syncCommand(session.spec.id, direction, rescan));
    return summary;
  }

  private withProgress<T>(session: LiveSession, title: string, fn: (signal: AbortSignal) => Promise<T>): Thenable<T> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `SSH Sync: ${title}`, cancellable: true }, (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      let reported = 0;
      const sub = session.onDidChange((v) => {
        if (!v.progress || v.progress.total === 0) return;
        const pct = (v.progress.done / v.progress.total) * 100;
        progress.report({ message: `${v.progress.done}/${v.progress.total} files`, increment: pct - reported });
        reported = pct;
      });
      return fn(abort.signal).finally(() => sub.dispose());
    });
  }

  /** Tells the person what a manual sync left for them: conflicts, a halt, failures. */
  private report(session: LiveSession, s: SyncSummary, again: () => unknown): void {
    this.log.info(`${session.spec.label}: ${summaryLine(s)}`);
    if (s.halted) {
      this.funnel.warn(`${session.spec.label}: ${s.halted}`, ['Sync Anyway', 'Show Log'], (a) =>
        a === 'Sync Anyway' ? this.guarded('sshSync.syncNow', () => session.sync({ force: true })) : this.log.show(),
      );
    } else if (s.failed > 0 || s.problems > 0) {
      this.funnel.warn(`${session.spec.label}: ${summaryLine(s)}`, ['Show Log', 'Retry'], (a) => (a === 'Retry' ? again() : this.log.show()));
    } else if (s.conflicts > 0) {
      this.funnel.warn(`${session.spec.label}: ${s.conflicts} conflict${s.conflicts === 1 ? '' : 's'} left for you to resolve`, ['Show Conflicts'], () => this.showConflicts());
    } else {
      vscode.window.setStatusBarMessage(`SSH Sync: ${session.spec.label}: ${summaryLine(s)}`, 4000);
    }
  }

  private async startContinuous(target: Target): Promise<void> {
    const session = await this.pickSession(target, 'Start continuous sync for which session?', (s) => !s.view.live);
    if (!session) return;
    await session.startLive(session.spec.mode === 'interval' ? 'interval' : 'continuous');
  }

  private async stop(target: Target): Promise<void> {
    const session = await this.pickSession(target, 'Stop which session?', (s) => !!s.view.live);
    if (session) await session.stopLive();
  }

  private async testConnection(target: Target): Promise<string | undefined> {
    const session = await this.pickSession(target, 'Test the connection of which session?');
    if (!session) return undefined;
    const tier = await session.connect();
    const message = `${session.spec.label}: connected to ${session.spec.address} (tier: ${tier})`;
    this.funnel.info(message);
    return message;
  }

  // ---- conflicts ----------------------------------------------------------------------------------

  private async showConflicts(): Promise<void> {
    await Promise.all(this.manager.sessions.map((s) => s.refreshConflicts().catch(() => undefined)));
    await vscode.commands.executeCommand('sshSync.conflicts.focus');
  }

  private async resolve(target: Target, keep: 'local' | 'remote' | 'both' | 'merged'): Promise<SyncSummary | undefined> {
    const found = await this.pickConflict(target);
    if (!found) return undefined;
    const { session, conflict } = found;
    const file = path.join(session.spec.config.localRoot, conflict.path);
    if (keep === 'local' || keep === 'remote') {
      const other = keep === 'local' ? 'the remote copy' : 'the local copy';
      const button = keep === 'local' ? 'Keep Local' : 'Keep Remote';
      const answer = await this.prompts().confirm(
        `Keep the ${keep} version of ${conflict.path}?`,
        `${describeConflict(conflict)}\n\n${other[0].toUpperCase()}${other.slice(1)} will be replaced${keep === 'local' && !conflict.local ? ' (deleted, as the file is deleted locally)' : ''}.`,
        [button],
      );
      if (answer !== button) return undefined;
    }
    if (keep === 'merged') {
      // The merge happened in the editor: what is saved locally is the result.
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && d.uri.fsPath === file);
      if (doc?.isDirty) await doc.save();
    }
    const summary = await session.resolve(conflict.path, keep === 'merged' ? 'local' : keep);
    this.log.info(`${session.spec.label}: resolved ${conflict.path} (${keep === 'merged' ? 'marked resolved, local version sent' : `kept ${keep}`})`);
    this.remoteFs.changed([remoteUri(session, conflict.path)]);
    return summary;
  }

  private async compare(target: Target): Promise<DiffRecord | undefined> {
    let session: LiveSession | undefined;
    let rel: string | undefined;
    if (isNode(target) && target.type === 'conflict') {
      session = target.session;
      rel = target.conflict.path;
    } else {
      const uri = target instanceof vscode.Uri ? target : vscode.window.activeTextEditor?.document.uri;
      if (!uri) throw usage('open a file of a synced folder first (or pick one in the explorer)');
      const owners = this.manager.forUri(uri);
      if (owners.length === 0) throw usage(`${uri.fsPath} is not inside a folder with an SSH Sync session`);
      const picked = owners.length === 1 ? owners[0].session : await this.choose(owners.map((o) => o.session), 'Compare with which peer?');
      if (!picked) return undefined;
      session = picked;
      rel = owners.find((o) => o.session === picked)!.path;
    }
    const localUri = vscode.Uri.file(path.join(session.spec.config.localRoot, rel));
    const left = remoteUri(session, rel);
    const remoteEntry = await session.statRemote(rel);
    const localExists = await vscode.workspace.fs.stat(localUri).then(() => true, () => false);
    if (!remoteEntry) {
      this.funnel.info(`${rel} does not exist on ${session.spec.label}${localExists ? '' : ' nor locally'}`);
      if (localExists) await vscode.commands.executeCommand('vscode.open', localUri);
      return undefined;
    }
    if (remoteEntry.kind !== 'file') {
      this.funnel.info(`${rel} is a ${remoteEntry.kind === 'dir' ? 'folder' : remoteEntry.kind} on ${session.spec.label}; only files can be compared`);
      return undefined;
    }
    const remoteBytes = await session.readRemote(rel);
    const localBytes = localExists ? await vscode.workspace.fs.readFile(localUri) : new Uint8Array();
    if (isBinary(remoteBytes) || isBinary(localBytes)) {
      this.funnel.info(`${rel} is a binary file (local ${localExists ? `${localBytes.length} bytes` : 'missing'}, remote ${remoteBytes.length} bytes); no text comparison`);
      return undefined;
    }
    if (!localExists) {
      this.funnel.info(`${rel} is deleted locally; showing the remote version`);
      await vscode.commands.executeCommand('vscode.open', left);
      this.lastDiff = { left: left.toString(), right: '', title: rel };
      return this.lastDiff;
    }
    const title = `${path.basename(rel)} (${session.spec.label}) ↔ local`;
    await vscode.commands.executeCommand('vscode.diff', left, localUri, title);
    this.lastDiff = { left: left.toString(), right: localUri.toString(), title };
    return this.lastDiff;
  }

  private async pickConflict(target: Target): Promise<{ session: LiveSession; conflict: StoredConflict } | undefined> {
    if (isNode(target) && target.type === 'conflict') return { session: target.session, conflict: target.conflict };
    const uri = target instanceof vscode.Uri ? target : vscode.window.activeTextEditor?.document.uri;
    const all = this.manager.sessions.flatMap((session) => session.view.conflicts.map((conflict) => ({ session, conflict })));
    if (uri) {
      const mine = this.manager.forUri(uri).flatMap((o) => all.filter((a) => a.session === o.session && a.conflict.path === o.path));
      if (mine.length === 1) return mine[0];
    }
    if (all.length === 0) throw usage('there are no open conflicts');
    const chosen = await this.prompts().pick(
      'Resolve which conflict?',
      all.map((a, i) => ({ label: a.conflict.path, description: `${KIND_LABELS[a.conflict.kind]} — ${a.session.spec.label}`, value: String(i) })),
    );
    return chosen === undefined ? undefined : all[Number(chosen)];
  }

  // ---- status -------------------------------------------------------------------------------------

  private async showStatus(): Promise<string> {
    const lines = this.manager.views.map((v) => {
      const last = v.lastSync ? `${new Date(v.lastSync.at).toLocaleString()} (${summaryLine(v.lastSync.summary)})` : 'never';
      return [
        `${v.label} [${v.folderName}] ⇄ ${v.address}`,
        `  direction ${v.direction}, mode ${v.mode}${v.live ? ` (live: ${v.live})` : ''}, state ${v.activity}, tier ${v.tier ?? 'not connected'}`,
        `  last sync: ${last}`,
        `  conflicts: ${v.conflicts.length}${v.lastError ? `; last error: ${v.lastError.code ? `[${v.lastError.code}] ` : ''}${v.lastError.message}` : ''}`,
      ].join('\n');
    });
    const problems = this.manager.problems.map((p) => `settings: ${p}`);
    const text = [...lines, ...problems].join('\n') || 'No SSH Sync session is configured. Run "SSH Sync: Add Sync Session".';
    this.log.info(`status:\n${text}`);
    this.log.show(true);
    return text;
  }

  private async statusActions(): Promise<void> {
    const actions: { label: string; command: string }[] = [
      { label: '$(sync) Sync Now', command: 'sshSync.syncNow' },
      { label: '$(arrow-up) Push', command: 'sshSync.push' },
      { label: '$(arrow-down) Pull', command: 'sshSync.pull' },
      { label: '$(eye) Start Continuous Sync', command: 'sshSync.startContinuous' },
      { label: '$(debug-stop) Stop', command: 'sshSync.stop' },
      { label: '$(warning) Show Conflicts', command: 'sshSync.showConflicts' },
      { label: '$(info) Show Session Status', command: 'sshSync.showStatus' },
      { label: '$(output) Show Log', command: 'sshSync.showLog' },
      { label: '$(add) Add Sync Session', command: 'sshSync.addSession' },
    ];
    const chosen = await this.prompts().pick('SSH Sync', actions.map((a) => ({ label: a.label, value: a.command })));
    if (chosen) await vscode.commands.executeCommand(chosen);
  }

  // ---- choosing a session -------------------------------------------------------------------------

  /** The session a command acts on: from a tree node or file, the only one, or asked. */
  private async pickSession(target: Target, title: string, suitable: (s: LiveSession) => boolean = () => true): Promise<LiveSession | undefined> {
    if (typeof target === 'string') return this.manager.byId(target);
    if (isNode(target)) return target.session;
    if (target instanceof vscode.Uri) {
      const owners = this.manager.forUri(target).map((o) => o.session);
      if (owners.length === 1) return owners[0];
      if (owners.length > 1) return this.choose(owners, title);
    }
    const all = this.manager.sessions;
    if (all.length === 0) {
      throw usage(this.manager.problems.length > 0 ? `no usable session: ${this.manager.problems.join('; ')}` : 'no sync session is configured; run "SSH Sync: Add Sync Session"');
    }
    const candidates = all.filter(suitable);
    if (candidates.length === 0) throw usage(`no session to act on (${all.map((s) => `${s.spec.label}: ${s.view.live ? 'live' : 'not live'}`).join(', ')})`);
    return candidates.length === 1 ? candidates[0] : this.choose(candidates, title);
  }

  private async choose(sessions: LiveSession[], title: string): Promise<LiveSession | undefined> {
    const id = await this.prompts().pick(
      title,
      sessions.map((s) => ({ label: s.spec.label, description: `${s.spec.folder.name} ⇄ ${s.spec.address}`, detail: `${s.view.direction}, ${s.view.activity}`, value: s.spec.id })),
    );
    return id === undefined ? undefined : this.manager.byId(id) ?? this.manager.sessions.find((s) => s.spec.label === id);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

function isNode(t: unknown): t is ConflictNode {
  return typeof t === 'object' && t !== null && 'type' in t && 'session' in t;
}

function isBinary(bytes: Uint8Array): boolean {
  return bytes.subarray(0, 8000).includes(0);
}

function usage(message: string): Error {
  return Object.assign(new Error(message), { code: 'Usage' });
}

function commandTitle(id: string): string {
  return id.replace(/^sshSync\./, '').replace(/([A-Z])/g, ' $1').toLowerCase();
}
