import type { SyncableEntry } from './entry';
import type { Side } from './policy';
import type { RelPath } from './path';

/**
 * The last agreed state of one path: what each side looked like when both were known to hold the same
 * thing. A side is "unchanged" when its current fingerprint equals the one recorded here.
 *
 * `local.ino`/`local.dev` are kept from the first run on so that renames can be recognised later.
 */
export interface BaseRecord {
  readonly kind: SyncableEntry['kind'];
  /** Content hash of a file, when known (always known after a transfer or an adoption). */
  readonly hash?: string;
  readonly local: SyncableEntry;
  readonly remote: SyncableEntry;
  /**
   * Set when a side's mtime was too close to the moment of agreement to trust its fingerprint (the
   * "racy git" case): a later edit within the clock's granularity keeps size and mtime. Such a record
   * is confirmed by hash on the next run instead of by fingerprint.
   */
  readonly racy?: true | Side;
}

/** True when `side`'s fingerprint in this record must be confirmed by hash (`racy`: true is both). */
export function isRacy(record: BaseRecord, side: Side): boolean {
  return record.racy === true || record.racy === side;
}

export type Base = Map<RelPath, BaseRecord>;
