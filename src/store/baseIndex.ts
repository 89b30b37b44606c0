import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Base, BaseRecord } from '../engine/base';
import type { RelPath } from '../engine/path';
import { writeAtomicWith } from '../util/atomicWrite';
import { toRow, SIDE_FIELDS } from './baseRow';
import { ColumnarBase } from './columnarBase';

/**
 * Beside each snapshot, `<db>.index`: the base table again, in columns that load without building a
 * record per path (see ColumnarBase). A cache and nothing more: it names the SHA-256 of the database
 * bytes it was made with and carries the SHA-256 of its own body, and it is used only when both match
 * (the database opened is exactly the one it describes, and it is whole). Anything else reads the base
 * from the database as before. So a stale, torn or foreign index costs time, never a wrong record.
 *
 * Layout: one JSON header line padded with spaces to 512 bytes, then the body: the numbers
 * (Float64, 2 × SIDE_FIELDS per record, NaN for null), one byte of kind and one of racy per record,
 * then three string tables (paths, hashes, symlink targets), each record's string ended by NUL, with a
 * byte per record saying which of hash and target are present.
 */
export function indexFile(snapshot: string): string {
  return `${snapshot}.index`;
}

const MAGIC = 'ssh-sync-base-index';
const VERSION = 1;
const KIND_CODE: Record<BaseRecord['kind'], number> = { file: 0, dir: 1, symlink: 2 };
const KIND_OF: readonly BaseRecord['kind'][] = ['file', 'dir', 'symlink'];
const HAS_HASH = 1;
const HAS_TARGET = 2;

interface Header {
  readonly magic: string;
  readonly version: number;
  /** SHA-256 (hex) of the database bytes this index describes. */
  readonly db: string;
  readonly count: number;
  /** Byte lengths of the three string tables. */
  readonly strings: readonly [number, number, number];
  /** SHA-256 (hex) of the body. */
  readonly body: string;
}

/** The header line is padded to this many bytes (written last, once the body's digest is known). */
const HEADER_BYTES = 512;
/** Records per piece written: a save holds one piece of each section at a time, never the whole index. */
const PIECE = 8192;

/** One record in the index's terms, without building it where the base has it in columns. */
interface IndexRow {
  kind: number;
  racy: number;
  hash: string | null;
  target: string | null;
  /** Fills 2 × SIDE_FIELDS numbers at `at`. */
  numbers(into: Float64Array, at: number): void;
}

function rowReader(base: Base): (path: RelPath) => IndexRow {
  const columnar = base instanceof ColumnarBase ? base : undefined;
  return (path) => {
    const from = columnar?.rowOf(path);
    if (columnar && from !== undefined) {
      // Unbuilt since it was read: copied as it is.
      const s = columnar.stored;
      return {
        kind: KIND_CODE[s.kinds[from]],
        racy: s.racy[from],
        hash: s.hashes[from],
        target: s.targets[from],
        numbers: (into, at) => {
          for (let f = 0, src = from * 2 * SIDE_FIELDS; f < 2 * SIDE_FIELDS; f++) into[at + f] = s.numbers[src + f];
        },
      };
    }
    const row = toRow(base.get(path) as BaseRecord);
    return {
      kind: KIND_CODE[row.kind],
      racy: row.racy,
      hash: row.hash,
      target: row.target,
      numbers: (into, at) => {
        for (let f = 0; f < SIDE_FIELDS; f++) {
          into[at + f] = row.local[f] ?? NaN;
          into[at + SIDE_FIELDS + f] = row.remote[f] ?? NaN;
        }
      },
    };
  };
}

/**
 * Writes the index of `base` to `handle` in one pass over the records, PIECE at a time: the numbers
 * go out as they are made, the bytes and strings are kept (~90 bytes a record) and follow. The header,
 * with the body's digest, goes in last at the start. (Building the whole index in memory, its strings
 * joined and its sections concatenated, cost a save of 100,000 paths ~90 MB more at its peak.)
 */
