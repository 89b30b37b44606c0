import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Database, Statement } from 'sql.js';
import type { Base, BaseRecord } from '../engine/base';
import type { Entry } from '../engine/entry';
import type { RelPath } from '../engine/path';
import type { Conflict, ConflictKind } from '../engine/plan';
import { writeFileAtomic } from '../util/atomicWrite';
import { readIndex, writeIndex } from './baseIndex';
import { readJournal, removeJournal, writeJournal, type ConflictRow, type JournalOp } from './journal';
import { ColumnarBase } from './columnarBase';
import { fromRow, SIDE_FIELDS, toRow } from './baseRow';
import { loadSqlJs } from './sqlite';

const SCHEMA_VERSION = 1;


const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS base (
  path TEXT PRIMARY KEY, kind TEXT NOT NULL, hash TEXT, racy INTEGER NOT NULL DEFAULT 0, target TEXT,
  l_size INTEGER, l_mtime REAL, l_mode INTEGER, l_uid INTEGER, l_gid INTEGER, l_ino INTEGER, l_dev INTEGER,
  r_size INTEGER, r_mtime REAL, r_mode INTEGER, r_uid INTEGER, r_gid INTEGER, r_ino INTEGER, r_dev INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conflicts (path TEXT PRIMARY KEY, kind TEXT NOT NULL, local TEXT, remote TEXT, found_at REAL NOT NULL);
`;

export interface StoredConflict extends Conflict {
  readonly foundAt: number;
}

export interface OpenResult {
  readonly store: SnapshotStore;
  /** Set when an existing snapshot could not be used; it was moved aside and a full compare follows. */
  readonly warning?: string;
}

/**
 * The persistent state of one session: the base (last agreed state), open conflicts and metadata,
 * in one sql.js database file saved atomically.
 *
 * Invariant: a missing, corrupt or truncated file reads as "no snapshot" (a full compare), never as
 * "everything was deleted": a deletion is only ever propagated from a base record. (Without one, a
 * path on one side only is a creation in bidi; a one-way mirror with `overwrite: always` removes
 * target-only paths, as `rsync --delete` does, within the mass-delete guard.)
 */
export class SnapshotStore {
  private dirty = false;
  /** Prepared once: a first sync writes 100,000 records (~0.6 s less than parsing the SQL each time). */
  private insertBase: Statement | undefined;
  private removeBase: Statement | undefined;
  /** The SHA-256 of the database bytes opened, when they are the bytes last saved (see digestFile). */
  private openedDigest: string | undefined;
  /**
   * Set by a store held open across many runs (continuous sync): its saves skip the base index (~0.1 s
   * per 100,000 paths), which writeIndexIfMissing() writes once, before it is closed.
   */
  deferIndex = false;
  /** Base records set or deleted since the database was opened or saved (meta and conflicts aside). */
  private baseChanged = false;
  /** Whether a base index matching the database is on disk (read at open, or written at save). */
  private indexed = false;
  /** Within batch(): each base change's previous record, to put back if the batch is rolled back. */
  private undo: [RelPath, BaseRecord | undefined][] | undefined;
  /**
   * Every change since the database file was last written (see journal.ts): a save with few of them
   * writes them as the journal instead of the whole database. Undefined: too many to journal, or the
   * database on disk is not one this store knows the bytes of: the next save writes it in full.
   */
  private pending: JournalOp[] | undefined;

  private constructor(
    readonly file: string,
    private readonly db: Database,
    readonly base: Base,
    readonly existed: boolean,
  ) {}

  static async open(file: string): Promise<OpenResult> {
    const SQL = await loadSqlJs();
    let bytes: Buffer | undefined;
    try {
      bytes = await fs.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (bytes) {
      try {
        const db = new SQL.Database(bytes);
        // The integrity check costs ~0.1 s on 100,000 paths: skipped only for the exact bytes we saved,
        // which are also the only ones whose base index may stand in for reading every row.
        const digest = digestOf(bytes);
        const saved = (await savedDigest(file)) === digest;
        checkDatabase(db, !saved);
        const indexed = saved ? await readIndex(file, digest) : undefined;
        const store = new SnapshotStore(file, db, indexed ?? (await readBase(db)), true);
        store.openedDigest = saved ? digest : undefined;
        store.indexed = indexed !== undefined;
        if (saved) store.pending = [];
        // The runs since the database was last written in full, onto exactly the bytes they followed.
        const journal = saved ? await readJournal(file, digest) : undefined;
        if (journal) store.replay(journal);
        return { store };
      } catch (err) {
        const aside = `${file}.corrupt-${Date.now()}`;
        await fs.rename(file, aside).catch(() => undefined);
        const store = new SnapshotStore(file, fresh(new SQL.Database()), new Map(), false);
        return {
          store,
          warning: `the snapshot ${file} is unreadable (${(err as Error).message}); it was moved to ${aside} and this run compares both sides in full`,
        };
      }
    }
    return { store: new SnapshotStore(file, fresh(new SQL.Database()), new Map(), false) };
  }

  // The database and `base` change together (the database first): the base index is written from
  // `base` and must describe exactly the database saved with it.
  setBase(path: RelPath, record: BaseRecord): void {
    const row = toRow(record);
    this.insertBase ??= this.db.prepare(`INSERT OR REPLACE INTO base VALUES (?,?,?,?,?, ?,?,?,?,?,?,?, ?,?,?,?,?,?,?)`);
    this.insertBase.run([path, row.kind, row.hash, row.racy, row.target, ...row.local, ...row.remote]);
    this.journal(['b', path, row]);
    this.undo?.push([path, this.base.get(path)]);
    this.base.set(path, record);
    this.dirty = this.baseChanged = true;
  }

  deleteBase(path: RelPath): void {
    if (!this.base.has(path)) return;
    this.removeBase ??= this.db.prepare('DELETE FROM base WHERE path = ?');
    this.removeBase.run([path]);
    this.journal(['d', path]);
    this.undo?.push([path, this.base.get(path)]);
    this.base.delete(path);
    this.dirty = this.baseChanged = true;
  }

  /** Base records at or under `from` move to the same place under `to` (a replayed rename). */
  relocateBase(from: RelPath, to: RelPath): void {
    // By key first: a record outside the renamed tree is never built (see ColumnarBase).
    const moving = [...this.base.keys()].filter((path) => path === from || path.startsWith(from + '/'));
    for (const path of moving) {
      const record = this.base.get(path) as BaseRecord;
      this.deleteBase(path);
      this.setBase(to + path.slice(from.length), record);
    }
  }

  /** Runs many base updates in one transaction (much faster in sql.js). */
  batch(fn: () => void): void {
    this.db.run('BEGIN');
    this.undo = [];
    const journaled = this.pending?.length ?? 0;
    try {
      fn();
      this.db.run('COMMIT');
    } catch (err) {
      this.db.run('ROLLBACK');
      if (this.pending) this.pending.length = journaled;
      // `base` goes back with the database: newest change first.
      for (const [path, was] of this.undo.reverse()) {
        if (was) this.base.set(path, was);
        else this.base.delete(path);
      }
      throw err;
    } finally {
      this.undo = undefined;
    }
  }

  /** Base records of files and symlinks (not directories), without building a record (see ColumnarBase). */
  countFiles(): number {
    const counted = this.base instanceof ColumnarBase ? this.base.countNonDirs() : undefined;
    if (counted !== undefined) return counted;
    let n = 0;
    for (const r of this.base.values()) if (r.kind !== 'dir') n++;
    return n;
  }

  conflicts(): StoredConflict[] {
    return this.conflictRows().map(([p, kind, local, remote, foundAt]) => ({
      path: p,
      kind: kind as ConflictKind,
      local: local === null ? undefined : (JSON.parse(local) as Entry),
      remote: remote === null ? undefined : (JSON.parse(remote) as Entry),
      foundAt,
    }));
  }

  private conflictRows(): ConflictRow[] {
    const out: ConflictRow[] = [];
    const stmt = this.db.prepare('SELECT path, kind, local, remote, found_at FROM conflicts ORDER BY path');
    while (stmt.step()) {
      const [p, kind, local, remote, foundAt] = stmt.get();
      out.push([String(p), String(kind), local === null ? null : String(local), remote === null ? null : String(remote), Number(foundAt)]);
    }
    stmt.free();
    return out;
  }

  /** Sets the conflicts table to `rows`. */
  private writeConflictRows(rows: readonly ConflictRow[]): void {
    this.db.run('DELETE FROM conflicts');
    for (const row of rows) this.db.run('INSERT OR REPLACE INTO conflicts VALUES (?,?,?,?,?)', [...row]);
    this.journal(['c', rows]);
    this.dirty = true;
  }

  /** Replaces the open conflicts with this run's; a conflict seen before keeps its first time. */
  replaceConflicts(conflicts: readonly Conflict[], now: number): void {
    this.replaceConflictsWhere(() => true, conflicts, now);
  }

  /** Replaces the open conflicts for which `within` holds, keeping the others. */
  replaceConflictsWhere(within: (path: RelPath) => boolean, conflicts: readonly Conflict[], now: number): void {
    const open = this.conflicts();
    const kept = open.filter((c) => !within(c.path));
    const before = new Map(open.map((c) => [c.path, c.foundAt]));
    const rows = new Map<string, ConflictRow>();
    for (const c of [...kept, ...conflicts]) {
      rows.set(c.path, [c.path, c.kind, c.local ? JSON.stringify(c.local) : null, c.remote ? JSON.stringify(c.remote) : null, before.get(c.path) ?? now]);
    }
    this.writeConflictRows([...rows.values()]);
  }

  removeConflict(path: RelPath): void {
    this.writeConflictRows(this.conflictRows().filter((row) => row[0] !== path));
  }

  getMeta<T>(key: string): T | undefined {
    const stmt = this.db.prepare('SELECT value FROM meta WHERE key = ?', [key]);
    const value = stmt.step() ? (JSON.parse(String(stmt.get()[0])) as T) : undefined;
    stmt.free();
    return value;
  }

  setMeta(key: string, value: unknown): void {
    this.setMetaText(key, JSON.stringify(value));
  }

  private setMetaText(key: string, text: string): void {
    this.db.run('INSERT OR REPLACE INTO meta VALUES (?, ?)', [key, text]);
    this.journal(['m', key, text]);
    this.dirty = true;
  }

  private journal(op: JournalOp): void {
    if (!this.pending) return;
    this.pending.push(op);
    // A first sync's 100,000 records are written in full anyway: not held here meanwhile.
    if (this.pending.length > 4 * JOURNAL_MAX_OPS) this.pending = undefined;
  }

  /** Applies a journal read at open: these changes are on disk already (in the journal). */
  private replay(ops: readonly JournalOp[]): void {
    this.batch(() => {
      for (const op of ops) {
        if (op[0] === 'b') this.setBase(op[1], fromRow(op[2]));
        else if (op[0] === 'd') this.deleteBase(op[1]);
        else if (op[0] === 'm') this.setMetaText(op[1], op[2]);
        else this.writeConflictRows(op[1]);
      }
    });
    this.dirty = false;
  }

  private freeStatements(): void {
    for (const statement of [this.insertBase, this.removeBase]) {
      try {
        statement?.free();
      } catch {
        // already freed with the database
      }
    }
    this.insertBase = undefined;
    this.removeBase = undefined;
  }

  /**
   * Makes the changes durable: as the journal when there are few since the database was last written
   * in full and that database is on disk as saved, else by writing the database atomically (temp,
   * fsync, rename). `index: false`: a save another one follows within the run (the index is written by
   * the last). `full`: the database in full, whatever the number of changes.
   */
  async save(options: { index?: boolean; full?: boolean } = {}): Promise<void> {
    if (!this.dirty && this.existed) return;
    if (this.pending && this.openedDigest !== undefined && !options.full) {
      const ops = compact(this.pending);
      if (ops.length <= JOURNAL_MAX_OPS) {
        await writeJournal(this.file, this.openedDigest, ops);
        this.pending = ops;
        this.dirty = false;
        return;
      }
    }
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    const bytes = this.db.export();
    // Some sql.js versions reopen the database to export it, which frees every statement: prepare anew.
    this.freeStatements();
    await writeFileAtomic(this.file, bytes);
    // After the database is durable: a crash in between, or a torn digest, leaves a digest that does
    // not match, which only costs the integrity check (and the base index) on the next open.
    const digest = digestOf(bytes);
    await fs.writeFile(digestFile(this.file), digest).catch(() => undefined);
    // A journal left now names the bytes before these: it would be ignored; it goes.
    await removeJournal(this.file).catch(() => undefined);
    this.pending = [];
    this.dirty = this.baseChanged = false;
    this.openedDigest = digest;
    this.indexed = false;
    if (!this.deferIndex && options.index !== false) await this.writeIndexIfMissing();
  }

  /**
   * Writes the base index of the database as last opened or saved, unless it is on disk already or the
   * base changed since (a snapshot saved before indexes existed, say, or by a store that defers it), so
   * that the next run reads it without building every record.
   */
  async writeIndexIfMissing(): Promise<void> {
    if (this.indexed || this.baseChanged || this.openedDigest === undefined) return;
    this.indexed = await writeIndex(this.file, this.base, this.openedDigest).then(() => true, () => false);
  }

  close(): void {
    this.freeStatements();
    this.db.close();
  }
}

/**
 * Past this many changes (after compact()), a save writes the database in full: the journal is read
 * and replayed by every open, and written whole by every save.
 */
const JOURNAL_MAX_OPS = 2048;

/** The same changes, keeping only the last one per base path, meta key, and of the conflicts table. */
function compact(ops: readonly JournalOp[]): JournalOp[] {
  const last = new Map<string, JournalOp>();
  for (const op of ops) {
    const key = op[0] === 'b' || op[0] === 'd' ? `p${op[1]}` : op[0] === 'm' ? `m${op[1]}` : 'c';
    last.delete(key);
    last.set(key, op);
  }
  return [...last.values()];
}

function fresh(db: Database): Database {
  db.run(SCHEMA);
  db.run('INSERT OR REPLACE INTO meta VALUES (?, ?)', ['schema', JSON.stringify(SCHEMA_VERSION)]);
  return db;
}

/**
 * Beside each snapshot, the SHA-256 of the bytes last saved. A file whose bytes match it is exactly
 * what a healthy database exported, so opening it needs no integrity check; any other (damaged,
 * replaced, written by an older version) is checked in full.
 */
export function digestFile(snapshot: string): string {
  return `${snapshot}.sha256`;
}

function digestOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function savedDigest(file: string): Promise<string | undefined> {
  return fs.readFile(digestFile(file), 'utf8').then((s) => s.trim(), () => undefined);
}

/** Rows read between two turns of the event loop (a connection coming up meanwhile keeps going). */
const ROWS_PER_TURN = 4000;

/** Throws unless `db` is an ssh-sync snapshot of this schema (and, when asked, passes PRAGMA quick_check). */
function checkDatabase(db: Database, checkIntegrity: boolean): void {
  if (checkIntegrity) {
    const check = db.exec('PRAGMA quick_check');
    const verdict = check[0]?.values[0]?.[0];
    if (verdict !== 'ok') throw new Error(`integrity check failed: ${String(verdict)}`);
  }
  const schema = db.exec("SELECT value FROM meta WHERE key = 'schema'")[0]?.values[0]?.[0];
  if (schema === undefined) throw new Error('not an ssh-sync snapshot');
  if (JSON.parse(String(schema)) !== SCHEMA_VERSION) throw new Error(`snapshot schema ${String(schema)} is not ${SCHEMA_VERSION}`);
}

async function readBase(db: Database): Promise<Base> {
  const base: Base = new Map();
  const stmt = db.prepare('SELECT * FROM base');
  let rows = 0;
  while (stmt.step()) {
    if (++rows % ROWS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    const row = stmt.get();
    const side = (from: number) => row.slice(from, from + SIDE_FIELDS).map((v) => (v === null ? null : Number(v)));
    const record = fromRow({
      kind: String(row[1]) as BaseRecord['kind'],
      hash: row[2] === null ? null : String(row[2]),
      racy: Number(row[3]),
      target: row[4] === null ? null : String(row[4]),
      local: side(5),
      remote: side(5 + SIDE_FIELDS),
    });
    base.set(String(row[0]), record);
  }
  stmt.free();
  return base;
}
