import { createHash } from 'node:crypto';
import * as vscode from 'vscode';
import type { LiveSession } from './liveSession';
import type { SessionManager } from './sessionManager';

export const REMOTE_SCHEME = 'ssh-sync-remote';

/** `ssh-sync-remote://<session>/<path>`: the peer's version of a file, read through the session. */
export function remoteUri(session: LiveSession, relPath: string): vscode.Uri {
  return vscode.Uri.from({ scheme: REMOTE_SCHEME, authority: authorityOf(session.spec.id), path: `/${relPath}` });
}

function authorityOf(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 16);
}

/**
 * Read-only files of a session's peer, for the diff editor. Reads go through the session's own
 * connection; nothing is written to disk. Writing, deleting and listing are refused.
 */
export class RemoteFileSystem implements vscode.FileSystemProvider, vscode.Disposable {
  private readonly _onDidChangeFile = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this._onDidChangeFile.event;
  private readonly registration: vscode.Disposable;

  constructor(private readonly manager: SessionManager) {
    this.registration = vscode.workspace.registerFileSystemProvider(REMOTE_SCHEME, this, { isCaseSensitive: true, isReadonly: true });
  }

  private resolve(uri: vscode.Uri): { session: LiveSession; path: string } {
    const session = this.manager.sessions.find((s) => authorityOf(s.spec.id) === uri.authority);
    if (!session) throw vscode.FileSystemError.Unavailable(`${uri.toString()}: no such SSH Sync session in this window`);
    return { session, path: uri.path.replace(/^\/+/, '') };
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const { session, path } = this.resolve(uri);
    const entry = await session.statRemote(path);
    if (!entry || entry.kind === 'problem') throw vscode.FileSystemError.FileNotFound(uri);
    const type = entry.kind === 'dir' ? vscode.FileType.Directory : entry.kind === 'symlink' ? vscode.FileType.SymbolicLink | vscode.FileType.File : vscode.FileType.File;
    return { type, ctime: entry.mtimeMs, mtime: entry.mtimeMs, size: entry.kind === 'file' ? entry.size : 0, permissions: vscode.FilePermission.Readonly };
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    const { session, path } = this.resolve(uri);
    const entry = await session.statRemote(path);
    if (!entry) throw vscode.FileSystemError.FileNotFound(uri);
    if (entry.kind !== 'file') throw vscode.FileSystemError.FileIsADirectory(uri);
    return session.readRemote(path);
  }

  readDirectory(): [string, vscode.FileType][] {
    throw vscode.FileSystemError.NoPermissions('listing remote folders is not supported');
  }

  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }

  /** Tells open diff editors that the peer's copy changed (after a sync or resolve). */
  changed(uris: vscode.Uri[]): void {
    this._onDidChangeFile.fire(uris.map((uri) => ({ type: vscode.FileChangeType.Changed, uri })));
  }

  createDirectory(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  writeFile(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  delete(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }
  rename(uri: vscode.Uri): never {
    throw vscode.FileSystemError.NoPermissions(uri);
  }

  dispose(): void {
    this.registration.dispose();
    this._onDidChangeFile.dispose();
  }
}
