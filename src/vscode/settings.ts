import * as os from 'node:os';
import * as path from 'node:path';
import { Filter, type FilterRule } from '../engine/filter';
import type { Direction, Overwrite, Preserve, SymlinkMode } from '../engine/policy';
import { isRemotePeer, peerKey } from '../replica/open';
import { DEFAULT_PRESERVE, type SessionConfig } from '../session/config';

/**
 * `sshSync.sessions` entries turned into plain `SessionConfig`s. Nothing here imports `vscode`: the
 * caller hands in the raw setting value, so every rule is testable with plain data. Each problem names
 * the setting it comes from (`sshSync.sessions[1].direction`), and a bad entry never stops the others.
 */

export type SessionMode = 'onDemand' | 'continuous' | 'interval';

/** One configured session, ready to run. */
export interface SessionSpec {
  /** Stable within a window: folder + name (else peer), not the index in the list. */
  readonly id: string;
  readonly folder: FolderRef;
  /** What the user sees: the `name`, else the peer as written. */
  readonly label: string;
  /** The `peer` + `remotePath` as one address (or a local folder). */
  readonly address: string;
  readonly remote: boolean;
  readonly mode: SessionMode;
  readonly intervalSeconds: number;
  readonly cooloffMs?: number;
  readonly config: SessionConfig;
  /** Identity file named by the session, if any. */
  readonly identityFile?: string;
  /** The raw entry, to tell whether a settings change touches this session. */
  readonly fingerprint: string;
}

export interface SettingsResult {
  readonly sessions: SessionSpec[];
  /** One message per invalid entry or value, naming the setting. */
  readonly problems: string[];
}

const DIRECTIONS: readonly Direction[] = ['push', 'pull', 'bidi'];
const MODES: readonly SessionMode[] = ['onDemand', 'continuous', 'interval'];
const OVERWRITES: readonly Overwrite[] = ['always', 'newer', 'never'];
const SYMLINKS: readonly SymlinkMode[] = ['copy', 'skip', 'follow'];
const KNOWN_KEYS = new Set([
  'name', 'peer', 'remotePath', 'direction', 'mode', 'intervalSeconds', 'include', 'exclude', 'overwrite',
  'symlinks', 'preserve', 'deletes', 'cooloffMs', 'maxDelete', 'identityFile',
]);

class Invalid extends Error {}

/**
 * The folder's own settings file holds the sessions: syncing it would let a pull (or a deletion on the
 * peer, in bidi) delete or replace the very configuration the session runs from, and would copy the
 * user's session list to the server. It is never synced, whatever the session's include rules say:
 * this rule comes first, and filters are first-match-wins.
 */
export const SETTINGS_FILE_RULE: FilterRule = { type: 'exclude', pattern: '/.vscode/settings.json' };

export interface FolderRef {
  /** Absolute path of the workspace folder. */
  readonly fsPath: string;
  readonly name: string;
  /** Unique per window (the folder's URI). */
  readonly key: string;
}

/** Where VS Code found `sshSync.sessions` for a folder (its `inspect()`, the parts that matter here). */
export interface SessionsSources {
  readonly globalValue?: unknown;
  readonly workspaceValue?: unknown;
  readonly workspaceFolderValue?: unknown;
}

/**
 * The sessions list a folder runs: only one written for that folder. A list in the user settings would
 * apply to every folder ever opened, and one in a multi-root workspace file to every folder of it: each
 * would then sync with the same peer, pushing one project's files into another's folder on the server.
 * Those are refused, with a message saying where to put the list instead.
 */
export function sessionsValue(sources: SessionsSources, multiRoot: boolean): { raw: unknown; problem?: string } {
  if (sources.workspaceFolderValue !== undefined) return { raw: sources.workspaceFolderValue };
  if (!multiRoot && sources.workspaceValue !== undefined) return { raw: sources.workspaceValue };
  const here = 'nothing is synced from there: put the sessions in the settings of the folder they sync (its .vscode/settings.json)';
  if (multiRoot && nonEmpty(sources.workspaceValue)) {
    return { raw: undefined, problem: `sshSync.sessions is set in the workspace file, where it would apply to every folder of the workspace; ${here}` };
  }
  if (nonEmpty(sources.globalValue)) {
    return { raw: undefined, problem: `sshSync.sessions is set in your user settings, where it would apply to every folder you open; ${here}` };
  }
  return { raw: undefined };
}

