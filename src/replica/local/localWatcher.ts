import { watch as chokidarWatch } from 'chokidar';
import * as nodePath from 'node:path';
import type { Stats } from 'node:fs';
import type { RelPath } from '../../engine/path';
import type { WatchListener, WatchOptions, Watcher } from '../replica';
import { isTempName } from '../tempName';

/**
 * Watches a local folder with chokidar. Filters apply at the watcher, so excluded trees such as
 * `node_modules` are never even watched. Every error is reported as 'overflow' as well: a watcher that
 * may have missed events is answered with a full rescan, never with silence.
 */
export async function watchLocal(root: string, options: WatchOptions, listener: WatchListener): Promise<Watcher> {
  const toRel = (abs: string): RelPath | undefined => {
    const rel = nodePath.relative(root, abs);
    if (rel === '' || rel.startsWith('..') || nodePath.isAbsolute(rel)) return rel === '' ? '' : undefined;
    return rel.split(nodePath.sep).join('/').normalize('NFC');
  };
  const watcher = chokidarWatch(root, {
    ignoreInitial: true,
    followSymlinks: false,
    persistent: true,
    ignored: (abs: string, stats?: Stats) => {
      if (isTempName(nodePath.basename(abs))) return true;
      const rel = toRel(abs);
      if (rel === undefined || rel === '') return false;
      if (stats) return options.filter.excludes(rel, stats.isDirectory());
      return options.filter.excludes(rel, false) && options.filter.excludes(rel, true);
    },
  });
  const emit = (abs: string) => {
    const rel = toRel(abs);
    if (rel !== undefined && rel !== '') listener.onChange([rel]);
  };
  for (const event of ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const) watcher.on(event, emit);
  watcher.on('error', (err) => {
    listener.onError(err as Error);
    listener.onChange('overflow');
  });
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return {
    method: 'events',
    close: () => watcher.close(),
  };
}
