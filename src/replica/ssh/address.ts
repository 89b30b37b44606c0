import { SyncError } from '../../errors';

/** A remote folder named by the user. `host` may be an ~/.ssh/config alias. */
export interface SshAddress {
  readonly user?: string;
  readonly host: string;
  readonly port?: number;
  /** Absolute, or `~` / `~/...` (relative to the remote home). */
  readonly path: string;
  /** The string it was parsed from. */
  readonly original: string;
}

const SCP_FORM = /^(?:([^@:/]+(?:@[^@:/]+)*)@)?(\[[^\]/]+\]|[^:/@[\]]+)(?::(\d+))?:(.*)$/s;

/**
 * Parses `[user@]host[:port]:/path`, `ssh://[user@]host[:port]/path` and `alias:/path`. Returns undefined
 * for anything that is a local path (`./b`, `/tmp/x`, `C:\x`, `name` without a colon).
 */
export function parseSshAddress(s: string): SshAddress | undefined {
  if (/^ssh:\/\//i.test(s)) return parseUrl(s);
  if (/^[A-Za-z]:([\\/]|$)/.test(s)) return undefined; // Windows drive
  const colon = s.indexOf(':');
  if (colon < 0) return undefined;
  if (s.slice(0, colon).includes('/') || s.slice(0, colon).includes('\\')) return undefined; // ./a:b is local
  if (s.startsWith('.') || s.startsWith('~')) return undefined;
  const m = SCP_FORM.exec(s);
  if (!m) return undefined;
  const [, user, rawHost, port, path] = m;
  return build(s, user, unbracket(rawHost), port, path);
}

function parseUrl(s: string): SshAddress {
  const m = /^ssh:\/\/(?:([^@/]+)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?(\/.*)?$/is.exec(s);
  if (!m) throw new SyncError('Usage', `'${s}' is not a valid ssh:// address (expected ssh://[user@]host[:port]/path)`);
  const [, user, rawHost, port, rest] = m;
  let path = rest ?? '';
  if (path.startsWith('/~')) path = path.slice(1); // ssh://host/~/x is relative to the home
  return build(s, user ? decodeURIComponent(user) : undefined, unbracket(rawHost), port, path);
}

function build(original: string, user: string | undefined, host: string, port: string | undefined, path: string): SshAddress {
  if (host === '') throw new SyncError('Usage', `'${original}': the host name is missing`);
  const portNum = port === undefined ? undefined : Number(port);
  if (portNum !== undefined && !(Number.isInteger(portNum) && portNum > 0 && portNum < 65536)) {
    throw new SyncError('Usage', `'${original}': port ${port} is not a valid TCP port`);
  }
  if (!(path.startsWith('/') || path === '~' || path.startsWith('~/'))) {
    throw new SyncError(
      'Usage',
      `'${original}': the remote path ${path === '' ? 'is missing' : `'${path}' is relative`}; give an absolute path (host:/srv/site) or one under the remote home (host:~/site)`,
    );
  }
  return { user, host, port: portNum, path, original };
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
