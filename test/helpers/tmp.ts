import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A fresh temp folder, removed by `cleanup`. */
export async function tempDir(prefix = 'ssh-sync-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true, maxRetries: 5 });
}

/**
 * A tree description: `'a/b.txt': 'content'`, `'dir/': null` for an (empty) directory, and
 * `'link': { link: 'target' }` for a symbolic link.
 */
export type TreeSpec = Record<string, string | Buffer | null | { link: string }>;

export async function writeTree(root: string, spec: TreeSpec): Promise<void> {
  for (const [rel, value] of Object.entries(spec)) {
    const abs = path.join(root, rel);
    if (value === null) {
      await fs.mkdir(abs, { recursive: true });
      continue;
    }
    await fs.mkdir(path.dirname(abs), { recursive: true });
    if (typeof value === 'object' && !Buffer.isBuffer(value)) await fs.symlink(value.link, abs);
    else await fs.writeFile(abs, value);
  }
}

/**
 * Reads a tree back: files as content, directories as '<dir>', links as '-> target'. Temp files of a
 * transfer in progress are not part of the tree (and may vanish while it is read), nor is the loop
 * marker at the root, which is never synced.
 */
export async function readTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string) => {
    for (const name of (await fs.readdir(dir)).sort()) {
      if (name.startsWith('.ssh-sync-tmp.') || (rel === '' && name === '.ssh-sync-marker.json')) continue;
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(abs).catch(() => undefined);
      if (!st) continue;
      if (st.isSymbolicLink()) out[r] = `-> ${await fs.readlink(abs)}`;
      else if (st.isDirectory()) {
        out[r] = '<dir>';
        await walk(abs, r);
      } else out[r] = await fs.readFile(abs, 'utf8');
    }
  };
  await walk(root, '');
  return out;
}

/** Lists leftover temporary files anywhere under a root. */
export async function tempFilesUnder(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.ssh-sync-tmp.')) found.push(path.join(dir, entry.name));
      else if (entry.isDirectory()) await walk(path.join(dir, entry.name));
    }
  };
  await walk(root);
  return found;
}

/** Sets a file's mtime (seconds since the epoch). */
export async function setMtime(file: string, seconds: number): Promise<void> {
  await fs.utimes(file, seconds, seconds);
}

/** Waits until `check` returns true, polling; fails after `timeoutMs`. Never a fixed sleep. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
