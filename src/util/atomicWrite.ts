import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';

/** Writes a whole file so that a reader sees the old or the new content, never a mix: temp, fsync, rename. */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await writeAtomicWith(file, (handle) => handle.writeFile(data));
}

/**
 * Writes a file through `write` to a temp file beside it, then renames it into place. `durable`
 * (default) also syncs the file and its directory; a file that checks itself when read (a cache whose
 * checksum a torn write fails) can skip that.
 */
export async function writeAtomicWith(file: string, write: (handle: FileHandle) => Promise<void>, options: { durable?: boolean } = {}): Promise<void> {
  const durable = options.durable ?? true;
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Date.now()}`);
  const handle = await fs.open(temp, 'w', 0o600);
  try {
    await write(handle);
    if (durable) await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await fs.rename(temp, file);
  if (!durable) return;
  try {
    const dirHandle = await fs.open(dir, 'r');
    await dirHandle.sync().finally(() => dirHandle.close());
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself is still atomic.
  }
}
