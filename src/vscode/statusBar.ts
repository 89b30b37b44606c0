import * as vscode from 'vscode';
import type { SessionView } from './liveSession';
import type { SessionManager } from './sessionManager';

export interface StatusSummary {
  readonly text: string;
  readonly tooltip: string;
  readonly background?: 'warning' | 'error';
}

/** One status bar item for the window, rendered from every session's view. */
export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('sshSync.status', vscode.StatusBarAlignment.Left, 10);
  private readonly disposables: vscode.Disposable[] = [];
  private current: StatusSummary = { text: '', tooltip: '' };

  constructor(private readonly manager: SessionManager) {
    this.item.name = 'SSH Sync';
    this.item.command = 'sshSync.statusActions';
    this.disposables.push(manager.onDidChange(() => this.render()));
    this.render();
  }

  get summary(): StatusSummary {
    return this.current;
  }

  private render(): void {
    const views = this.manager.views;
    if (views.length === 0 && this.manager.problems.length === 0) {
      this.item.hide();
      this.current = { text: '', tooltip: '' };
      return;
    }
    this.current = summarise(views, this.manager.problems);
    this.item.text = this.current.text;
    this.item.tooltip = new vscode.MarkdownString(this.current.tooltip, true);
    this.item.backgroundColor = this.current.background ? new vscode.ThemeColor(`statusBarItem.${this.current.background}Background`) : undefined;
    this.item.show();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.item.dispose();
  }
}

export function summarise(views: readonly SessionView[], problems: readonly string[]): StatusSummary {
  const conflicts = views.reduce((n, v) => n + v.conflicts.length, 0);
  const has = (a: SessionView['activity']) => views.filter((v) => v.activity === a);
  let text: string;
  let background: StatusSummary['background'];
  const syncing = has('syncing');
  if (has('error').length > 0 || problems.length > 0) {
    text = `$(error) SSH Sync: ${has('error').length > 0 ? 'error' : 'settings'}`;
    background = 'error';
  } else if (syncing.length > 0) {
    const left = syncing.reduce((n, v) => n + (v.progress ? v.progress.total - v.progress.done : 0), 0);
    text = `$(sync~spin) SSH Sync: syncing${left > 0 ? ` (${left} left)` : ''}`;
  } else if (has('connecting').length > 0) {
    text = '$(sync~spin) SSH Sync: connecting';
  } else if (has('reconnecting').length > 0) {
    text = '$(debug-disconnect) SSH Sync: reconnecting';
  } else if (has('halted').length > 0) {
    text = '$(debug-pause) SSH Sync: halted';
    background = 'warning';
  } else if (has('watching').length > 0) {
    text = '$(eye) SSH Sync: watching';
  } else {
    text = '$(check) SSH Sync';
  }
  if (conflicts > 0) {
    text += ` $(warning) ${conflicts} conflict${conflicts === 1 ? '' : 's'}`;
    background ??= 'warning';
  }
  const lines = views.map((v) => {
    const last = v.lastSync ? new Date(v.lastSync.at).toLocaleTimeString() : 'never';
    const extra = [v.lastError && `error: ${v.lastError.message}`, v.halted && `halted: ${v.halted}`, v.conflicts.length > 0 && `${v.conflicts.length} conflicts`].filter(Boolean);
    return `**${escape(v.label)}** (${escape(v.folderName)}) — ${escape(v.address)}  \n${v.direction}, ${v.live || v.mode}, ${v.activity}, last sync ${last}, tier ${v.tier ?? 'not connected'}${extra.length ? `  \n${escape(extra.join('; '))}` : ''}`;
  });
  for (const p of problems) lines.push(`$(error) ${escape(p)}`);
  return { text, tooltip: lines.join('\n\n'), background };
}

function escape(s: string): string {
  return s.replace(/([\\`*_{}[\]()#+\-.!|<>])/g, '\\$1');
}
