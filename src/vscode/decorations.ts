import * as path from 'node:path';
import * as vscode from 'vscode';
import { KIND_LABELS } from './conflictTree';
import type { SessionManager } from './sessionManager';

/** Marks conflicted files in the explorer and editor tabs. */
export class ConflictDecorations implements vscode.FileDecorationProvider, vscode.Disposable {
  private readonly _onDidChange = new vscode.EventEmitter<vscode.Uri[]>();
  readonly onDidChangeFileDecorations = this._onDidChange.event;
  private marked = new Map<string, vscode.FileDecoration>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly manager: SessionManager) {
    this.disposables.push(vscode.window.registerFileDecorationProvider(this), manager.onDidChange(() => this.refresh()), this._onDidChange);
    this.refresh();
  }

  private refresh(): void {
    const next = new Map<string, vscode.FileDecoration>();
    for (const s of this.manager.sessions) {
      for (const c of s.view.conflicts) {
        const uri = vscode.Uri.file(path.join(s.spec.config.localRoot, c.path));
        next.set(uri.toString(), new vscode.FileDecoration('!', `SSH Sync conflict (${KIND_LABELS[c.kind]}) with ${s.spec.label}`, new vscode.ThemeColor('list.warningForeground')));
      }
    }
    const changed = [...new Set([...this.marked.keys(), ...next.keys()])].filter((k) => this.marked.get(k)?.tooltip !== next.get(k)?.tooltip);
    this.marked = next;
    if (changed.length > 0) this._onDidChange.fire(changed.map((k) => vscode.Uri.parse(k)));
  }

  provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
    return this.marked.get(uri.toString());
  }

  /** Conflicted files currently decorated (URIs as strings). */
  get decorated(): string[] {
    return [...this.marked.keys()];
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
