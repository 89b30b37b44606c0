import { sameFingerprint, sameMetadata, isSyncable, type Tree } from '../engine/entry';
import type { RelPath } from '../engine/path';
import type { Replica, WatchListener, WatchOptions, Watcher } from './replica';

/**
 * Change detection for sides without change events: a full listing every `pollSeconds`, compared with
 * the previous one. Slower to notice than events, but it misses nothing.
 */
export async function pollWatch(replica: Replica, options: WatchOptions, listener: WatchListener): Promise<Watcher> {
  let previous: Tree = await replica.scan({ filter: options.filter, symlinks: 'copy' });
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const tick = async () => {
    try {
      const now = await replica.scan({ filter: options.filter, symlinks: 'copy' });
      const changed = diffTrees(previous, now);
      previous = now;
      if (changed.length > 0 && !closed) listener.onChange(changed);
    } catch (err) {
      if (!closed) listener.onError(err as Error);
    }
    if (!closed) timer = setTimeout(tick, options.pollSeconds * 1000);
  };
  timer = setTimeout(tick, options.pollSeconds * 1000);
  return {
    method: 'poll',
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** Paths whose entry appeared, vanished or changed between two listings. */
export function diffTrees(before: Tree, after: Tree): RelPath[] {
  const changed: RelPath[] = [];
  for (const [path, entry] of after) {
    const old = before.get(path);
    if (!old || !isSyncable(old) || !isSyncable(entry)) {
      if (old?.kind !== entry.kind || !isSyncable(entry)) changed.push(path);
      continue;
    }
    if (!sameFingerprint(old, entry) || !sameMetadata(old, entry)) changed.push(path);
  }
  for (const path of before.keys()) if (!after.has(path)) changed.push(path);
  return changed;
}
