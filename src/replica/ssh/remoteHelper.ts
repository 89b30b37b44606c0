import { createHash } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { SyncError } from '../../errors';
import { HELPER_FILE, HELPER_SCRIPT, HELPER_SHA256 } from './helperScript';
import { isNotFound, S_IFDIR, S_IFMT, type Sftp } from './sftpClient';

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
export const MIN_NODE_MAJOR = 14;

/**
 * The capability ladder, probed once per connection: node >= 14 (the full helper), else GNU find with
 * -printf (fast listing only), else nothing (plain SFTP). `want` restricts the choice. Returns the
 * runtime, or a reason why there is none.
 */
export async function probeHelper(spawn: Spawn, sftp: Sftp | Promise<Sftp>, want: 'auto' | HelperKind, debug?: (m: string) => void): Promise<HelperRuntime | string> {
  const reasons: string[] = [];
  let commandsHang = false;
  // The command's round trip (a login shell on the server) overlaps opening SFTP.
  const asked = want === 'find' ? undefined : run(spawn, 'node --version', '', PROBE_TIMEOUT_MS).catch((err: Error) => err);
  const files = await sftp;
  if (asked) {
    // Whether the helper is already in place, looked up meanwhile (uploaded only where node runs).
    const present = installedHelper(files).catch((err: Error) => err);
    const node = await asked;
    const version = node instanceof Error ? undefined : /^v(\d+)\.\d+/.exec(node.stdout.toString('utf8').trim());
    if (node instanceof Error) {
      reasons.push(`cannot run commands (${node.message})`);
      // A server whose commands do not answer will not answer the next probe either.
      commandsHang = /did not finish/.test(node.message);
    }
    else if (!version) reasons.push('no node on the server');
    else if (Number(version[1]) < MIN_NODE_MAJOR) reasons.push(`node ${version[0]} on the server is older than ${MIN_NODE_MAJOR}`);
    else {
      try {
        // No trial run: `node --version` answered, and the script is checked by hash; a helper that
        // still fails makes that one operation fall back to SFTP.
        const found = await present;
        return { kind: 'node', script: typeof found === 'string' ? found : await installHelper(files, debug) };
      } catch (err) {
        reasons.push(`cannot install the helper (${(err as Error).message})`);
      }
    }
    debug?.(`helper: node unusable: ${reasons.join('; ')}`);
  }
  if (want !== 'node' && !commandsHang) {
    const find = await run(spawn, `LC_ALL=C find / -maxdepth 0 -printf 'ok%y\\0'`, '', PROBE_TIMEOUT_MS).catch((err: Error) => err);
    if (!(find instanceof Error) && find.code === 0 && find.stdout.toString('latin1') === 'okd\0') return { kind: 'find' };
    reasons.push(find instanceof Error ? `cannot run commands (${find.message})` : 'no GNU find with -printf on the server');
  }
  return reasons.join('; ');
}

/**
 * Puts the helper at ~/.cache/ssh-sync/helper-<VERSION>-<sha8>.js unless an identical copy is there:
 * the file found is hashed (a stale or tampered copy is replaced), a new one is written to a temp name
 * and renamed into place, then read back and checked. Returns its absolute path.
 */
export async function installHelper(sftp: Sftp, debug?: (m: string) => void): Promise<string> {
  const { path, dirs } = await helperPath(sftp);
  const folder = dirs[dirs.length - 1];
  for (const dir of dirs) {
    const st = await sftp.lstatOrUndefined(dir);
    if (!st) await sftp.mkdir(dir, 0o700).catch(async (err) => {
      if (!(await sftp.lstatOrUndefined(dir))) throw err;
    });
    else if ((st.mode & S_IFMT) !== S_IFDIR) throw new Error(`${dir} is not a directory`);
  }
  if ((await remoteSha256(sftp, path)) === HELPER_SHA256) return path;
  debug?.(`helper: uploading ${path}`);
  const temp = `${folder}/.${HELPER_FILE}.${process.pid}.${Date.now().toString(36)}.tmp`;
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

/**
 * The helper's path when it is installed as installHelper would leave it: real directories on the way
 * (a symlinked ~/.cache could point where others may swap the file between this check and its run) and
 * the exact script. Undefined otherwise. Nothing is created.
 */
export async function installedHelper(sftp: Sftp): Promise<string | undefined> {
  const { path, dirs } = await helperPath(sftp);
  const kinds = await Promise.all(dirs.map((d) => sftp.lstatOrUndefined(d)));
  const real = kinds.every((st) => st !== undefined && (st.mode & S_IFMT) === S_IFDIR);
  return real && (await remoteSha256(sftp, path)) === HELPER_SHA256 ? path : undefined;
}

/** Where the helper lives on the server, and the directories on the way (nothing is created). */
async function helperPath(sftp: Sftp): Promise<{ path: string; dirs: string[] }> {
  const home = (await sftp.realpath('.')).replace(/\/+$/, '');
  return { path: `${home}/.cache/ssh-sync/${HELPER_FILE}`, dirs: [`${home}/.cache`, `${home}/.cache/ssh-sync`] };
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
