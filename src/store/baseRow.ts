import type { BaseRecord } from '../engine/base';
import type { SyncableEntry } from '../engine/entry';

/**
 * One base record as the snapshot stores it: the columns of the `base` table after the path. The
 * database and the base index (baseIndex.ts) both go through these two functions, so a record read
 * from either is the same record.
 */
export interface BaseRow {
  readonly kind: BaseRecord['kind'];
  readonly hash: string | null;
  /** 0 none, 1 both sides, 2 local only, 3 remote only. */
  readonly racy: number;
  /** A symlink's target (the local side's), else null. */
  readonly target: string | null;
  /** size, mtime, mode, uid, gid, ino, dev of each side; null where the entry has none. */
  readonly local: readonly (number | null)[];
  readonly remote: readonly (number | null)[];
}

/** Numbers per side in a row (size, mtime, mode, uid, gid, ino, dev). */
export const SIDE_FIELDS = 7;

const RACY_CODE: Record<string, number> = { true: 1, local: 2, remote: 3 };
const RACY_VALUE: Record<number, BaseRecord['racy']> = { 1: true, 2: 'local', 3: 'remote' };

export function toRow(record: BaseRecord): BaseRow {
  return {
    kind: record.kind,
    hash: record.hash ?? null,
    racy: RACY_CODE[String(record.racy)] ?? 0,
    target: record.local.kind === 'symlink' ? record.local.target : null,
    local: sideFields(record.local),
    remote: sideFields(record.remote),
  };
}

export function fromRow(row: BaseRow): BaseRecord {
  const target = row.target ?? undefined;
  return {
    kind: row.kind,
    hash: row.hash ?? undefined,
    racy: RACY_VALUE[row.racy],
    local: toEntry(row.kind, target, row.local),
    remote: toEntry(row.kind, target, row.remote),
  };
}

export function racyCode(record: BaseRecord): number {
  return RACY_CODE[String(record.racy)] ?? 0;
}

function sideFields(e: SyncableEntry): (number | null)[] {
  const n = (v: number | undefined): number | null => (v === undefined ? null : v);
  return [e.kind === 'file' ? e.size : null, e.mtimeMs, e.kind === 'symlink' ? null : e.mode, n(e.uid), n(e.gid), n(e.ino), n(e.dev)];
}

function toEntry(kind: BaseRecord['kind'], target: string | undefined, v: readonly (number | null)[]): SyncableEntry {
  // Built field by field (no spread or filtering): many records are read on every run.
  const e: Record<string, string | number> = { kind };
  if (kind === 'file') e.size = Number(v[0]);
  if (kind === 'symlink') e.target = target ?? '';
  e.mtimeMs = Number(v[1]);
  if (kind !== 'symlink') e.mode = Number(v[2]);
  if (v[3] !== null) e.uid = Number(v[3]);
  if (v[4] !== null) e.gid = Number(v[4]);
  if (v[5] !== null) e.ino = Number(v[5]);
  if (v[6] !== null) e.dev = Number(v[6]);
  return e as unknown as SyncableEntry;
}
