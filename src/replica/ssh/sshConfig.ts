import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import SSHConfig from 'ssh-config';

export function defaultSshConfigFile(): string {
  return nodePath.join(os.homedir(), '.ssh', 'config');
}

/** What ~/.ssh/config says about one host, with tokens and `~` expanded. */
export interface HostSettings {
  /** The name given (an alias or a host name). */
  readonly alias: string;
  /** The host to connect to (HostName, or the alias). */
  readonly hostname: string;
  readonly user: string;
  readonly port: number;
  /** Identity files named by the config (empty: use the defaults). */
  readonly identityFiles: readonly string[];
  readonly identitiesOnly: boolean;
  readonly proxyJump?: string;
  readonly proxyCommand?: string;
  readonly serverAliveIntervalS?: number;
  readonly serverAliveCountMax?: number;
  readonly connectTimeoutS?: number;
  readonly userKnownHostsFile?: string;
  readonly identityAgent?: string;
}

export interface HostQuery {
  readonly host: string;
  readonly user?: string;
  readonly port?: number;
}

/** Reads a config file with its Include directives inlined; undefined when there is none. */
export function loadSshConfig(file: string = defaultSshConfigFile()): SSHConfig | undefined {
  if (!existsSync(file)) return undefined;
  return SSHConfig.parse(inlineIncludes(file, 0));
}

function inlineIncludes(file: string, depth: number): string {
  if (depth > 16) throw new Error(`${file}: Include nested too deeply`);
  const text = readFileSync(file, 'utf8');
  return text
    .split('\n')
    .map((line) => {
      const m = /^\s*Include\s*[=\s]\s*(.+?)\s*$/i.exec(line);
      if (!m) return line;
      const parts: string[] = [];
      for (const pattern of m[1].split(/\s+/)) {
        let p = expandTilde(pattern.replace(/^"|"$/g, ''));
        if (!nodePath.isAbsolute(p)) p = nodePath.join(nodePath.dirname(file), p);
        for (const included of globFiles(p)) parts.push(inlineIncludes(included, depth + 1));
      }
      return parts.join('\n');
    })
    .join('\n');
}

/** Expands `*` and `?` in the last path component only (what Include patterns use in practice). */
function globFiles(pattern: string): string[] {
  const dir = nodePath.dirname(pattern);
  const base = nodePath.basename(pattern);
  if (!/[*?]/.test(base)) return existsSync(pattern) ? [pattern] : [];
  const re = new RegExp('^' + base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  try {
    return readdirSync(dir)
      .filter((n) => re.test(n))
      .sort()
      .map((n) => nodePath.join(dir, n));
  } catch {
    return [];
  }
}

export function expandTilde(p: string): string {
  if (p === '~') return os.homedir();
  return p.startsWith('~/') ? nodePath.join(os.homedir(), p.slice(2)) : p;
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(' ') : v;
}

function num(v: string | string[] | undefined): number | undefined {
  const s = one(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** Resolves a host through the config; explicit query values win, like ssh's command line. */
export function resolveHost(config: SSHConfig | undefined, query: HostQuery): HostSettings {
  const c: Record<string, string | string[]> = config ? config.compute(query.host, { ignoreCase: true }) : {};
  const hostname = (one(c.hostname) ?? query.host).replace(/%h/g, query.host);
  const user = query.user ?? one(c.user) ?? os.userInfo().username;
  const port = query.port ?? num(c.port) ?? 22;
  const tokens = (s: string) =>
    s.replace(/%(.)/g, (all, t: string) => {
      switch (t) {
        case 'h':
          return hostname;
        case 'n':
          return query.host;
        case 'p':
          return String(port);
        case 'r':
          return user;
        case 'u':
          return os.userInfo().username;
        case 'd':
          return os.homedir();
        case '%':
          return '%';
        default:
          return all;
      }
    });
  const files = c.identityfile === undefined ? [] : Array.isArray(c.identityfile) ? c.identityfile : [c.identityfile];
  const proxyJump = one(c.proxyjump);
  const proxyCommand = one(c.proxycommand);
  const knownHosts = one(c.userknownhostsfile)?.split(/\s+/)[0];
  return {
    alias: query.host,
    hostname,
    user,
    port,
    identityFiles: files.map((f) => expandTilde(tokens(f))),
    identitiesOnly: one(c.identitiesonly)?.toLowerCase() === 'yes',
    proxyJump: proxyJump && proxyJump.toLowerCase() !== 'none' ? proxyJump : undefined,
    proxyCommand: proxyCommand && proxyCommand.toLowerCase() !== 'none' ? tokens(proxyCommand) : undefined,
    serverAliveIntervalS: num(c.serveraliveinterval),
    serverAliveCountMax: num(c.serveralivecountmax),
    connectTimeoutS: num(c.connecttimeout),
    userKnownHostsFile: knownHosts ? expandTilde(tokens(knownHosts)) : undefined,
    identityAgent: one(c.identityagent),
  };
}

/** `[user@]host[:port]` hops of a ProxyJump value (ssh:// URLs too). */
export function parseJumpHosts(value: string): HostQuery[] {
  return value.split(',').map((hop) => {
    const s = hop.trim().replace(/^ssh:\/\//i, '');
    const m = /^(?:(.+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(s);
    if (!m) throw new Error(`invalid ProxyJump host '${hop}'`);
    const host = m[2].startsWith('[') ? m[2].slice(1, -1) : m[2];
    return { host, user: m[1], port: m[3] ? Number(m[3]) : undefined };
  });
}
