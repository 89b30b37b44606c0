import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { FilterRule } from '../engine/filter';
import { Filter } from '../engine/filter';
import type { Direction, Overwrite, Preserve, SymlinkMode } from '../engine/policy';
import { DEFAULT_PRESERVE, type SessionConfig } from '../session/config';
import type { SyncSummary } from '../session/events';
import { isValidSessionName } from '../session/stateFile';
import type { SyncSession } from '../session/syncSession';
import { parseArgs, usage, type FlagSpec } from './args';
import { COMMON, EXIT, exitCode, openSession, peerKey, stateDirOf, type Io } from './common';
import { HELP } from './help';
import { jsonEvent, TextOutput } from './output';

const SYNC_FLAGS: Record<string, FlagSpec> = {
  ...COMMON,
  direction: { type: 'string', choices: ['push', 'pull', 'bidi'] },
  rescan: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  include: { type: 'list' },
  exclude: { type: 'list' },
  overwrite: { type: 'string', choices: ['always', 'newer', 'never'] },
  'no-delete': { type: 'boolean' },
  symlinks: { type: 'string', choices: ['copy', 'skip', 'follow'] },
  preserve: { type: 'string' },
  'max-delete': { type: 'number' },
  force: { type: 'boolean' },
};

export async function syncCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, SYNC_FLAGS);
  if (args.flags.get('help')) return void io.stdout.write(HELP), EXIT.ok;
  if (args.positionals.length !== 2) throw usage(`sync needs <local-dir> and <peer> (got ${args.positionals.length} arguments)`);
  const [localArg, peerArg] = args.positionals;
  const direction = (args.flags.get('direction') as Direction | undefined) ?? 'bidi';
  const config = await buildConfig(localArg, peerArg, args.flags, args.ordered, direction, io);
  const { session, close } = await openSession(config, peerArg, args, io);
  try {
    const out = attachOutput(session, args.flags, io);
    const summary = await session.run({ rescan: !!args.flags.get('rescan'), dryRun: !!args.flags.get('dry-run'), force: !!args.flags.get('force') });
    out.summary(summary);
    return exitCode(summary);
  } finally {
    await close();
  }
}

async function buildConfig(
  localArg: string,
  peerArg: string,
  flags: Map<string, string | boolean | number>,
  ordered: { name: string; value: string }[],
  direction: Direction,
  io: Io,
): Promise<SessionConfig> {
  const localRoot = path.resolve(io.cwd, localArg);
  const st = await fs.stat(localRoot).catch(() => undefined);
  if (!st) throw usage(`<local-dir> '${localArg}' does not exist (create the folder first)`);
  if (!st.isDirectory()) throw usage(`<local-dir> '${localArg}' is not a directory`);
  const name = flags.get('name') as string | undefined;
  if (name !== undefined && !isValidSessionName(name)) throw usage(`--name '${name}' may use only letters, digits, '.', '_' and '-' (64 at most)`);
  const filters: FilterRule[] = ordered.filter((o) => o.name === 'include' || o.name === 'exclude').map((o) => ({ type: o.name as FilterRule['type'], pattern: o.value }));
  try {
    new Filter(filters);
  } catch (err) {
    throw usage(`--include/--exclude: ${(err as Error).message}`);
  }
  const overwrite = (flags.get('overwrite') as Overwrite | undefined) ?? (direction === 'bidi' ? 'never' : 'always');
  const peer = peerKey(peerArg, io);
  return {
    name,
    localRoot,
    peer,
    direction,
    overwrite,
    deletes: !flags.get('no-delete'),
    symlinks: (flags.get('symlinks') as SymlinkMode | undefined) ?? 'copy',
    preserve: parsePreserve(flags.get('preserve') as string | undefined),
    filters,
    maxDelete: flags.get('max-delete') as number | undefined,
    stateDir: stateDirOf(flags, io),
  };
}

function parsePreserve(value: string | undefined): Preserve {
  if (value === undefined) return DEFAULT_PRESERVE;
  if (value === 'none' || value === '') return { times: false, mode: false, owner: false };
  const items = value.split(',').map((s) => s.trim());
  for (const item of items) {
    if (!['times', 'mode', 'owner'].includes(item)) throw usage(`--preserve takes a comma list of times, mode, owner or 'none' (got '${item}')`);
  }
  return { times: items.includes('times'), mode: items.includes('mode'), owner: items.includes('owner') };
}

function attachOutput(session: SyncSession, flags: Map<string, string | boolean | number>, io: Io): { summary(s: SyncSummary): void } {
  if (flags.get('json')) {
    session.onEvent((e) => {
      const line = jsonEvent(e);
      if (line) io.stdout.write(`${line}\n`);
    });
    return { summary: (s) => io.stdout.write(`${JSON.stringify({ type: 'summary', ...s })}\n`) };
  }
  const text = new TextOutput(io.stdout, io.stderr, !!flags.get('quiet'));
  session.onEvent((e) => text.event(e));
  return text;
}

