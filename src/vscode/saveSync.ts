import * as vscode from 'vscode';
import type { ErrorFunnel } from './errors';
import type { SessionManager } from './sessionManager';

/**
 * `sshSync.syncOnSave`: a file saved in the editor is sent at once through each push or bidi session
 * that holds it, without a scan (the engine's `syncPaths`: filters and conflicts apply, so an excluded
 * or conflicted file stays where it is). Nothing happens in an untrusted workspace.
 */
export class SaveSync implements vscode.Disposable {
  private readonly subscription: vscode.Disposable;
  private pending = new Set<Promise<unknown>>();

  constructor(
    private readonly manager: SessionManager,
    private readonly funnel: ErrorFunnel,
  ) {
    this.subscription = vscode.workspace.onDidSaveTextDocument((doc) => this.onSave(doc.uri));
  }

  private onSave(uri: vscode.Uri): void {
    if (!vscode.workspace.isTrusted) return;
    if (!vscode.workspace.getConfiguration('sshSync', uri).get<boolean>('syncOnSave', true)) return;
    for (const { session, path } of this.manager.forUri(uri)) {
      if (session.spec.config.direction === 'pull') continue;
      const p = session.syncSaved([path]).catch((err) => this.funnel.error(err, `${session.spec.label}: sending ${path}`, () => session.syncSaved([path])));
      this.pending.add(p);
      void p.finally(() => this.pending.delete(p));
    }
  }

  /** Resolves when the saves so far have been sent. */
  async idle(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  dispose(): void {
    this.subscription.dispose();
  }
}
