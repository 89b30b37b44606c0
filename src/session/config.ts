import type { FilterRule } from '../engine/filter';
import type { Direction, Overwrite, Preserve, SymlinkMode } from '../engine/policy';

/** A session's settings as plain data: what the CLI flags and the VS Code settings both become. */
export interface SessionConfig {
  /** Optional name; also names the snapshot file. */
  readonly name?: string;
  /** Absolute path of the local folder. */
  readonly localRoot: string;
  /** The peer as the user wrote it (a folder path or an ssh address). */
  readonly peer: string;
  readonly direction: Direction;
  readonly overwrite: Overwrite;
  readonly deletes: boolean;
  readonly symlinks: SymlinkMode;
  readonly preserve: Preserve;
  readonly filters: readonly FilterRule[];
  /** Most files one run may delete on a side; undefined: the default rule (see guard). */
  readonly maxDelete?: number;
  /** Folder holding snapshot databases. */
  readonly stateDir: string;
  /** Parallel transfers. */
  readonly concurrency?: number;
}

export interface RunOptions {
  /** Drop the snapshot and compare both sides in full. */
  readonly rescan?: boolean;
  /** Plan and report, change nothing. */
  readonly dryRun?: boolean;
  /** Run even when the mass-delete guard would halt. */
  readonly force?: boolean;
  /** Stops starting new actions when aborted; the ones in flight finish and are recorded. */
  readonly signal?: AbortSignal;
}

export const DEFAULT_PRESERVE: Preserve = { times: true, mode: true, owner: false };
