import * as vscode from 'vscode';

/**
 * Extension entry. The VS Code surface (sessions per workspace folder, commands, status bar, conflict
 * view) is not built yet; today the extension only exposes its log so that activation can be checked.
 */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('SSH Sync', { log: true });
  context.subscriptions.push(log, vscode.commands.registerCommand('sshSync.showLog', () => log.show()));
  log.info('SSH Sync activated');
}

export function deactivate(): void {}
