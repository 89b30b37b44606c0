import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RelPath } from '../engine/path';
import type { PeerConnector } from './connector';
import type { ErrorFunnel } from './errors';
import { LiveSession, type SessionView } from './liveSession';
import { readSessions, sessionsValue, type SessionSpec } from './settings';

/**
 * Maps each workspace folder to its sessions. Sessions are created, kept, restarted or disposed as
 * folders and settings change: a session whose own entry did not change keeps running (and keeps its
 * connection) when another one is edited. In an untrusted workspace nothing starts by itself.
 */
export class SessionManager implements vscode.Disposable {
  private readonly _onDidChange = new vscode.EventEmitter<void>();
  /** Fired when the set of sessions or any session's view changes. */
  readonly onDidChange = this._onDidChange.event;
  private readonly live = new Map<string, { session: LiveSession; sub: vscode.Disposable }>();
  private problemList: string[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  private reloading: Promise<void> = Promise.resolve();

  constructor(
    private readonly stateDir: string,
    private readonly connector: PeerConnector,
    private readonly log: vscode.LogOutputChannel,
    private readonly funnel: ErrorFunnel,
  ) {
    this.disposables.push(
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.reload()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('sshSync.sessions')) void this.reload();
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.log.info('workspace trusted: starting continuous sessions');
        for (const s of this.sessions) this.autoStart(s);
      }),
    );
  }

  get sessions(): LiveSession[] {
    return [...this.live.values()].map((l) => l.session);
  }

  get views(): SessionView[] {
    return this.sessions.map((s) => s.view);
  }

  /** Invalid settings, one message each, naming the setting. */
  get problems(): readonly string[] {
    return this.problemList;
  }

  byId(id: string): LiveSession | undefined {
    return this.live.get(id)?.session;
  }

  /** The sessions whose local folder holds this file, with the file's path in each. */
  forUri(uri: vscode.Uri): { session: LiveSession; path: RelPath }[] {
    if (uri.scheme !== 'file') return [];
    const out: { session: LiveSession; path: RelPath }[] = [];
    for (const session of this.sessions) {
      const rel = path.relative(session.spec.config.localRoot, uri.fsPath);
      if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) continue;
      out.push({ session, path: rel.split(path.sep).join('/').normalize('NFC') });
    }
    return out;
  }

  /** Rereads the settings of every folder; resolves when sessions are in step with them. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.doReload()).catch((err) => this.funnel.error(err, 'reading the settings'));
    return this.reloading;
  }

  private async doReload(): Promise<void> {
    const specs: SessionSpec[] = [];
    const problems: string[] = [];
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      if (folder.uri.scheme !== 'file') continue;
      const sources = vscode.workspace.getConfiguration('sshSync', folder.uri).inspect<unknown>('sessions') ?? {};
      const { raw, problem } = sessionsValue(sources, vscode.workspace.workspaceFile !== undefined);
      if (problem && !problems.includes(problem)) problems.push(problem);
      const result = readSessions(raw, { fsPath: folder.uri.fsPath, name: folder.name, key: folder.uri.toString() }, this.stateDir);
      specs.push(...result.sessions);
      problems.push(...result.problems);
    }
    const wanted = new Map(specs.map((s) => [s.id, s]));
    const stale = [...this.live.entries()].filter(([id, l]) => wanted.get(id)?.fingerprint !== l.session.spec.fingerprint || wanted.get(id)?.folder.fsPath !== l.session.spec.folder.fsPath);
    for (const [id, l] of stale) {
      this.live.delete(id);
      l.sub.dispose();
      this.log.info(`${l.session.spec.label}: ${wanted.has(id) ? 'settings changed, restarting' : 'removed'}`);
      await l.session.dispose();
    }
    const started: LiveSession[] = [];
    for (const spec of specs) {
      if (this.live.has(spec.id)) continue;
      const session = new LiveSession(spec, this.connector, this.log);
      this.live.set(spec.id, { session, sub: session.onDidChange(() => this._onDidChange.fire()) });
      this.log.info(`${spec.label}: ${spec.config.localRoot} ⇄ ${spec.address} (${spec.config.direction}, ${spec.mode})`);
      started.push(session);
    }
    const newProblems = problems.filter((p) => !this.problemList.includes(p));
    this.problemList = problems;
    if (newProblems.length > 0) {
      this.funnel.warn(
        `invalid settings: ${newProblems.join('; ')}`,
        ['Open Settings', 'Show Log'],
        (a) => (a === 'Show Log' ? this.log.show() : vscode.commands.executeCommand('workbench.action.openSettingsJson')),
      );
    }
    void vscode.commands.executeCommand('setContext', 'sshSync.active', this.live.size > 0);
    this._onDidChange.fire();
    for (const s of started) this.autoStart(s);
  }

  private autoStart(session: LiveSession): void {
    if (session.spec.mode === 'onDemand' || session.view.live) return;
    if (!vscode.workspace.isTrusted) {
      this.log.info(`${session.spec.label}: workspace not trusted; not starting ${session.spec.mode} sync`);
      return;
    }
    session.startLive(session.spec.mode === 'interval' ? 'interval' : 'continuous').catch((err) =>
      this.funnel.error(err, session.spec.label, () => session.startLive()),
    );
  }

  async dispose(): Promise<void> {
    for (const d of this.disposables) d.dispose();
    const all = [...this.live.values()];
    this.live.clear();
    await Promise.all(all.map(async (l) => {
      l.sub.dispose();
      await l.session.dispose();
    }));
    this._onDidChange.dispose();
  }
}
