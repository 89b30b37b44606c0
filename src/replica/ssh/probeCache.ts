import { createHash, randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { HELPER_SHA256 } from './helperScript';

/**
 * What the capability probe found on one server, remembered in the client's state dir so that a later
 * run can start the helper's command at once instead of probing first (each exec pays a login shell's
 * start-up). A remembered verdict is only a guess: the helper file is still checked by hash over SFTP,
 * and the first command of a connection that fails to start makes it probe afresh (see HelperChoice).
 *
 * One small JSON file per server, named by a hash of host, port, user, host key and helper build:
 * nothing to merge between processes, and a new helper build or a new server is simply a miss.
 */
export type RememberedVerdict =
  /** node ran here, and the helper was installed at `script`. */
  | { readonly kind: 'node'; readonly script: string }
  /** No node helper last time: probe again (never guess from an installed file: a shared home may hold one). */
  | { readonly kind: 'probe' };

export interface ServerIdentity {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The server's host key blob, when known: a different machine behind the same name is a different server. */
  readonly hostKey?: Buffer;
}

const FORMAT = 1;
/** A verdict file is a few hundred bytes: anything much bigger is not one. */
const MAX_SIZE = 64 * 1024;

export class ProbeCache {
  private constructor(readonly file: string) {}

  static for(stateDir: string, server: ServerIdentity): ProbeCache {
    const id = createHash('sha256')
      .update(JSON.stringify([server.host.toLowerCase(), server.port, server.user, server.hostKey?.toString('base64') ?? '', HELPER_SHA256]))
      .digest('hex');
    return new ProbeCache(nodePath.join(stateDir, 'ssh-servers', `${id.slice(0, 32)}.json`));
  }

  /** The remembered verdict; undefined when there is none or it cannot be read as one. */
  async read(): Promise<RememberedVerdict | undefined> {
    try {
      const data = JSON.parse(await readSmallFile(this.file, MAX_SIZE)) as { format?: unknown; helper?: unknown; kind?: unknown; script?: unknown };
      if (data.format !== FORMAT || data.helper !== HELPER_SHA256) return undefined;
      if (data.kind === 'probe') return { kind: 'probe' };
      if (data.kind === 'node' && typeof data.script === 'string' && data.script.startsWith('/')) return { kind: 'node', script: data.script };
      return undefined;
    } catch {
      return undefined;
    }
  }

  /** Remembers a verdict (temp file and rename: a reader sees the old one or the new one). Never throws. */
  async write(verdict: RememberedVerdict, debug?: (m: string) => void): Promise<void> {
    // A random name, created exclusively: two processes remembering at once never share a temp file.
    const temp = `${this.file}.${randomBytes(8).toString('hex')}.tmp`;
    try {
      await fs.mkdir(nodePath.dirname(this.file), { recursive: true, mode: 0o700 });
      await fs.writeFile(temp, JSON.stringify({ format: FORMAT, helper: HELPER_SHA256, ...verdict }) + '\n', { mode: 0o600, flag: 'wx' });
      await fs.rename(temp, this.file);
    } catch (err) {
      await fs.unlink(temp).catch(() => undefined);
      // Not remembering costs the next run a probe, nothing more.
      debug?.(`helper: cannot remember the probe's verdict (${(err as Error).message})`);
    }
  }
}

/**
 * A regular file's text, refused (throws) when it is anything else (a symlink, a FIFO that would block
 * the read) or bigger than `limit`: the state dir is ours, but what is in it is checked before use.
 */
async function readSmallFile(file: string, limit: number): Promise<string> {
  const handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error(`${file} is not a regular file`);
    if (st.size > limit) throw new Error(`${file} is too big`);
    const buffer = Buffer.alloc(st.size);
    const { bytesRead } = await handle.read(buffer, 0, st.size, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}
