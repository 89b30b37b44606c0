import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { Duplex } from 'node:stream';
import { Client, utils, type AnyAuthMethod, type AuthenticationType, type ConnectConfig, type KeyboardInteractiveCallback, type NextAuthHandler, type Prompt } from 'ssh2';
import { SyncError } from '../../errors';
import { addKnownHost, checkHostKey, defaultKnownHostsFile, hostKeyError } from './hostKeys';
import { defaultSshConfigFile, expandTilde, loadSshConfig, parseJumpHosts, resolveHost, type HostQuery, type HostSettings } from './sshConfig';

export interface SshConnectOptions {
  /** Asks the user for a passphrase, password or keyboard-interactive answer; undefined means "cancel". */
  readonly askSecret?: (prompt: string) => Promise<string | undefined>;
  /** Identity files to use instead of the config's and the defaults. */
  readonly identityFiles?: readonly string[];
  readonly port?: number;
  readonly user?: string;
  /** Default ~/.ssh/config; null reads no config. */
  readonly sshConfigFile?: string | null;
  /** Default: the config's UserKnownHostsFile, else ~/.ssh/known_hosts. */
  readonly knownHostsFile?: string;
  /** Trust and record a key the known_hosts file does not know (never a changed one). */
  readonly acceptNewHostKey?: boolean;
  /**
   * With acceptNewHostKey: accept only a new key with this fingerprint (`SHA256:…`), the one the user
   * was shown and approved — not whatever key a second connection happens to present.
   */
  readonly acceptHostKeyFingerprint?: string;
  /** ssh-agent socket; default $SSH_AUTH_SOCK; false disables the agent. */
  readonly agent?: string | false;
  readonly debug?: (message: string) => void;
}

/** A connected client and everything it runs through (jump hosts, proxy command). */
export interface SshConnection {
  readonly client: Client;
  readonly settings: HostSettings;
  /** The host key the server presented (and that was checked). */
  readonly hostKey: Buffer;
  close(): Promise<void>;
}

const DEFAULT_IDENTITIES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_dsa'];

/** Connects to `query` the way `ssh` would: config, jump hosts or proxy command, host key check, auth. */
export async function connectSsh(query: HostQuery, options: SshConnectOptions = {}): Promise<SshConnection> {
  const config = options.sshConfigFile === null ? undefined : loadSshConfig(options.sshConfigFile ?? defaultSshConfigFile());
  const settings = resolveHost(config, { host: query.host, user: query.user ?? options.user, port: query.port ?? options.port });
  const cleanups: (() => void)[] = [];
  const closeAll = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        fn();
      } catch {
        // closing anyway
      }
    }
  };
  try {
    let sock: Duplex | undefined;
    if (settings.proxyJump) {
      let previous: Client | undefined;
      for (const hop of parseJumpHosts(settings.proxyJump)) {
        const hopSettings = resolveHost(config, hop);
        if (previous) sock = await forwardOut(previous, hopSettings.hostname, hopSettings.port);
        previous = await connectOne(hopSettings, sock, options);
        const hopClient = previous;
        cleanups.push(() => hopClient.end());
      }
      sock = await forwardOut(previous!, settings.hostname, settings.port);
    } else if (settings.proxyCommand) {
      sock = proxyCommand(settings.proxyCommand, cleanups);
    }
    let hostKey: Buffer = Buffer.alloc(0);
    const client = await connectOne(settings, sock, options, (key) => (hostKey = key));
    cleanups.push(() => client.end());
    return { client, settings, hostKey, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

function forwardOut(via: Client, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) =>
    via.forwardOut('127.0.0.1', 0, host, port, (err, stream) =>
      err ? reject(new SyncError('ConnectionLost', `the jump host could not reach ${host}:${port}: ${err.message}`)) : resolve(stream),
    ),
  );
}

