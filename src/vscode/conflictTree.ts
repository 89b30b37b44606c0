import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Entry } from '../engine/entry';
import type { ConflictKind } from '../engine/plan';
import type { StoredConflict } from '../store/snapshotStore';
import type { LiveSession } from './liveSession';
import type { SessionManager } from './sessionManager';

export type ConflictNode =
  | { readonly type: 'session'; readonly session: LiveSession }
  | { readonly type: 'conflict'; readonly session: LiveSession; readonly conflict: StoredConflict };

export const KIND_LABELS: Record<ConflictKind, string> = {
  'both-modified': 'both modified',
  'modified-vs-deleted': 'modified vs deleted',
  'both-created': 'both created',
  'type-clash': 'type clash',
  undeterminable: 'undeterminable',
};

/** The conflicts of every session, grouped by session; rendered from the sessions' views. */
export class ConflictTree implements vscode.TreeDataProvider<ConflictNode>, vscode.Disposable {
  private readonly _onDidChangeTreeData = new vscode.EventEmitter<ConflictNode | undefined>();
  readonly onDidChangeTreeData = this._onDidChangeTreeData.event;
  readonly view: vscode.TreeView<ConflictNode>;
  private readonly disposables: vscode.Disposable[] = [];
  private lastKey = '';

  constructor(private readonly manager: SessionManager) {
    this.view = vscode.window.createTreeView('sshSync.conflicts', { treeDataProvider: this, showCollapseAll: true });
    this.disposables.push(this.view, this._onDidChangeTreeData, manager.onDidChange(() => this.refresh()));
    this.refresh();
  }

  /** Every conflict shown, flattened (what the tree lists, in order). */
  rows(): { session: string; path: string; kind: string; description: string }[] {
    return this.withConflicts().flatMap((s) =>
      s.view.conflicts.map((c) => ({ session: s.spec.label, path: c.path, kind: KIND_LABELS[c.kind], description: describeConflict(c) })),
    );
  }

  private withConflicts(): LiveSession[] {
    return this.manager.sessions.filter((s) => s.view.conflicts.length > 0);
  }

  private refresh(): void {
    const sessions = this.withConflicts();
    const key = JSON.stringify(sessions.map((s) => [s.spec.id, s.view.conflicts.map((c) => [c.path, c.kind, c.foundAt])]));
    if (key === this.lastKey) return;
    this.lastKey = key;
    const count = sessions.reduce((n, s) => n + s.view.conflicts.length, 0);
    this.view.badge = count > 0 ? { value: count, tooltip: `${count} sync conflict${count === 1 ? '' : 's'}` } : undefined;
    this.view.message = undefined;
    void vscode.commands.executeCommand('setContext', 'sshSync.conflictCount', count);
    this._onDidChangeTreeData.fire(undefined);
  }

  getChildren(node?: ConflictNode): ConflictNode[] {
    if (!node) return this.withConflicts().map((session) => ({ type: 'session', session }));
    if (node.type === 'session') return node.session.view.conflicts.map((conflict) => ({ type: 'conflict', session: node.session, conflict }));
    return [];
  }

  getTreeItem(node: ConflictNode): vscode.TreeItem {
    if (node.type === 'session') {
      const v = node.session.view;
      const item = new vscode.TreeItem(v.label, vscode.TreeItemCollapsibleState.Expanded);
      item.description = `${v.folderName} ⇄ ${v.address}`;
      item.iconPath = new vscode.ThemeIcon('remote');
      item.contextValue = 'sshSync.session';
      item.id = `s:${v.id}`;
      return item;
    }
    const c = node.conflict;
    const uri = vscode.Uri.file(path.join(node.session.spec.config.localRoot, c.path));
    const item = new vscode.TreeItem(uri, vscode.TreeItemCollapsibleState.None);
    item.label = c.path;
    item.description = KIND_LABELS[c.kind];
    item.tooltip = new vscode.MarkdownString(
      `**${c.path}** — ${KIND_LABELS[c.kind]}\n\n- local: ${describeEntry(c.local)}\n- remote: ${describeEntry(c.remote)}\n\nfound ${new Date(c.foundAt).toLocaleString()}`,
    );
    item.contextValue = 'sshSync.conflict';
    item.id = `c:${node.session.spec.id}:${c.path}`;
    item.command = { command: 'sshSync.compareWithRemote', title: 'Compare with Remote', arguments: [node] };
    return item;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

export function describeConflict(c: StoredConflict): string {
  return `${KIND_LABELS[c.kind]}; local: ${describeEntry(c.local)}; remote: ${describeEntry(c.remote)}`;
}

export function describeEntry(e: Entry | undefined): string {
  if (!e) return 'deleted';
  switch (e.kind) {
    case 'file':
      return `file, ${formatBytes(e.size)}, modified ${new Date(e.mtimeMs).toLocaleString()}`;
    case 'dir':
      return 'folder';
    case 'symlink':
      return `symlink → ${e.target}`;
    case 'problem':
      return `unreadable (${e.message})`;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
