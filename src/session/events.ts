import type { Action, Conflict, Skip } from '../engine/plan';
import type { Side } from '../engine/policy';
import type { SyncError } from '../errors';

export type SessionState = 'idle' | 'connecting' | 'scanning' | 'reconciling' | 'transferring' | 'watching' | 'halted' | 'error';

export type SyncEvent =
  | { readonly type: 'state'; readonly state: SessionState }
  | { readonly type: 'warning'; readonly message: string }
  | { readonly type: 'action'; readonly action: Action; readonly bytes: number; readonly dryRun?: boolean }
  | { readonly type: 'failed'; readonly action: Action; readonly error: SyncError }
  | { readonly type: 'conflict'; readonly conflict: Conflict }
  | { readonly type: 'skip'; readonly skip: Skip }
  | { readonly type: 'problem'; readonly path: string; readonly side: Side; readonly message: string }
  | { readonly type: 'progress'; readonly done: number; readonly total: number; readonly bytes: number }
  | { readonly type: 'done'; readonly summary: SyncSummary };

export interface SyncSummary {
  readonly direction: string;
  readonly copied: number;
  readonly renamed: number;
  readonly deleted: number;
  readonly dirsCreated: number;
  readonly metadata: number;
  readonly adopted: number;
  readonly bytes: number;
  readonly conflicts: number;
  readonly skipped: number;
  readonly problems: number;
  readonly failed: number;
  readonly dryRun: boolean;
  readonly halted?: string;
  readonly durationMs: number;
}
