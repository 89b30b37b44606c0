import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { writeFileAtomic } from '../util/atomicWrite';
import type { BaseRow } from './baseRow';

/**
 * Changes to a snapshot since its database file was last written, kept beside it (`<db>.journal`) so
 * that a run changing a few records writes those records, not the whole database (~15 MB and ~0.5 s
 * with its index for 100,000 paths).
 *
 * The journal names the SHA-256 of the database bytes it applies to and carries the SHA-256 of its own
 * body. It is replayed only onto exactly those bytes; any other journal (torn, left from before the
 * database was written in full, from another database) is ignored. Ignoring one leaves the snapshot
 * as it was before the runs it recorded: stale, which costs those paths another look, never a wrong
 * update.
 */
export type JournalOp =
  /** A base record set: path, row. */
  | readonly ['b', string, BaseRow]
  /** A base record deleted. */
  | readonly ['d', string]
  /** A meta value set: key, JSON text. */
  | readonly ['m', string, string]
  /** The conflicts table as it now is: rows of path, kind, local JSON, remote JSON, found at. */
  | readonly ['c', readonly ConflictRow[]];

export type ConflictRow = readonly [string, string, string | null, string | null, number];

export function journalFile(snapshot: string): string {
  return `${snapshot}.journal`;
}

const FORMAT = 'ssh-sync-journal-1';

/** Writes the journal of `ops` onto the database whose bytes have SHA-256 `dbDigest` (durably). */
export async function writeJournal(snapshot: string, dbDigest: string, ops: readonly JournalOp[]): Promise<void> {
  const body = JSON.stringify({ format: FORMAT, db: dbDigest, ops });
  await writeFileAtomic(journalFile(snapshot), `${sha256(body)}\n${body}`);
}

/** The journal's operations when it is whole and applies to `dbDigest`; otherwise undefined. */
export async function readJournal(snapshot: string, dbDigest: string): Promise<JournalOp[] | undefined> {
  let text: string;
  try {
    text = await fs.readFile(journalFile(snapshot), 'utf8');
  } catch {
    return undefined;
  }
  const nl = text.indexOf('\n');
  if (nl !== 64) return undefined;
  const body = text.slice(nl + 1);
  if (sha256(body) !== text.slice(0, nl)) return undefined;
  try {
    const parsed = JSON.parse(body) as { format?: unknown; db?: unknown; ops?: unknown };
    if (parsed.format !== FORMAT || parsed.db !== dbDigest || !Array.isArray(parsed.ops)) return undefined;
    return parsed.ops as JournalOp[];
  } catch {
    return undefined;
  }
}

export async function removeJournal(snapshot: string): Promise<void> {
  await fs.rm(journalFile(snapshot), { force: true });
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