function nonEmpty(value: unknown): boolean {
  return value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);
}

export function readSessions(raw: unknown, folder: FolderRef, stateDir: string): SettingsResult {
  const folderName = folder.name;
  const problems: string[] = [];
  const sessions: SessionSpec[] = [];
  if (raw === undefined || raw === null) return { sessions, problems };
  if (!Array.isArray(raw)) return { sessions, problems: [`sshSync.sessions (${folderName}) must be a list of sessions, not ${typeName(raw)}`] };
  const seen = new Map<string, string>();
  raw.forEach((entry, i) => {
    const where = `sshSync.sessions[${i}]`;
    try {
      const spec = readOne(entry, where, folder, stateDir);
      const earlier = seen.get(spec.config.peer);
      if (earlier) throw new Invalid(`${where}.peer: ${folderName} already syncs with ${spec.address} (${earlier}); one session per peer`);
      seen.set(spec.config.peer, where);
      sessions.push(spec);
    } catch (err) {
      problems.push(err instanceof Invalid ? `${err.message} (folder ${folderName})` : `${where}: ${(err as Error).message} (folder ${folderName})`);
    }
  });
  return { sessions, problems };
}

function readOne(entry: unknown, where: string, folder: FolderRef, stateDir: string): SessionSpec {
  const folderPath = folder.fsPath;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Invalid(`${where} must be an object with at least "peer", not ${typeName(entry)}`);
  const e = entry as Record<string, unknown>;
  for (const key of Object.keys(e)) if (!KNOWN_KEYS.has(key)) throw new Invalid(`${where}.${key} is not a session setting (known: ${[...KNOWN_KEYS].join(', ')})`);

  const name = optString(e, 'name', where);
  const peerRaw = optString(e, 'peer', where);
  if (!peerRaw || peerRaw.trim() === '') throw new Invalid(`${where}.peer is missing: give an ssh host (with remotePath), an address like user@host:/srv/site, or a folder`);
  const remotePath = optString(e, 'remotePath', where);
  const address = composeAddress(peerRaw.trim(), remotePath, where, folderPath);
  const direction = optEnum(e, 'direction', DIRECTIONS, where) ?? 'bidi';
  const mode = optEnum(e, 'mode', MODES, where) ?? 'onDemand';
  const intervalSeconds = optNumber(e, 'intervalSeconds', where, 1) ?? 60;
  const cooloffMs = optNumber(e, 'cooloffMs', where, 0);
  const maxDelete = optNumber(e, 'maxDelete', where, 0);
  const overwrite = optEnum(e, 'overwrite', OVERWRITES, where) ?? (direction === 'bidi' ? 'never' : 'always');
  const symlinks = optEnum(e, 'symlinks', SYMLINKS, where) ?? 'copy';
  const deletes = optBoolean(e, 'deletes', where) ?? true;
  const preserve = readPreserve(e.preserve, `${where}.preserve`);
  const filters: FilterRule[] = [
    SETTINGS_FILE_RULE,
    ...optStrings(e, 'include', where).map((pattern) => ({ type: 'include' as const, pattern })),
    ...optStrings(e, 'exclude', where).map((pattern) => ({ type: 'exclude' as const, pattern })),
  ];
  try {
    new Filter(filters);
  } catch (err) {
    throw new Invalid(`${where}.include/exclude: ${(err as Error).message}`);
  }
  const identityFile = optString(e, 'identityFile', where);

  let peer: string;
  try {
    peer = peerKey(address, folderPath);
  } catch (err) {
    throw new Invalid(`${where}.peer: ${(err as Error).message}`);
  }
  const remote = isRemotePeer(address);
  if (!remote && path.resolve(folderPath) === peer) throw new Invalid(`${where}.peer: the peer is the workspace folder itself`);

  const config: SessionConfig = {
    // The snapshot is keyed by local root + peer (no name): two folders may both call a session "prod".
    localRoot: path.resolve(folderPath),
    peer,
    direction,
    overwrite,
    deletes,
    symlinks,
    preserve,
    filters,
    maxDelete,
    stateDir,
  };
  const label = name ?? (remote ? address : path.basename(peer));
  return {
    id: `${folder.key}#${name ?? peer}`,
    folder,
    label,
    address,
    remote,
    mode,
    intervalSeconds,
    cooloffMs,
    config,
    identityFile: identityFile ? expandHome(identityFile) : undefined,
    fingerprint: JSON.stringify(entry),
  };
}