async function writeIndexTo(handle: FileHandle, base: Base, dbDigest: string): Promise<void> {
  const paths = [...base.keys()];
  const count = paths.length;
  const read = rowReader(base);
  const digest = createHash('sha256');
  let at = HEADER_BYTES;
  const put = async (bytes: Buffer) => {
    digest.update(bytes);
    await handle.write(bytes, 0, bytes.length, at);
    at += bytes.length;
  };
  const small = Buffer.alloc(count * 3); // kind, racy, flags
  const tables: Buffer[][] = [[], [], []]; // paths, hashes, targets
  for (let from = 0; from < count; from += PIECE) {
    const to = Math.min(count, from + PIECE);
    const numbers = new Float64Array((to - from) * 2 * SIDE_FIELDS);
    const texts: string[][] = [[], [], []];
    for (let i = from; i < to; i++) {
      const row = read(paths[i]);
      row.numbers(numbers, (i - from) * 2 * SIDE_FIELDS);
      small[i] = row.kind;
      small[count + i] = row.racy;
      small[2 * count + i] = (row.hash !== null ? HAS_HASH : 0) | (row.target !== null ? HAS_TARGET : 0);
      texts[0].push(paths[i]);
      texts[1].push(row.hash ?? '');
      texts[2].push(row.target ?? '');
    }
    for (let t = 0; t < 3; t++) tables[t].push(Buffer.from(texts[t].join('\0') + '\0', 'utf8'));
    await put(Buffer.from(numbers.buffer, numbers.byteOffset, numbers.byteLength));
  }
  await put(small);
  const strings = tables.map((pieces) => pieces.reduce((n, b) => n + b.length, 0)) as [number, number, number];
  for (const pieces of tables) for (const piece of pieces) await put(piece);
  const header: Header = { magic: MAGIC, version: VERSION, db: dbDigest, count, strings, body: digest.digest('hex') };
  const line = JSON.stringify(header);
  if (line.length + 1 > HEADER_BYTES) throw new Error('base index header too long');
  await handle.write(Buffer.from(line + ' '.repeat(HEADER_BYTES - 1 - line.length) + '\n', 'utf8'), 0, HEADER_BYTES, 0);
}

/** The base this index holds, or undefined when it is not exactly the index of `dbDigest`'s database. */
export function decodeIndex(bytes: Buffer, dbDigest: string): ColumnarBase | undefined {
  const newline = bytes.indexOf(0x0a);
  if (newline < 0 || newline > 4096) return undefined;
  let header: Header;
  try {
    header = JSON.parse(bytes.toString('utf8', 0, newline)) as Header;
  } catch {
    return undefined;
  }
  if (header.magic !== MAGIC || header.version !== VERSION || header.db !== dbDigest) return undefined;
  const { count, strings } = header;
  const start = newline + 1;
  if (!Number.isInteger(count) || count < 0 || start % 8 !== 0 || !Array.isArray(strings) || strings.length !== 3) return undefined;
  const numbersLength = count * 2 * SIDE_FIELDS * 8;
  if (bytes.length !== start + numbersLength + 3 * count + strings[0] + strings[1] + strings[2]) return undefined;
  const body = bytes.subarray(start);
  if (createHash('sha256').update(body).digest('hex') !== header.body) return undefined;

  // A Float64Array needs an aligned offset: copy only when the read buffer does not give one.
  const numbers =
    (bytes.byteOffset + start) % 8 === 0
      ? new Float64Array(bytes.buffer, bytes.byteOffset + start, count * 2 * SIDE_FIELDS)
      : new Float64Array(new Uint8Array(bytes.subarray(start, start + numbersLength)).buffer);
  let at = start + numbersLength;
  const kindCodes = bytes.subarray(at, at + count);
  const racy = new Uint8Array(bytes.subarray(at + count, at + 2 * count));
  const flags = bytes.subarray(at + 2 * count, at + 3 * count);
  at += 3 * count;
  const table = (length: number): string[] | undefined => {
    const text = bytes.toString('utf8', at, at + length);
    at += length;
    if (count === 0) return length === 0 ? [] : undefined;
    const list = text.split('\0');
    // Each string ends with NUL: count strings and an empty tail.
    return list.length === count + 1 && list[count] === '' ? list : undefined;
  };
  const paths = table(strings[0]);
  const hashList = table(strings[1]);
  const targetList = table(strings[2]);
  if (!paths || !hashList || !targetList) return undefined;
  paths.length = count;
  const kinds: BaseRecord['kind'][] = new Array(count);
  const hashes: (string | null)[] = new Array(count);
  const targets: (string | null)[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const kind = KIND_OF[kindCodes[i]];
    if (kind === undefined || racy[i] > 3) return undefined;
    kinds[i] = kind;
    hashes[i] = flags[i] & HAS_HASH ? hashList[i] : null;
    targets[i] = flags[i] & HAS_TARGET ? targetList[i] : null;
  }
  const base = new ColumnarBase({ paths, kinds, racy, hashes, targets, numbers });
  return base.size === count ? base : undefined; // no path twice
}

/** Writes the index beside the snapshot (temp, rename; no fsync: a torn index fails its own check). */
export async function writeIndex(snapshot: string, base: Base, dbDigest: string): Promise<void> {
  await writeAtomicWith(indexFile(snapshot), (handle) => writeIndexTo(handle, base, dbDigest), { durable: false });
}

export async function readIndex(snapshot: string, dbDigest: string): Promise<ColumnarBase | undefined> {
  const bytes = await fs.readFile(indexFile(snapshot)).catch(() => undefined);
  return bytes ? decodeIndex(bytes, dbDigest) : undefined;
}
