import { randomBytes } from 'node:crypto';

/**
 * Temporary files are written next to their target as `.ssh-sync-tmp.<pid>.<random>.<name>` and renamed
 * over it when complete. A scan hides them and removes the ones whose writer is gone, which is how an
 * interrupted run is cleaned up by the next one.
 */
export const TEMP_PREFIX = '.ssh-sync-tmp.';

/** Stay within the usual 255-byte name limit whatever the target's name length. */
const MAX_NAME_BYTES = 255;

/** Random once per process, then counted: unique names without 10,000 calls for randomness. */
const PROCESS_TOKEN = randomBytes(4).toString('hex');
let counter = 0;

export function tempNameFor(name: string): string {
  const head = `${TEMP_PREFIX}${process.pid}.${PROCESS_TOKEN}${(counter++).toString(36)}.`;
  let tail = name;
  while (Buffer.byteLength(head + tail) > MAX_NAME_BYTES) tail = tail.slice(0, Math.max(0, tail.length - 8));
  return head + tail;
}

export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX);
}

/** The writer's pid, if the name carries one. */
export function tempWriterPid(name: string): number | undefined {
  const pid = Number(name.slice(TEMP_PREFIX.length).split('.')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** A temp file is stale when its writer process is gone, or when it is older than an hour anyway. */
export function isStaleTemp(name: string, mtimeMs: number, nowMs: number): boolean {
  if (nowMs - mtimeMs > 3600_000) return true;
  const pid = tempWriterPid(name);
  if (pid === undefined) return true;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
