import { createHash, randomBytes } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { SyncError } from '../../errors';
import { HELPER_FILE, HELPER_SCRIPT, HELPER_SHA256, MIN_NODE_MAJOR } from './helperScript';
import { isNotFound, S_IFDIR, S_IFMT, S_IFREG, type Sftp } from './sftpClient';

/** A command running on the server over an `exec` channel. */
export interface RemoteProcess {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly stdin: Writable;
  /** The exit status; null when the channel closed without one (killed, connection lost). */
  readonly exit: Promise<number | null>;
  /** Closes the channel (the remote command gets EOF/SIGPIPE/SIGHUP). */
  kill(): void;
}

export type Spawn = (command: string) => Promise<RemoteProcess>;

/** `exec` over an ssh2 client. A refused channel (no exec allowed, too many sessions) rejects. */
export function spawnOver(client: Client): Spawn {
  return (command) =>
    new Promise((resolve, reject) => {
      try {
        client.exec(command, (err, channel: ClientChannel) => {
          if (err) return reject(new SyncError('Io', `the server refused to run a command: ${err.message}`));
          let status: number | null = null;
          channel.on('exit', (code: number | null) => {
            if (typeof code === 'number') status = code;
          });
          const exit = new Promise<number | null>((done) => channel.once('close', () => done(status)));
          channel.on('error', () => undefined);
          resolve({ stdout: channel, stderr: channel.stderr, stdin: channel, exit, kill: () => channel.close() });
        });
      } catch (err) {
        reject(new SyncError('ConnectionLost', `cannot run a command on the server: ${(err as Error).message}`));
      }
    });
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs a command to completion with `input` on its stdin; gives up (and closes the channel) after `timeoutMs`. */
export async function run(spawn: Spawn, command: string, input: string | Buffer = '', timeoutMs = 30_000): Promise<RunResult> {
  const proc = await spawn(command);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  proc.stdout.on('data', (d: Buffer) => out.push(d));
  proc.stderr.on('data', (d: Buffer) => err.push(d));
  proc.stdin.end(input);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const code = await Promise.race([proc.exit, timeout]);
  clearTimeout(timer);
  if (code === 'timeout') {
    proc.kill();
    throw new SyncError('Io', `a command on the server did not finish within ${timeoutMs / 1000} s: ${command}`);
  }
  return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') };
}

export type HelperKind = 'node' | 'find';

/** The helper chosen for a connection: node with the uploaded script, or GNU find alone. */
export type HelperRuntime = { readonly kind: 'node'; readonly script: string } | { readonly kind: 'find' };

/** How long a command that answers at once (a probe, a helper starting) may take. */
export const PROBE_TIMEOUT_MS = 15_000;
export { MIN_NODE_MAJOR } from './helperScript';

/** What the capability probe found. */
export interface ProbeOutcome {
  /** The helper to use; undefined: none (`reason` says why). */
  readonly runtime: HelperRuntime | undefined;
  readonly reason: string;
  /**
   * The server answered about node clearly: the node helper runs there, or there is no node (or one
   * too old). Only such an answer is worth remembering; a command that could not run, timed out or was
   * cut by a lost connection, or a helper that could not be installed, says nothing about the server.
   */
  readonly clear: boolean;
}

/**
 * The capability ladder, probed once per connection: node >= 14 (the full helper), else GNU find with
 * -printf (fast listing only), else nothing (plain SFTP). `want` restricts the choice. `inspected` is
 * what a caller already found in the helper's place (see inspectHelper); looked up here otherwise,
 * alongside the command.
 */
export async function probeHelper(spawn: Spawn, sftp: Sftp | Promise<Sftp>, want: 'auto' | HelperKind, debug?: (m: string) => void, inspected?: Promise<HelperInspection>): Promise<ProbeOutcome> {
  const reasons: string[] = [];
  let commandsHang = false;
  let clear = false;
  // The command's round trip (a login shell on the server) overlaps opening SFTP.
  const asked = want === 'find' ? undefined : run(spawn, 'node --version', '', PROBE_TIMEOUT_MS).catch((err: Error) => err);
  const files = await sftp;
  if (asked) {
    // Whether the helper is already in place, looked up meanwhile (uploaded only where node runs).
    const present = (inspected ?? inspectHelper(files)).catch((err: Error) => err);
    const node = await asked;
    const version = node instanceof Error ? undefined : /^v(\d+)\.\d+/.exec(node.stdout.toString('utf8').trim());
    if (node instanceof Error) {
      reasons.push(`cannot run commands (${node.message})`);
      // A server whose commands do not answer will not answer the next probe either.
      commandsHang = /did not finish/.test(node.message);
    }
    // No exit status: the channel closed under it (a lost connection), which says nothing about node.
    else if (node.code === null) reasons.push('cannot run commands (the command was cut off)');
    else if (!version) {
      reasons.push('no node on the server');
      clear = true;
    } else if (Number(version[1]) < MIN_NODE_MAJOR) {
      reasons.push(`node ${version[0]} on the server is older than ${MIN_NODE_MAJOR}`);
      clear = true;
    } else {
      try {
        // No trial run: `node --version` answered, and the script is checked by hash; a helper that
        // still fails makes that one operation fall back to SFTP.
        const found = await present;
        if (found instanceof Error) throw found;
        return { runtime: { kind: 'node', script: found.state === 'ours' ? found.path : await installHelper(files, debug, found) }, reason: '', clear: true };
      } catch (err) {
        reasons.push(`cannot install the helper (${(err as Error).message})`);
      }
    }
    debug?.(`helper: node unusable: ${reasons.join('; ')}`);
  }
  if (want !== 'node' && !commandsHang) {
    const find = await run(spawn, `LC_ALL=C find / -maxdepth 0 -printf 'ok%y\\0'`, '', PROBE_TIMEOUT_MS).catch((err: Error) => err);
    if (!(find instanceof Error) && find.code === 0 && find.stdout.toString('latin1') === 'okd\0') return { runtime: { kind: 'find' }, reason: '', clear };
    reasons.push(find instanceof Error || find.code === null ? `cannot run commands (${find instanceof Error ? find.message : 'the command was cut off'})` : 'no GNU find with -printf on the server');
  }
  return { runtime: undefined, reason: reasons.join('; '), clear };
}

/**
 * What is in the helper's place on the server: `ours` (real directories on the way, the exact
 * script), `absent`, `other` (some other file there: replaced by installHelper), or `unsafe` (a
 * directory on the way is not a real one). Nothing is created. The file is read and hashed only when
 * it is there: a missing helper is known after one round trip.
 */
export interface HelperInspection {
  readonly path: string;
  readonly dirs: readonly string[];
  readonly state: 'ours' | 'absent' | 'other' | 'unsafe';
}

export async function inspectHelper(sftp: Sftp): Promise<HelperInspection> {
  // Paths relative to the login directory (where SFTP starts) go out with the realpath, not after it.
  const [home, ...found] = await Promise.all([sftp.realpath('.'), ...HELPER_PLACE.map((p) => sftp.lstatOrUndefined(p))]);
  const base = home.replace(/\/+$/, '');
  const [path, ...dirs] = [`${base}/${HELPER_PLACE[2]}`, `${base}/${HELPER_PLACE[0]}`, `${base}/${HELPER_PLACE[1]}`];
  const [cache, folder, file] = found;
  const state = (st: typeof cache) => (st === undefined ? 'absent' : (st.mode & S_IFMT) === S_IFDIR ? 'dir' : 'other');
  if (state(cache) === 'other' || state(folder) === 'other') return { path, dirs, state: 'unsafe' };
  if (file === undefined || state(folder) === 'absent') return { path, dirs, state: 'absent' };
  if ((file.mode & S_IFMT) !== S_IFREG) return { path, dirs, state: 'other' };
  return { path, dirs, state: (await remoteSha256(sftp, path)) === HELPER_SHA256 ? 'ours' : 'other' };
}

/** The helper's place, relative to the login directory: ~/.cache, ~/.cache/ssh-sync, the script. */
const HELPER_PLACE = ['.cache', '.cache/ssh-sync', `.cache/ssh-sync/${HELPER_FILE}`] as const;

/**
 * Puts the helper at ~/.cache/ssh-sync/helper-<VERSION>-<sha8>.js unless an identical copy is there:
 * the file found is hashed (a stale or tampered copy is replaced), a new one is written to a temp name
 * and renamed into place, then read back and checked. Returns its absolute path. `inspected` is what
 * inspectHelper found just now: the file is not hashed again.
 */
export async function installHelper(sftp: Sftp, debug?: (m: string) => void, inspected?: HelperInspection): Promise<string> {
  const { path, dirs, state } = inspected ?? (await inspectHelper(sftp));
  if (state === 'ours') return path;
  const folder = dirs[dirs.length - 1];
  for (const dir of dirs) {
    const st = await sftp.lstatOrUndefined(dir);
    if (!st) await sftp.mkdir(dir, 0o700).catch(async (err) => {
      if (!(await sftp.lstatOrUndefined(dir))) throw err;
    });
    else if ((st.mode & S_IFMT) !== S_IFDIR) throw new Error(`${dir} is not a directory`);
  }
  debug?.(`helper: uploading ${path}`);
  const temp = `${folder}/.${HELPER_FILE}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await sftp.open(temp, 'wx', { mode: 0o600 });
  try {
    await sftp.upload(handle, Readable.from([Buffer.from(HELPER_SCRIPT)]));
  } finally {
    await sftp.close(handle).catch(() => undefined);
  }
  try {
    if (sftp.hasExtension('posix-rename@openssh.com')) await sftp.posixRename(temp, path);
    else {
      await sftp.unlink(path).catch(() => undefined);
      await sftp.rename(temp, path);
    }
  } catch (err) {
    await sftp.unlink(temp).catch(() => undefined);
    throw err;
  }
  const now = await remoteSha256(sftp, path);
  if (now !== HELPER_SHA256) throw new Error(`the helper at ${path} does not match what was uploaded`);
  return path;
}

async function remoteSha256(sftp: Sftp, path: string): Promise<string | undefined> {
  try {
    const hash = createHash('sha256');
    for await (const chunk of await sftp.download(path)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  } catch (err) {
    if (isNotFound(err) || (err as SyncError).code === 'NotFound') return undefined;
    throw err;
  }
}

/**
 * One field of a helper's NUL-terminated output, held as latin1 text (one character per byte): a
 * listing of 100,000 paths is 1.1 million fields, and a Buffer for each cost more than reading them.
 */
export class NulField {
  constructor(private readonly bytes: string) {}

  /** In bytes. */
  get length(): number {
    return this.bytes.length;
  }

  toString(encoding: 'latin1' | 'utf8'): string {
    return encoding === 'latin1' || ASCII.test(this.bytes) ? this.bytes : Buffer.from(this.bytes, 'latin1').toString('utf8');
  }
}

const ASCII = /^[\x00-\x7f]*$/;

/** nulRecords() with each field as a NulField. */
export async function* nulTextRecords(stream: AsyncIterable<Buffer>, width: number): AsyncGenerator<NulField[]> {
  let rest = '';
  let fields: NulField[] = [];
  for await (const chunk of stream) {
    const text = rest + chunk.toString('latin1');
    let start = 0;
    let z: number;
    while ((z = text.indexOf('\0', start)) >= 0) {
      fields.push(new NulField(text.slice(start, z)));
      start = z + 1;
      if (fields.length === width) {
        yield fields;
        fields = [];
      }
    }
    rest = text.slice(start);
  }
}

/**
 * Splits a stream of NUL-terminated fields into records of `width` fields, as they arrive. The last
 * partial record (a helper cut short) is dropped.
 */
export async function* nulRecords(stream: AsyncIterable<Buffer>, width: number): AsyncGenerator<Buffer[]> {
  let rest: Buffer = Buffer.alloc(0);
  let fields: Buffer[] = [];
  for await (const chunk of stream) {
    const buf = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
    let start = 0;
    let z: number;
    while ((z = buf.indexOf(0, start)) >= 0) {
      fields.push(buf.subarray(start, z));
      start = z + 1;
      if (fields.length === width) {
        yield fields;
        fields = [];
      }
    }
    rest = buf.subarray(start);
  }
}
