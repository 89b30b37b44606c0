import { createHash, createHmac } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { SyncError } from '../../errors';

export function defaultKnownHostsFile(): string {
  return nodePath.join(os.homedir(), '.ssh', 'known_hosts');
}

/** OpenSSH's fingerprint: `SHA256:` + unpadded base64 of the SHA-256 of the key blob. */
export function fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** The key type named inside an SSH public key blob (its first string). */
export function keyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const len = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

/** The name known_hosts uses for a host: `host`, or `[host]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export type HostKeyVerdict =
  | { readonly status: 'known' }
  | { readonly status: 'unknown'; readonly fingerprint: string }
  | { readonly status: 'changed'; readonly fingerprint: string; readonly file: string; readonly line: number }
  | { readonly status: 'revoked'; readonly fingerprint: string; readonly file: string; readonly line: number };

interface KnownLine {
  readonly line: number;
  readonly marker?: string;
  readonly patterns: string;
  readonly type: string;
  readonly key: string;
}

function parseKnownHosts(text: string): KnownLine[] {
  const out: KnownLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0].startsWith('#')) return;
    const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
    if (fields.length < 3) return;
    out.push({ line: i + 1, marker, patterns: fields[0], type: fields[1], key: fields[2] });
  });
  return out;
}

function wildcardMatch(pattern: string, name: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i');
  return re.test(name);
}

/** True when a known_hosts host field names `name` (hashed `|1|salt|hash`, lists, wildcards, negation). */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('!')) {
      if (wildcardMatch(pattern.slice(1), name)) return false;
    } else if (wildcardMatch(pattern, name)) matched = true;
  }
  return matched;
}

/** Judges a server's key against a known_hosts file (a missing file knows nothing). */
export async function checkHostKey(file: string, host: string, port: number, keyBlob: Buffer): Promise<HostKeyVerdict> {
  let text = '';
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const name = knownHostsName(host, port);
  const type = keyType(keyBlob);
  const b64 = keyBlob.toString('base64');
  const fp = fingerprint(keyBlob);
  let changed: KnownLine | undefined;
  let known = false;
  for (const entry of parseKnownHosts(text)) {
    if (entry.marker === '@cert-authority') continue;
    if (!hostFieldMatches(entry.patterns, name)) continue;
    if (entry.marker === '@revoked') {
      if (entry.key === b64) return { status: 'revoked', fingerprint: fp, file, line: entry.line };
      continue;
    }
    if (entry.key === b64) known = true;
    else if (entry.type === type) changed ??= entry;
  }
  if (known) return { status: 'known' };
  if (changed) return { status: 'changed', fingerprint: fp, file, line: changed.line };
  return { status: 'unknown', fingerprint: fp };
}

/** Appends `name type key` to known_hosts, creating it (and ~/.ssh) if needed. */
export async function addKnownHost(file: string, host: string, port: number, keyBlob: Buffer): Promise<void> {
  await fs.mkdir(nodePath.dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const text = await fs.readFile(file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) prefix = '\n';
  } catch {
    // new file
  }
  await fs.appendFile(file, `${prefix}${knownHostsName(host, port)} ${keyType(keyBlob)} ${keyBlob.toString('base64')}\n`, { mode: 0o600 });
}

/** The SyncError for a verdict that refuses the connection. */
export function hostKeyError(verdict: HostKeyVerdict, host: string, port: number, file: string): SyncError | undefined {
  const name = knownHostsName(host, port);
  switch (verdict.status) {
    case 'known':
      return undefined;
    case 'unknown':
      return new SyncError(
        'HostKeyUnknown',
        `The authenticity of host ${name} cannot be established: its key ${verdict.fingerprint} is not in ${file}. Check the fingerprint with the server's administrator, then accept it (or add it with ssh-keyscan).`,
      );
    case 'changed':
      return new SyncError(
        'HostKeyChanged',
        `The host key of ${name} has CHANGED (now ${verdict.fingerprint}); it does not match ${verdict.file} line ${verdict.line}. Someone could be intercepting the connection. If the server was reinstalled, remove that line and connect again.`,
      );
    case 'revoked':
      return new SyncError('HostKeyChanged', `The host key of ${name} (${verdict.fingerprint}) is marked @revoked in ${verdict.file} line ${verdict.line}; refusing to connect.`);
  }
}
