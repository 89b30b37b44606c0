import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { quietRunFile } from '../session/stateFile';
import { SnapshotStore } from '../store/snapshotStore';
import { parseArgs, usage } from './args';
import { COMMON, EXIT, stateDirOf, type Io } from './common';

export async function statusCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, COMMON);
  if (args.positionals.length) throw usage(`status takes no arguments besides --name (got '${args.positionals[0]}')`);
  const stateDir = stateDirOf(args.flags, io);
  const name = args.flags.get('name') as string | undefined;
  const files = name ? [`${name}.db`] : ((await fs.readdir(stateDir).catch(() => [])) as string[]).filter((f) => f.endsWith('.db')).sort();
  if (name && !(await fs.stat(path.join(stateDir, files[0])).catch(() => undefined))) throw usage(`no session named '${name}' in ${stateDir}`);
  const rows: Record<string, unknown>[] = [];
  for (const f of files) {
    const { store, warning } = await SnapshotStore.open(path.join(stateDir, f));
    try {
      const meta = store.getMeta<{ localRoot: string; peer: string; name?: string }>('session');
      const cfg = store.getMeta<{ direction: string }>('config');
      const last = store.getMeta<{ at: number; failed: number; tier?: { local: string; remote: string } }>('lastRun');
      // A run that found nothing to do leaves only its time beside the snapshot.
      const quiet = await fs
        .readFile(quietRunFile(path.join(stateDir, f)), 'utf8')
        .then((t) => Number((JSON.parse(t) as { at?: unknown }).at) || 0)
        .catch(() => 0);
      const lastAt = Math.max(last?.at ?? 0, quiet);
      rows.push({
        session: meta?.name ?? f.replace(/\.db$/, ''),
        local: meta?.localRoot,
        peer: meta?.peer,
        direction: cfg?.direction,
        lastRun: lastAt > 0 ? new Date(lastAt).toISOString() : undefined,
        tier: last?.tier?.remote,
        synchronized: [...store.base.values()].filter((r) => r.kind !== 'dir').length,
        pending: last?.failed ?? 0,
        conflicts: store.conflicts().length,
        errors: warning ? 1 : (last?.failed ?? 0),
        warning,
      });
    } finally {
      store.close();
    }
  }
  if (args.flags.get('json')) for (const r of rows) io.stdout.write(`${JSON.stringify(r)}\n`);
  else if (rows.length === 0) io.stdout.write(`no sessions in ${stateDir}\n`);
  else
    for (const r of rows) {
      io.stdout.write(`${r.session}: ${r.local} <-> ${r.peer} (${r.direction}${r.tier ? `, peer tier ${r.tier}` : ''})\n`);
      io.stdout.write(`  last run ${r.lastRun ?? 'never'}; ${r.synchronized} synchronized, ${r.pending} pending, ${r.conflicts} conflicts, ${r.errors} errors\n`);
      if (r.warning) io.stdout.write(`  warning: ${r.warning}\n`);
    }
  return EXIT.ok;
}
