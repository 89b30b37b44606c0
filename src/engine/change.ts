import { isRacy, type BaseRecord } from './base';
import type { Side } from './policy';
import { sameFingerprint, sameMetadata, type SyncableEntry } from './entry';

/**
 * How one side differs from the base at one path.
 * - `absent`: no base and nothing there.
 * - `meta`: same content, other mode/ownership/mtime.
 * - `modified`: other content, or another type (file <-> dir <-> symlink).
 */
export type Change = 'absent' | 'unchanged' | 'meta' | 'modified' | 'created' | 'deleted';

export interface Classification {
  readonly change: Change;
  /** The side's content must be hashed before the change can be told (racy base record). */
  readonly needsHash: boolean;
}

export function classify(
  record: BaseRecord | undefined,
  was: SyncableEntry | undefined,
  now: SyncableEntry | undefined,
  preserve?: { readonly mode: boolean; readonly owner: boolean },
  side: Side = 'local',
): Classification {
  if (!record || !was) return { change: now ? 'created' : 'absent', needsHash: false };
  if (!now) return { change: 'deleted', needsHash: false };
  if (now.kind !== record.kind) return { change: 'modified', needsHash: false };
  if (!sameFingerprint(was, now)) {
    // A touched file whose hash is known and equal to the base's changed only its metadata.
    if (now.kind === 'file' && now.hash !== undefined && now.hash === record.hash) return { change: 'meta', needsHash: false };
    return { change: 'modified', needsHash: false };
  }
  if (isRacy(record, side) && now.kind === 'file') {
    if (now.hash === undefined) return { change: 'unchanged', needsHash: true };
    if (now.hash !== record.hash) return { change: 'modified', needsHash: false };
  }
  if (!sameMetadata(was, now, preserve)) return { change: 'meta', needsHash: false };
  return { change: 'unchanged', needsHash: false };
}

export function isChanged(change: Change): boolean {
  return change !== 'unchanged' && change !== 'absent';
}
