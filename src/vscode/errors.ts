import * as vscode from 'vscode';
import { SyncError, type ErrorCode } from '../errors';

/**
 * The one error funnel: every failure a person should hear about comes here, is logged with its code,
 * and is shown once as a message whose buttons are chosen from the code.
 */
export type ErrorAction = 'Show Log' | 'Retry' | 'Open Settings';

export interface Notice {
  readonly severity: 'error' | 'warning' | 'info';
  readonly message: string;
  readonly code?: ErrorCode;
  readonly actions: readonly string[];
  readonly at: number;
}

const HINTS: Partial<Record<ErrorCode, string>> = {
  AuthFailed: 'Check the key in ~/.ssh (or ssh-agent), the user name, or the password.',
  ConnectionLost: 'Check that the host is reachable; the session retries when you ask.',
  PermissionDenied: 'Check the owner and mode of the folder on that side.',
  NoSpace: 'Free some space on that side and sync again.',
  SnapshotMismatch: 'Run "SSH Sync: Rescan" to start this session over.',
};

export function actionsFor(code: ErrorCode | undefined): ErrorAction[] {
  switch (code) {
    case 'Usage':
      return ['Open Settings', 'Show Log'];
    case 'HostKeyChanged':
    case 'HostKeyUnknown':
      return ['Show Log'];
    case 'AuthFailed':
      return ['Retry', 'Open Settings', 'Show Log'];
    default:
      return ['Retry', 'Show Log'];
  }
}

export function codeOf(err: unknown): ErrorCode | undefined {
  return err instanceof SyncError ? err.code : ((err as { code?: ErrorCode })?.code ?? undefined);
}

export function messageOf(err: unknown, context?: string): string {
  const code = codeOf(err);
  const base = (err as Error)?.message ?? String(err);
  const hint = code ? HINTS[code] : undefined;
  return `${context ? `${context}: ` : ''}${base}${hint && !base.includes(hint) ? ` ${hint}` : ''}`;
}

export class ErrorFunnel implements vscode.Disposable {
  private readonly _onDidNotify = new vscode.EventEmitter<Notice>();
  readonly onDidNotify = this._onDidNotify.event;
  private last: Notice | undefined;

  constructor(private readonly log: vscode.LogOutputChannel) {}

  get lastNotice(): Notice | undefined {
    return this.last;
  }

  /** Logs and shows an error; `retry` is offered when the code allows it. Never throws. */
  error(err: unknown, context?: string, retry?: () => unknown): void {
    const code = codeOf(err);
    const message = messageOf(err, context);
    this.log.error(`${code ? `[${code}] ` : ''}${message}`);
    const actions = actionsFor(code).filter((a) => a !== 'Retry' || retry);
    this.record({ severity: 'error', message, code, actions, at: Date.now() });
    void vscode.window.showErrorMessage(`SSH Sync: ${message}`, ...actions).then((choice) => this.act(choice, retry));
  }

  warn(message: string, actions: readonly string[] = [], onAction?: (action: string) => unknown): void {
    this.log.warn(message);
    this.record({ severity: 'warning', message, actions, at: Date.now() });
    void vscode.window.showWarningMessage(`SSH Sync: ${message}`, ...actions).then((choice) => choice && onAction?.(choice));
  }

  info(message: string): void {
    this.log.info(message);
    this.record({ severity: 'info', message, actions: [], at: Date.now() });
    void vscode.window.showInformationMessage(`SSH Sync: ${message}`);
  }

  private record(notice: Notice): void {
    this.last = notice;
    this._onDidNotify.fire(notice);
  }

  private act(choice: string | undefined, retry?: () => unknown): void {
    if (choice === 'Show Log') this.log.show();
    else if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'sshSync.sessions');
    else if (choice === 'Retry') void retry?.();
  }

  dispose(): void {
    this._onDidNotify.dispose();
  }
}
