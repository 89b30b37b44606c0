import * as path from 'node:path';
import * as vscode from 'vscode';
import { AddSessionWizard } from './addSession';
import { CommandCenter, type DiffRecord } from './commands';
import { ConflictTree } from './conflictTree';
import { PeerConnector } from './connector';
import { ConflictDecorations } from './decorations';
import { ErrorFunnel, type Notice } from './errors';
import type { SessionView } from './liveSession';
import { ScriptedPrompts, windowPrompts, type Prompts } from './prompts';
import { RemoteFileSystem } from './remoteFs';
import { SessionManager } from './sessionManager';
import { StatusBar, type StatusSummary } from './statusBar';
import { SaveSync } from './saveSync';

/** What `activate` returns: enough for tests (and other extensions) to see the state without the UI. */
export interface SshSyncApi {
  /** How long `activate` took, in milliseconds. */
  readonly activationMs: number;
  sessions(): SessionView[];
  /** Invalid-settings messages, naming the setting. */
  problems(): readonly string[];
  status(): StatusSummary;
  conflictRows(): { session: string; path: string; kind: string; description: string }[];
  /** Files marked as conflicted in the explorer. */
  decorated(): string[];
  lastNotice(): Notice | undefined;
  lastDiff(): DiffRecord | undefined;
  /** Resolves once sessions reflect the current settings. */
  reload(): Promise<void>;
  /** Resolves when every session's queued operations and on-save syncs are done. */
  idle(): Promise<void>;
  /** Test hook (not in production mode): answer prompts from a script; returns the recorder. */
  scriptPrompts?(answers: (string | undefined)[] | undefined): ScriptedPrompts | undefined;
}

let shutdown: (() => Promise<void>) | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<SshSyncApi> {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('SSH Sync', { log: true });
  const funnel = new ErrorFunnel(log);
  let prompts: Prompts = windowPrompts;
  const currentPrompts = () => prompts;

  const stateDir = path.join(context.globalStorageUri.fsPath, 'snapshots');
  const connector = new PeerConnector(log, context.secrets, currentPrompts);
  const manager = new SessionManager(stateDir, connector, log, funnel);
  const remoteFs = new RemoteFileSystem(manager);
  const wizard = new AddSessionWizard(connector, funnel, currentPrompts, stateDir);
  const commands = new CommandCenter(manager, funnel, log, currentPrompts, remoteFs, wizard);
  const statusBar = new StatusBar(manager);
  const tree = new ConflictTree(manager);
  const decorations = new ConflictDecorations(manager);
  const saveSync = new SaveSync(manager, funnel);
  context.subscriptions.push(log, funnel, remoteFs, commands, statusBar, tree, decorations, saveSync);
  // Sessions stop in deactivate(), which VS Code awaits: live runners save their snapshots first.
  shutdown = () => manager.dispose();

  // Reading settings is cheap and connects nothing: onDemand sessions open their peer on first use.
  const loaded = manager.reload();
  const activationMs = performance.now() - started;
  log.info(`SSH Sync activated in ${activationMs.toFixed(1)} ms${vscode.workspace.isTrusted ? '' : ' (untrusted workspace: nothing starts by itself)'}`);

  const api: SshSyncApi = {
    activationMs,
    sessions: () => manager.views,
    problems: () => manager.problems,
    status: () => statusBar.summary,
    conflictRows: () => tree.rows(),
    decorated: () => decorations.decorated,
    lastNotice: () => funnel.lastNotice,
    lastDiff: () => commands.lastDiff,
    reload: async () => {
      await loaded;
      await manager.reload();
    },
    idle: async () => {
      await saveSync.idle();
      await Promise.all(manager.sessions.map((s) => s.idle()));
    },
  };
  if (context.extensionMode !== vscode.ExtensionMode.Production) {
    api.scriptPrompts = (answers) => {
      const scripted = answers ? new ScriptedPrompts(answers) : undefined;
      prompts = scripted ?? windowPrompts;
      return scripted;
    };
  }
  return api;
}

export async function deactivate(): Promise<void> {
  await shutdown?.();
  shutdown = undefined;
}
