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
import { ContinuousRunner } from '../session/continuous';
import { COMMON, EXIT, exitCode, openSession, peerKey, stateDirOf, type Io, type OpenSession } from './common';
import { HELP } from './help';
import { LineBuffer } from './lineBuffer';
import { tuneForPlan } from './memory';
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
  continuous: { type: 'boolean' },
  interval: { type: 'number' },
  'cooloff-ms': { type: 'number' },
  'remote-poll-seconds': { type: 'number' },
};

export async function syncCommand(argv: string[], io: Io, continuousCommand = false): Promise<number> {
  const args = parseArgs(argv, SYNC_FLAGS);
  if (args.flags.get('help')) return void io.stdout.write(HELP), EXIT.ok;
  if (args.positionals.length < 2) throw usage(`sync needs <local-dir> and <peer> (got ${args.positionals.length} arguments)`);
  const [localArg, ...peerArgs] = args.positionals;
  if (peerArgs.length > 1 && args.flags.has('name')) throw usage('--name names one session: with several peers, run one ssh-sync per peer to name each');
  const direction = (args.flags.get('direction') as Direction | undefined) ?? 'bidi';
  const continuous = continuousCommand || !!args.flags.get('continuous');
  const interval = args.flags.get('interval') as number | undefined;
  if (continuous && interval !== undefined) throw usage('choose --continuous or --interval, not both');
  if (interval === 0) throw usage('--interval must be at least 1 second');
  if ((continuous || interval !== undefined) && args.flags.get('dry-run')) throw usage('--dry-run makes one pass only; leave out --continuous/--interval');
  const configs: SessionConfig[] = [];
  for (const peerArg of peerArgs) configs.push(await buildConfig(localArg, peerArg, args.flags, args.ordered, direction, io));
  if (new Set(configs.map((c) => c.peer)).size !== configs.length) throw usage('the same peer is given twice');

  const opened: OpenSession[] = [];
  try {
    for (let i = 0; i < configs.length; i++) opened.push(await openSession(configs[i], peerArgs[i], args, io));
    const prefix = (i: number) => (peerArgs.length > 1 ? `[${peerArgs[i]}] ` : '');
    const outputs = opened.map((o, i) => attachOutput(o.session, args.flags, io, prefix(i)));
    if (continuous || interval !== undefined) return await runLive(opened, outputs, args.flags, interval);
    const abort = new AbortController();
    const stopOnSignal = onInterrupt(() => abort.abort());
    try {
      const runOptions = { rescan: !!args.flags.get('rescan'), dryRun: !!args.flags.get('dry-run'), force: !!args.flags.get('force'), signal: abort.signal };
      const summaries = await Promise.all(opened.map((o) => o.session.run(runOptions)));
      summaries.forEach((s, i) => outputs[i].summary(s));
      if (abort.signal.aborted) return EXIT.interrupted;
      const codes = summaries.map(exitCode);
      // A failure anywhere outranks conflicts, which outrank success.
      return codes.includes(EXIT.failure) ? EXIT.failure : codes.includes(EXIT.conflicts) ? EXIT.conflicts : EXIT.ok;
    } finally {
      stopOnSignal();
    }
  } finally {
    await Promise.all(opened.map((o) => o.close()));
  }
}

/**
 * --continuous / --interval: an initial sync, then live until Ctrl-C (or SIGTERM), which lets the
 * actions in flight finish, saves the snapshot and exits 0.
 */
async function runLive(opened: OpenSession[], outputs: Output[], flags: Map<string, string | boolean | number>, interval: number | undefined): Promise<number> {
  const runners = opened.map(
    (o) =>
      new ContinuousRunner(o.session, {
        mode: interval === undefined ? 'continuous' : 'interval',
        intervalSeconds: interval,
        cooloffMs: flags.get('cooloff-ms') as number | undefined,
        remotePollSeconds: flags.get('remote-poll-seconds') as number | undefined,
        reconnect: o.reconnect,
      }),
  );
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const stopOnSignal = onInterrupt(stop);
  try {
    runners.forEach((r, i) => {
      // Live runs report a summary only when something happened (echoes of our own writes are quiet).
      r.session.onEvent((e) => e.type === 'done' && eventful(e.summary) && outputs[i].summary(e.summary));
      let shownError: unknown;
      r.onStatus((s) => {
        if (!s.lastError || s.lastError === shownError) return;
        shownError = s.lastError;
        outputs[i].error?.(s.reconnecting ? `${s.lastError.message} (reconnecting)` : s.lastError.message);
      });
    });
    await Promise.all(runners.map((r) => r.start()));
    for (const [i, r] of runners.entries()) {
      const how = Object.entries(r.status.watch).map(([side, method]) => `${side}: ${method}`).join(', ');
      outputs[i].info?.(interval === undefined ? `watching for changes (${how}); Ctrl-C to stop` : `syncing every ${interval} s; Ctrl-C to stop`);
    }
    await stopped;
  } finally {
    stopOnSignal();
    await Promise.all(runners.map((r) => r.stop()));
  }
  return EXIT.ok;
}

function eventful(s: SyncSummary): boolean {
  return s.copied + s.renamed + s.deleted + s.dirsCreated + s.metadata + s.conflicts + s.problems + s.failed > 0 || !!s.halted;
}

/** Calls `fn` on the first Ctrl-C or SIGTERM; a second one exits at once. Returns the unhook. */
function onInterrupt(fn: () => void): () => void {
  let count = 0;
  const handler = () => {
    if (++count > 1) process.exit(EXIT.interrupted);
    fn();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
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

interface Output {
  summary(s: SyncSummary): void;
  info?(message: string): void;
  error?(message: string): void;
}

function attachOutput(session: SyncSession, flags: Map<string, string | boolean | number>, io: Io, prefix: string): Output {
  session.onEvent((e) => {
    if (e.type === 'progress') tuneForPlan(e.total);
  });
  if (flags.get('json')) {
    const peer = prefix ? { peer: session.config.peer } : {};
    const out = new LineBuffer(io.stdout);
    const write = (obj: object) => out.write(`${JSON.stringify({ ...obj, ...peer })}\n`);
    session.onEvent((e) => {
      const line = jsonEvent(e);
      if (line) write(JSON.parse(line));
    });
    return {
      summary: (s) => {
        write({ type: 'summary', ...s, tier: { local: session.sides.local.tier, remote: session.sides.remote.tier } });
        out.flush();
      },
      error: (message) => {
        write({ type: 'error', message });
        out.flush();
      },
    };
  }
  const text = new TextOutput(io.stdout, io.stderr, !!flags.get('quiet'), prefix);
  session.onEvent((e) => text.event(e));
  return { summary: (s) => text.summary(s), info: (m) => text.line(m), error: (m) => text.errLine(`error: ${m}`) };
}
