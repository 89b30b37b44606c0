import { SyncError } from '../../errors';
import type { ProbeCache } from './probeCache';
import { installedHelper, probeHelper, type HelperKind, type HelperRuntime, type Spawn } from './remoteHelper';
import type { Sftp } from './sftpClient';

/**
 * A helper taken on trust at connection time (remembered from an earlier run, or found installed by
 * hash), not yet seen running on this connection. The replica reports how its first command went:
 * `proven()` once the helper answered, `recheck()` when it did not start (node gone, helper gone), which
 * probes afresh, once, and remembers the new verdict. Only a command that did nothing on the server
 * (no output at all, or a write stream that never said it was ready) is taken as "did not start", so a
 * wrong guess costs one more round trip and never a wrong result.
 */
export interface HelperCheck {
  proven(): void;
  /** The runtime to use from now on (undefined: plain SFTP). Throws a usage error where the helper tier is insisted on and there is none. */
  recheck(why: string): Promise<HelperRuntime | undefined>;
}

export interface HelperChoice {
  readonly runtime: HelperRuntime;
  /** Present when the runtime is taken on trust (see HelperCheck). */
  readonly check?: HelperCheck;
}

export interface ChooseOptions {
  readonly want: 'auto' | HelperKind;
  /** The helper tier is required: no helper is an error. */
  readonly insist: boolean;
  readonly label: string;
  readonly cache?: ProbeCache;
  readonly debug?: (m: string) => void;
}

/**
 * The helper for a new connection, in one exec round trip fewer than a probe where it can: a node
 * helper remembered for this server (or, with nothing remembered, one found installed in the home
 * directory: some run found node there) is used if the file is still exactly ours; otherwise the
 * capability ladder is probed as always and its verdict remembered. Returns a reason where there is none.
 */
export async function chooseHelper(spawn: Spawn, opening: Promise<Sftp>, options: ChooseOptions): Promise<HelperChoice | string> {
  const { cache, want, debug } = options;
  const remembered = cache && want !== 'find' ? await cache.read() : undefined;
  if (cache && want !== 'find' && remembered?.kind !== 'probe') {
    const sftp = await opening;
    const script = await installedHelper(sftp).catch(() => undefined);
    if (script !== undefined && (remembered === undefined || remembered.script === script)) {
      debug?.(`helper: ${remembered ? 'remembered' : 'found installed'} at ${script}; not probed`);
      return { runtime: { kind: 'node', script }, check: new TrustedHelper(spawn, sftp, options, script, remembered !== undefined) };
    }
    debug?.(`helper: ${remembered ? 'not as remembered' : 'not installed'}; probing`);
  }
  const found = await probeAndRemember(spawn, opening, options);
  return typeof found === 'string' ? found : { runtime: found };
}

async function probeAndRemember(spawn: Spawn, sftp: Sftp | Promise<Sftp>, options: ChooseOptions): Promise<HelperRuntime | string> {
  const found = await probeHelper(spawn, sftp, options.want, options.debug);
  // A probe restricted to find says nothing about node.
  if (options.cache && options.want !== 'find') {
    await options.cache.write(typeof found !== 'string' && found.kind === 'node' ? found : { kind: 'probe' }, options.debug);
  }
  return found;
}

class TrustedHelper implements HelperCheck {
  private settled = false;
  private rechecking: Promise<HelperRuntime | undefined> | undefined;

  constructor(
    private readonly spawn: Spawn,
    private readonly sftp: Sftp,
    private readonly options: ChooseOptions,
    private readonly script: string,
    private readonly remembered: boolean,
  ) {}

  proven(): void {
    if (this.settled) return;
    this.settled = true;
    if (!this.remembered) void this.options.cache?.write({ kind: 'node', script: this.script }, this.options.debug);
  }

  /** Probes once; commands that failed together share that one probe. */
  recheck(why: string): Promise<HelperRuntime | undefined> {
    if (this.rechecking) return this.rechecking;
    if (this.settled) return Promise.resolve({ kind: 'node', script: this.script });
    this.settled = true;
    this.rechecking = this.probe(why);
    return this.rechecking;
  }

  private async probe(why: string): Promise<HelperRuntime | undefined> {
    this.options.debug?.(`helper: ${why}; probing the server again`);
    const found = await probeAndRemember(this.spawn, this.sftp, this.options);
    if (typeof found !== 'string') return found;
    if (this.options.insist) throw new SyncError('Usage', `${this.options.label}: the helper tier is not available on this server: ${found}`);
    this.options.debug?.(`${this.options.label}: using plain SFTP (${found})`);
    return undefined;
  }
}