/**
 * `peer` alone may be a full address (`user@host:/srv`, `ssh://…`) or a folder. With `remotePath`, `peer`
 * names only the host (`host`, `user@host`, `user@host:2222`, an ~/.ssh/config alias).
 */
function composeAddress(peer: string, remotePath: string | undefined, where: string, folderPath: string): string {
  if (remotePath === undefined || remotePath === '') {
    if (isRemotePeer(peer)) return peer;
    return path.resolve(folderPath, expandHome(peer));
  }
  const m = /^(?:([^@\s/]+)@)?(\[[^\]]+\]|[A-Za-z0-9._-]+)(?::(\d+))?$/.exec(peer);
  if (!m && looksRemote(peer)) throw new Invalid(`${where}: peer '${peer}' already contains a path; leave out remotePath or give only the host in peer`);
  if (!m) throw new Invalid(`${where}.peer: '${peer}' is not a host name (expected host, user@host or user@host:port, used with remotePath)`);
  if (!(remotePath.startsWith('/') || remotePath === '~' || remotePath.startsWith('~/'))) {
    throw new Invalid(`${where}.remotePath: '${remotePath}' must be absolute (/srv/site) or under the remote home (~/site)`);
  }
  const [, user, host, port] = m;
  const pathPart = remotePath.startsWith('~') ? `/${remotePath}` : remotePath;
  return `ssh://${user ? `${encodeURIComponent(user)}@` : ''}${host}${port ? `:${port}` : ''}${pathPart}`;
}

function looksRemote(peer: string): boolean {
  try {
    return isRemotePeer(peer);
  } catch {
    return true;
  }
}

function readPreserve(value: unknown, where: string): Preserve {
  if (value === undefined) return DEFAULT_PRESERVE;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Invalid(`${where} must be an object like {"times": true, "mode": true, "owner": false}`);
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (!['times', 'mode', 'owner'].includes(key)) throw new Invalid(`${where}.${key} is unknown (times, mode, owner)`);
    if (typeof v[key] !== 'boolean') throw new Invalid(`${where}.${key} must be true or false`);
  }
  return { times: (v.times as boolean | undefined) ?? DEFAULT_PRESERVE.times, mode: (v.mode as boolean | undefined) ?? DEFAULT_PRESERVE.mode, owner: (v.owner as boolean | undefined) ?? DEFAULT_PRESERVE.owner };
}

function optString(e: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = e[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new Invalid(`${where}.${key} must be a string, not ${typeName(v)}`);
  return v;
}

function optStrings(e: Record<string, unknown>, key: string, where: string): string[] {
  const v = e[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new Invalid(`${where}.${key} must be a list of glob patterns (strings)`);
  return v as string[];
}

function optNumber(e: Record<string, unknown>, key: string, where: string, min: number): number | undefined {
  const v = e[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new Invalid(`${where}.${key} must be a number of at least ${min}, not ${JSON.stringify(v)}`);
  return v;
}

function optBoolean(e: Record<string, unknown>, key: string, where: string): boolean | undefined {
  const v = e[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new Invalid(`${where}.${key} must be true or false, not ${JSON.stringify(v)}`);
  return v;
}

function optEnum<T extends string>(e: Record<string, unknown>, key: string, values: readonly T[], where: string): T | undefined {
  const v = e[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !values.includes(v as T)) throw new Invalid(`${where}.${key} must be one of ${values.join(', ')}, not ${JSON.stringify(v)}`);
  return v as T;
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  return p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p;
}
