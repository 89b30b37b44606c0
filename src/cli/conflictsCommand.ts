import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { toRelPath } from '../engine/path';
import { SyncError } from '../errors';
import type { SessionConfig } from '../session/config';
import { snapshotFile } from '../session/stateFile';
import { SnapshotStore } from '../store/snapshotStore';
import { parseArgs, usage, type FlagSpec } from './args';
import { COMMON, EXIT, openSession, peerKey, stateDirOf, type Io } from './common';
import { TextOutput } from './output';

const CONFLICT_FLAGS: Record<string, FlagSpec> = { ...COMMON, keep: { type: 'string', choices: ['local', 'remote', 'both'] }, force: { type: 'boolean' } };

export async function conflictsCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, CONFLICT_FLAGS);
  const pos = [...args.positionals];
  const sub = ['list', 'show', 'resolve'].includes(pos[0]) ? pos.shift()! : 'list';
  const target = sub === 'list' ? undefined : pos.shift();
  if (sub !== 'list' && target === undefined) throw usage(`conflicts ${sub} needs a <path>`);
  const config = await sessionFromArgs(pos, args.flags, io);
  const { session, close } = await openSession(config, config.peer, args, io);
  try {
    const json = !!args.flags.get('json');
    const conflicts = await session.conflicts();
    if (sub === 'list') {
      if (json) for (const c of conflicts) io.stdout.write(`${JSON.stringify(c)}\n`);
      else if (conflicts.length === 0) io.stdout.write('no conflicts\n');
      else for (const c of conflicts) io.stdout.write(`${c.kind.padEnd(19)} ${c.path}\n`);
      return conflicts.length ? EXIT.conflicts : EXIT.ok;
    }
    const path = toRelPathArg(target!);
    if (sub === 'show') {
      const c = conflicts.find((x) => x.path === path);
      if (!c) throw usage(`no open conflict at '${path}'`);
      if (json) io.stdout.write(`${JSON.stringify(c)}\n`);
      else {
        io.stdout.write(`${c.path}: ${c.kind} (found ${new Date(c.foundAt).toISOString()})\n`);
        io.stdout.write(`  local:  ${describeSide(c.local)}\n  remote: ${describeSide(c.remote)}\n`);
      }
      return EXIT.conflicts;
    }
    const keep = args.flags.get('keep') as 'local' | 'remote' | 'both' | undefined;
    if (!keep) throw usage('conflicts resolve needs --keep local|remote|both');
    const text = new TextOutput(io.stdout, io.stderr, false);
    session.onEvent((e) => text.event(e));
    const summary = await session.resolve(path, keep);
    text.summary(summary);
    return summary.failed || summary.problems ? EXIT.failure : EXIT.ok;
  } finally {
    await close();
  }
}

function toRelPathArg(raw: string): string {
  try {
    return toRelPath(raw.replace(/^\.\//, '').replace(/\/+$/, ''));
  } catch (err) {
    throw usage(`<path> ${(err as Error).message} (give it relative to the session's root)`);
  }
}

function describeSide(e: unknown): string {
  if (!e) return 'absent';
  const entry = e as { kind: string; size?: number; mtimeMs?: number; target?: string };
  const when = entry.mtimeMs ? new Date(entry.mtimeMs).toISOString() : '';
  if (entry.kind === 'file') return `file, ${entry.size} bytes, modified ${when}`;
  if (entry.kind === 'symlink') return `symbolic link -> ${entry.target}`;
  return entry.kind;
}

/** A session is named by --name, or by <local-dir> <peer> as given to sync. */
async function sessionFromArgs(pos: string[], flags: Map<string, string | boolean | number>, io: Io): Promise<SessionConfig> {
  const stateDir = stateDirOf(flags, io);
  const name = flags.get('name') as string | undefined;
  if (name !== undefined) {
    if (pos.length) throw usage(`give either --name or <local-dir> <peer>, not both`);
    return storedConfig(path.join(stateDir, `${name}.db`), stateDir, name);
  }
  if (pos.length !== 2) throw usage('name the session with --name NAME or <local-dir> <peer>');
  const localRoot = path.resolve(io.cwd, pos[0]);
  const key = peerKey(pos[1], io);
  return storedConfig(snapshotFile(stateDir, localRoot, key), stateDir, undefined);
}

async function storedConfig(file: string, stateDir: string, name: string | undefined): Promise<SessionConfig> {
  if (!(await fs.stat(file).catch(() => undefined))) throw usage(`no session found (${file} does not exist; run 'ssh-sync sync' first)`);
  const { store, warning } = await SnapshotStore.open(file);
  try {
    if (warning) throw new SyncError('Io', warning);
    const meta = store.getMeta<{ localRoot: string; peer: string; name?: string }>('session');
    const cfg = store.getMeta<Omit<SessionConfig, 'localRoot' | 'peer' | 'stateDir' | 'name'>>('config');
    if (!meta || !cfg) throw new SyncError('Io', `${file} holds no session settings`);
    return { ...cfg, name: name ?? meta.name, localRoot: meta.localRoot, peer: meta.peer, stateDir };
  } finally {
    store.close();
  }
}
