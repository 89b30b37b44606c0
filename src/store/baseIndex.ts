import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Base } from '../engine/base';
import type { BaseRecord } from '../engine/base';
import { toRow, SIDE_FIELDS } from './baseRow';
import { ColumnarBase } from './columnarBase';

/**
 * Beside each snapshot, `<db>.index`: the base table again, in columns that load without building a
 * record per path (see ColumnarBase). A cache and nothing more: it names the SHA-256 of the database
 * bytes it was made with and carries the SHA-256 of its own body, and it is used only when both match
 * (the database opened is exactly the one it describes, and it is whole). Anything else reads the base
 * from the database as before. So a stale, torn or foreign index costs time, never a wrong record.
 *
 * Layout: one JSON header line padded with spaces to a multiple of 8 bytes, then the body: the numbers
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

export function encodeIndex(base: Base, dbDigest: string): Buffer {
  const count = base.size;
  const numbers = new Float64Array(count * 2 * SIDE_FIELDS);
  const small = Buffer.alloc(count * 3); // kind, racy, flags
  const paths: string[] = [];
  const hashes: string[] = [];
  const targets: string[] = [];
  const columnar = base instanceof ColumnarBase ? base : undefined;
  let i = 0;
  for (const p of base.keys()) {
    const at = i * 2 * SIDE_FIELDS;
    const from = columnar?.rowOf(p);
    if (columnar && from !== undefined) {
      // Unbuilt since it was read: copied as it is, without building the record.
      const s = columnar.stored;
      numbers.set(s.numbers.subarray(from * 2 * SIDE_FIELDS, (from + 1) * 2 * SIDE_FIELDS), at);
      small[i] = KIND_CODE[s.kinds[from]];
      small[count + i] = s.racy[from];
      small[2 * count + i] = (s.hashes[from] !== null ? HAS_HASH : 0) | (s.targets[from] !== null ? HAS_TARGET : 0);
      paths.push(p);
      hashes.push(s.hashes[from] ?? '');
      targets.push(s.targets[from] ?? '');
      i++;
      continue;
    }
    const row = toRow(base.get(p) as BaseRecord);
    for (let f = 0; f < SIDE_FIELDS; f++) {
      numbers[at + f] = row.local[f] ?? NaN;
      numbers[at + SIDE_FIELDS + f] = row.remote[f] ?? NaN;
    }
    small[i] = KIND_CODE[row.kind];
    small[count + i] = row.racy;
    small[2 * count + i] = (row.hash !== null ? HAS_HASH : 0) | (row.target !== null ? HAS_TARGET : 0);
    paths.push(p);
    hashes.push(row.hash ?? '');
    targets.push(row.target ?? '');
    i++;
  }
  const tables = [paths, hashes, targets].map((list) => Buffer.from(list.length ? list.join('\0') + '\0' : '', 'utf8'));
  const body = Buffer.concat([Buffer.from(numbers.buffer, numbers.byteOffset, numbers.byteLength), small, ...tables]);
  const header: Header = {
    magic: MAGIC,
    version: VERSION,
    db: dbDigest,
    count,
    strings: [tables[0].length, tables[1].length, tables[2].length],
    body: createHash('sha256').update(body).digest('hex'),
  };
  let line = JSON.stringify(header);
  line += ' '.repeat((8 - ((line.length + 1) % 8)) % 8) + '\n';
  return Buffer.concat([Buffer.from(line, 'utf8'), body]);
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
  const file = indexFile(snapshot);
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  await fs.writeFile(temp, encodeIndex(base, dbDigest), { mode: 0o600 });
  await fs.rename(temp, file);
}

export async function readIndex(snapshot: string, dbDigest: string): Promise<ColumnarBase | undefined> {
  const bytes = await fs.readFile(indexFile(snapshot)).catch(() => undefined);
  return bytes ? decodeIndex(bytes, dbDigest) : undefined;
}
