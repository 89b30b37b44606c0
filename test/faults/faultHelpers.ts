import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';

/** A small deterministic PRNG (mulberry32) so a failing trial can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seedFromEnv(name: string): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) ? v : (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
}

/** A positive whole number from the environment, else `fallback`. */
export function intFromEnv(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

/** A trial count from the environment: 0 (skip) allowed; unset, empty or invalid gives `fallback`. */
export function trialsFromEnv(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  const v = Number(raw);
  return raw && Number.isInteger(v) && v >= 0 ? v : fallback;
}

/**
 * Remembered hashes for `fileHashes`, keyed by absolute path, valid while the file's identity and
 * timestamps are unchanged (see `fileHashes`).
 */
export type HashCache = Map<string, { readonly key: string; readonly hash: string }>;

/**
 * Every regular file under root (relative path -> sha256), temp files included; only the loop marker
 * at the root (session bookkeeping, never synced) is left out.
 *
 * With a cache, a file whose dev, inode, size, mtime and ctime (ns) are what they were when it was
 * hashed is not read again. ctime cannot be set from user space and changes on every write, chmod and
 * rename, so an unchanged ctime means unchanged content, provided the file had not been touched in the
 * last second before it was hashed (timestamps come from a coarse clock: a write in the same tick could
 * keep the ctime). Files changed that recently are hashed every time.
 */
export async function fileHashes(root: string, cache?: HashCache): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string, rel: string) => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      if (rel === '' && e.name === '.ssh-sync-marker.json') continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      const abs = nodePath.join(dir, e.name);
      if (e.isDirectory()) await walk(abs, r);
      else if (e.isFile()) out.set(r, cache ? await cachedHash(abs, cache) : createHash('sha256').update(await fs.readFile(abs)).digest('hex'));
    }
  };
  await walk(root, '');
  return out;
}

async function cachedHash(abs: string, cache: HashCache): Promise<string> {
  const before = await fs.stat(abs, { bigint: true });
  const key = `${before.dev}:${before.ino}:${before.size}:${before.mtimeNs}:${before.ctimeNs}`;
  const known = cache.get(abs);
  if (known?.key === key) return known.hash;
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  const hash = createHash('sha256').update(await fs.readFile(abs)).digest('hex');
  const after = await fs.stat(abs, { bigint: true });
  const stable = `${after.dev}:${after.ino}:${after.size}:${after.mtimeNs}:${after.ctimeNs}` === key;
  if (stable && after.ctimeNs < startedNs - 1_000_000_000n) cache.set(abs, { key, hash });
  else cache.delete(abs);
  return hash;
}

export function sha(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Content of a given size whose bytes say which version they are. */
export function content(tag: string, size: number): Buffer {
  const head = Buffer.from(`${tag}|`);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += head.length) head.copy(out, i, 0, Math.min(head.length, size - i));
  return out;
}

export function mapDiff(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(k) !== b.get(k)) out.push(`${k}: ${a.get(k)?.slice(0, 8) ?? 'absent'} vs ${b.get(k)?.slice(0, 8) ?? 'absent'}`);
  }
  return out.sort();
}