function proxyCommand(command: string, cleanups: (() => void)[]): Duplex {
  const child = spawn('/bin/sh', ['-c', `exec ${command}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanups.push(() => child.kill());
  return Duplex.from({ readable: child.stdout, writable: child.stdin });
}

function connectOne(settings: HostSettings, sock: Duplex | undefined, options: SshConnectOptions, onHostKey?: (key: Buffer) => void): Promise<Client> {
  const knownHosts = options.knownHostsFile ?? settings.userKnownHostsFile ?? defaultKnownHostsFile();
  const client = new Client();
  let refusal: Error | undefined;
  const tried: string[] = [];
  const agent = options.agent === false ? undefined : (options.agent ?? agentSocket(settings));
  const cfg: ConnectConfig = {
    host: settings.hostname,
    port: settings.port,
    username: settings.user,
    sock,
    readyTimeout: (settings.connectTimeoutS ?? 30) * 1000,
    // A dead link with no TCP reset must fail the run, not hang it: probe every 15 s unless configured.
    keepaliveInterval: (settings.serverAliveIntervalS ?? 15) * 1000,
    keepaliveCountMax: settings.serverAliveCountMax ?? 3,
    debug: options.debug,
    hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
      verifyHostKey(settings, knownHosts, key, options.acceptNewHostKey === true, options.acceptHostKeyFingerprint).then(
        () => {
          onHostKey?.(key);
          verify(true);
        },
        (err) => {
          refusal = err;
          verify(false);
        },
      );
    },
    authHandler: authHandler(settings, options, agent, tried),
  };
  return new Promise((resolve, reject) => {
    const onError = (err: Error & { level?: string }) => {
      client.end();
      if (refusal) return reject(refusal);
      if (err.level === 'client-authentication') {
        return reject(new SyncError('AuthFailed', `authentication to ${settings.user}@${settings.hostname} failed (tried: ${tried.join(', ') || 'nothing'})`));
      }
      if (err.level === 'client-timeout') return reject(new SyncError('ConnectionLost', `timed out connecting to ${settings.hostname}:${settings.port}`));
      reject(new SyncError('ConnectionLost', `cannot connect to ${settings.hostname}:${settings.port}: ${err.message}`));
    };
    client.once('error', onError);
    client.once('ready', () => {
      client.removeListener('error', onError);
      // Later transport errors surface through the channels; an unhandled 'error' would crash.
      client.on('error', () => undefined);
      resolve(client);
    });
    client.connect(cfg);
    // SFTP is request/response in small packets: with Nagle's algorithm on, each waits for the
    // server's delayed ACK (~40 ms). Off, as OpenSSH does for interactive and SFTP sessions.
    client.setNoDelay(true);
    coalesceWrites((client as unknown as { _sock?: Duplex })._sock);
  });
}

/**
 * ssh2 writes every SSH packet to the socket on its own: a 512 MiB file is 16,000 writes, each a
 * syscall (and, with TCP_NODELAY, a segment). Packets written in one turn of the event loop are held
 * (cork) and go out together in one writev when it ends: fewer syscalls, same order, no added wait.
 */
function coalesceWrites(sock: Duplex | undefined): void {
  if (!sock || typeof sock.cork !== 'function') return;
  const write = sock.write.bind(sock) as (...args: unknown[]) => boolean;
  let corked = false;
  sock.write = ((...args: unknown[]) => {
    if (!corked && !sock.writableCorked) {
      corked = true;
      sock.cork();
      process.nextTick(() => {
        corked = false;
        sock.uncork();
      });
    }
    return write(...args);
  }) as typeof sock.write;
}

async function verifyHostKey(settings: HostSettings, file: string, key: Buffer, acceptNew: boolean, onlyFingerprint: string | undefined): Promise<void> {
  const verdict = await checkHostKey(file, settings.hostname, settings.port, key);
  if (verdict.status === 'unknown' && acceptNew && (onlyFingerprint === undefined || onlyFingerprint === verdict.fingerprint)) {
    await addKnownHost(file, settings.hostname, settings.port, key);
    return;
  }
  const err = hostKeyError(verdict, settings.hostname, settings.port, file);
  if (err) throw err;
}

function agentSocket(settings: HostSettings): string | undefined {
  const configured = settings.identityAgent;
  if (configured === undefined || configured === 'SSH_AUTH_SOCK') return process.env.SSH_AUTH_SOCK || undefined;
  if (configured.toLowerCase() === 'none') return undefined;
  if (configured.startsWith('$')) return process.env[configured.slice(1)] || undefined;
  return expandTilde(configured);
}


type Attempt = () => Promise<AnyAuthMethod | undefined>;

/** OpenSSH's order: none, agent, key files (passphrase asked), keyboard-interactive, password. */
function authHandler(settings: HostSettings, options: SshConnectOptions, agent: string | undefined, tried: string[]) {
  const username = settings.user;
  const ask = options.askSecret;
  const queue: { method: AuthenticationType; label: string; attempt: Attempt }[] = [];
  queue.push({ method: 'none', label: 'none', attempt: async () => ({ type: 'none', username }) });
  if (agent && !settings.identitiesOnly) queue.push({ method: 'publickey', label: 'agent', attempt: async () => ({ type: 'agent', username, agent }) });
  const explicit = options.identityFiles ?? settings.identityFiles;
  const files = explicit.length > 0 ? explicit.map(expandTilde) : DEFAULT_IDENTITIES.map((n) => nodePath.join(os.homedir(), '.ssh', n));
  for (const file of files) {
    queue.push({ method: 'publickey', label: `key ${file}`, attempt: () => loadKey(file, username, ask) });
  }
  if (ask) {
    queue.push({
      method: 'keyboard-interactive',
      label: 'keyboard-interactive',
      attempt: async () => ({
        type: 'keyboard-interactive',
        username,
        prompt: (_name: string, _instructions: string, _lang: string, prompts: Prompt[], finish: KeyboardInteractiveCallback) => {
          (async () => {
            const answers: string[] = [];
            for (const p of prompts) {
              const answer = await ask(p.prompt.trim() || `${username}@${settings.hostname}:`);
              if (answer === undefined) return finish([]);
              answers.push(answer);
            }
            finish(answers);
          })().catch(() => finish([]));
        },
      }),
    });
    queue.push({
      method: 'password',
      label: 'password',
      attempt: async () => {
        const password = await ask(`Password for ${username}@${settings.hostname}:`);
        return password === undefined ? undefined : { type: 'password', username, password };
      },
    });
  }
  return (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, next: NextAuthHandler) => {
    (async () => {
      while (queue.length > 0) {
        const item = queue.shift()!;
        if (methodsLeft && !methodsLeft.includes(item.method)) continue;
        const auth = await item.attempt().catch(() => undefined);
        if (auth) {
          if (item.label !== 'none') tried.push(item.label);
          return next(auth);
        }
      }
      // ssh2 reads `false` as "no more methods" (its typings omit it).
      next(false as unknown as AuthenticationType);
    })().catch(() => {
      // The connection ended while a method was being prepared: nothing is left to answer.
    });
  };
}

async function loadKey(file: string, username: string, ask: SshConnectOptions['askSecret']): Promise<AnyAuthMethod | undefined> {
  if (!existsSync(file)) return undefined;
  const data = await fs.readFile(file);
  let parsed = utils.parseKey(data);
  if (!(parsed instanceof Error)) return { type: 'publickey', username, key: data };
  if (!/encrypted|passphrase/i.test(parsed.message) || !ask) return undefined;
  for (let i = 0; i < 3; i++) {
    const passphrase = await ask(`Passphrase for key ${file}:`);
    if (passphrase === undefined) return undefined;
    parsed = utils.parseKey(data, passphrase);
    if (!(parsed instanceof Error)) return { type: 'publickey', username, key: data, passphrase };
  }
  return undefined;
}
