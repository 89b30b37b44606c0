import type { Entry, SyncableEntry } from './entry';
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

/**
 * A base that can tell, without building the record, that an entry equals what a side recorded:
 * same kind, fingerprint, mode and owner, and the record not racy on that side. True only where
 * classify() would find the path unchanged with no hash needed; false says nothing (ask classify).
 * A snapshot of 100,000 paths is compared on every run; building every record is most of its cost.
 */
export interface RecordMatcher {
  matchesRecorded(path: RelPath, side: Side, entry: Entry): boolean;
}

/** The base's quick check, where it has one. */
export function recordMatcher(base: Base): RecordMatcher | undefined {
  const candidate = base as Base & Partial<RecordMatcher>;
  return typeof candidate.matchesRecorded === 'function' ? (candidate as RecordMatcher) : undefined;
}

/**
 * The base records a scoped reconcile is not given, from a run that found each of those paths unchanged
 * on both sides since the snapshot (a one-way run takes its target to be as recorded, as it does in a
 * full run): so each side holds there what the record says. Never decided about, moved or forgotten;
 * only looked at as content already in place (a source to copy from) and as names already taken (case
 * clashes). Iterable more than once.
 */
export type Settled = Iterable<readonly [RelPath, BaseRecord]>;
