/**
 * Typed errors: every surface maps a code to a message and an action. One per failure class, so a
 * CLI exit code, a VS Code notification button and a per-path problem can all be chosen from the code.
 */
export type ErrorCode =
  | 'Usage' // bad argument or setting: nothing was touched
  | 'NotFound'
  | 'PermissionDenied'
  | 'NoSpace'
  | 'NotEmpty'
  | 'Changed' // the target is no longer what the plan expected
  | 'Unsafe' // a write would leave the root (symlinked parent, hostile name)
  | 'Halted' // a safety guard stopped the run before anything destructive
  | 'Refused' // the session would close a sync loop: nothing was touched
  | 'SnapshotMismatch'
  | 'ConnectionLost'
  | 'AuthFailed'
  | 'HostKeyUnknown'
  | 'HostKeyChanged'
  | 'Io';

export class SyncError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly path?: string,
  ) {
    super(message);
    this.name = 'SyncError';
  }
}

/** Maps a Node errno error to a SyncError with a message that says what to do. */
export function fromErrno(err: unknown, what: string, path?: string): SyncError {
  if (err instanceof SyncError) return err;
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return new SyncError('NotFound', `${what}: no such file or directory`, path);
    case 'EACCES':
    case 'EPERM':
      return new SyncError('PermissionDenied', `${what}: permission denied (check the owner and mode of the folder)`, path);
    case 'ENOSPC':
    case 'EDQUOT':
      return new SyncError('NoSpace', `${what}: no space left on the device (free some space and run again)`, path);
    case 'ENOTEMPTY':
    case 'EEXIST':
      return new SyncError('NotEmpty', `${what}: directory not empty`, path);
    default:
      return new SyncError('Io', `${what}: ${e?.message ?? String(err)}`, path);
  }
}
