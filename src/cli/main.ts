import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { FilterRule } from '../engine/filter';
import { Filter } from '../engine/filter';
import { toRelPath } from '../engine/path';
import type { Direction, Overwrite, Preserve, SymlinkMode } from '../engine/policy';
import { SyncError } from '../errors';
import { LocalReplica } from '../replica/local/localReplica';
import { openPeer, peerKey as keyOfPeer } from '../replica/open';
import type { SshReplicaOpenOptions } from '../replica/ssh';
import { askSecretOnTty } from './prompt';
import { DEFAULT_PRESERVE, type SessionConfig } from '../session/config';
import type { SyncSummary } from '../session/events';
import { defaultStateDir, isValidSessionName } from '../session/stateFile';
import { SyncSession } from '../session/syncSession';
import { SnapshotStore } from '../store/snapshotStore';
import { parseArgs, usage, type FlagSpec, type ParsedArgs } from './args';
import { jsonEvent, TextOutput } from './output';

export const EXIT = { ok: 0, failure: 1, usage: 2, conflicts: 3 } as const;

const HELP = `ssh-sync: keep a local folder and a peer folder in step.

Usage:
  ssh-sync sync <local-dir> <peer> [options]
  ssh-sync conflicts [list|show <path>|resolve <path> --keep local|remote|both] (--name NAME | <local-dir> <peer>)
  ssh-sync status [--name NAME]

<peer> is a folder on this machine (a path), or a folder over SSH:
  [user@]host[:port]:/path     ssh://user@host:port/path     alias:/path (a ~/.ssh/config Host)
  (a path under the remote home: host:~/dir)

SSH options:
  --identity FILE                private key to use (repeatable; default: the agent, then ~/.ssh/id_*)
  --port N                       port (overrides the address and ~/.ssh/config)
  --ssh-config FILE              ssh client config to read instead of ~/.ssh/config
  --known-hosts FILE             known_hosts to check the server key against (default ~/.ssh/known_hosts)
  --accept-new-host-key          trust and record a server key seen for the first time (a changed key
                                 is always refused)

Sync options:
  --direction push|pull|bidi     push: local -> peer, pull: peer -> local, bidi: both ways (default bidi)
  --rescan                       drop the snapshot and compare both sides in full
  --dry-run                      show what would be done, change nothing
  --include GLOB, --exclude GLOB ordered filters, first match wins (repeatable)
  --overwrite always|newer|never how a changed target is treated (default: always one-way, never bidi)
  --no-delete                    do not propagate deletions
  --symlinks copy|skip|follow    recreate links (default), ignore them, or sync what they point to
  --preserve LIST                comma list of times,mode,owner (default times,mode; 'none' for none)
  --max-delete N                 halt when a run would delete more than N files (default: half when over 100)
  --force                        go ahead even when the mass-delete guard halts
  --name NAME                    name the session (and its snapshot)
  --state-dir DIR                where snapshots live (default $XDG_STATE_HOME/ssh-sync)
  --json                         one JSON object per event, then a summary
  --quiet                        only conflicts, problems and the summary

Exit codes: 0 in sync, 3 finished with conflicts, 2 usage error, 1 failure.
`;

const COMMON: Record<string, FlagSpec> = {
  name: { type: 'string' },
  identity: { type: 'list' },
  port: { type: 'number' },
  'ssh-config': { type: 'string' },
  'known-hosts': { type: 'string' },
  'accept-new-host-key': { type: 'boolean' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean' },
};

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

const CONFLICT_FLAGS: Record<string, FlagSpec> = { ...COMMON, keep: { type: 'string', choices: ['local', 'remote', 'both'] }, force: { type: 'boolean' } };

export interface Io {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'sync':
        return await syncCommand(rest, io);
      case 'conflicts':
        return await conflictsCommand(rest, io);
      case 'status':
        return await statusCommand(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(HELP);
        return command === undefined ? EXIT.usage : EXIT.ok;
      case '--version':
        io.stdout.write(`${require('../../package.json').version}\n`);
        return EXIT.ok;
      default:
        throw usage(`unknown command '${command}' (commands: sync, conflicts, status; see ssh-sync --help)`);
    }
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: Io): number {
  if (err instanceof SyncError) {
    const where = err.path ? ` [${err.path}]` : '';
    io.stderr.write(`ssh-sync: ${err.message}${where}\n`);
    if (err.code === 'Usage') io.stderr.write(`Run 'ssh-sync --help' for usage.\n`);
    return err.code === 'Usage' ? EXIT.usage : EXIT.failure;
  }
  io.stderr.write(`ssh-sync: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.failure;
}

// ---- sync ---------------------------------------------------------------------------------------------

async function syncCommand(argv: string[], io: Io): Promise<number> {
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

function stateDirOf(flags: Map<string, string | boolean | number>, io: Io): string {
  const dir = flags.get('state-dir') as string | undefined;
  return dir ? path.resolve(io.cwd, dir) : defaultStateDir(io.env);
}

function peerKey(peerArg: string, io: Io): string {
  if (peerArg.trim() === '') throw usage('<peer> is empty');
  return keyOfPeer(peerArg, io.cwd);
}

function sshOptions(args: ParsedArgs, io: Io): SshReplicaOpenOptions {
  const file = (name: string) => {
    const value = args.flags.get(name) as string | undefined;
    return value === undefined ? undefined : path.resolve(io.cwd, value);
  };
  const identities = args.ordered.filter((o) => o.name === 'identity').map((o) => path.resolve(io.cwd, o.value));
  return {
    identityFiles: identities.length ? identities : undefined,
    port: args.flags.get('port') as number | undefined,
    sshConfigFile: file('ssh-config'),
    knownHostsFile: file('known-hosts'),
    acceptNewHostKey: !!args.flags.get('accept-new-host-key'),
    askSecret: askSecretOnTty,
  };
}

async function openSession(config: SessionConfig, peerArg: string, args: ParsedArgs, io: Io): Promise<{ session: SyncSession; close: () => Promise<void> }> {
  const replica = await openPeer(peerArg, { cwd: io.cwd, ssh: sshOptions(args, io) });
  const local = new LocalReplica(config.localRoot);
  const session = new SyncSession(config, { local, remote: replica });
  return { session, close: async () => void (await Promise.all([local.close(), replica.close()])) };
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

function exitCode(s: SyncSummary): number {
  if (s.halted || s.failed > 0 || s.problems > 0) return EXIT.failure;
  if (s.conflicts > 0) return EXIT.conflicts;
  return EXIT.ok;
}

// ---- conflicts ----------------------------------------------------------------------------------------

async function conflictsCommand(argv: string[], io: Io): Promise<number> {
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
  const { snapshotFile } = await import('../session/stateFile');
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

// ---- status -------------------------------------------------------------------------------------------

async function statusCommand(argv: string[], io: Io): Promise<number> {
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
      const last = store.getMeta<{ at: number; failed: number }>('lastRun');
      rows.push({
        session: meta?.name ?? f.replace(/\.db$/, ''),
        local: meta?.localRoot,
        peer: meta?.peer,
        direction: cfg?.direction,
        lastRun: last ? new Date(last.at).toISOString() : undefined,
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
      io.stdout.write(`${r.session}: ${r.local} <-> ${r.peer} (${r.direction})\n`);
      io.stdout.write(`  last run ${r.lastRun ?? 'never'}; ${r.synchronized} synchronized, ${r.pending} pending, ${r.conflicts} conflicts, ${r.errors} errors\n`);
      if (r.warning) io.stdout.write(`  warning: ${r.warning}\n`);
    }
  return EXIT.ok;
}
