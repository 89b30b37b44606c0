import { SyncError } from '../../errors';
import type { ProbeCache } from './probeCache';
import { inspectHelper, probeHelper, type HelperInspection, type HelperKind, type HelperRuntime, type Spawn } from './remoteHelper';
import type { Sftp } from './sftpClient';

/** What a fresh probe found: the runtime to use from now on (undefined: plain SFTP), and whether the server answered clearly (see ProbeOutcome). */
export interface Recheck {
  readonly runtime: HelperRuntime | undefined;
  readonly clear: boolean;
}

/**
 * A helper taken on trust at connection time (remembered from an earlier run, or found installed by
 * hash), not yet seen running on this connection. The replica reports how its first command went:
 * `proven()` once the helper answered, `recheck()` when it did not start (node gone, helper gone), which
 * probes afresh, once, and remembers the new verdict if the answer is clear. Only a command that did
 * nothing on the server (no output at all, or a write stream that never said it was ready) and ended
 * with an exit status is taken as "did not start", so a wrong guess costs one more round trip and never
 * a wrong result; a command cut by a lost connection says nothing and is not reported.
 */
export interface HelperCheck {
  proven(): void;
  /** Probes (once; later calls share it). Throws a usage error where the helper tier is insisted on and the server clearly has none. */
  recheck(why: string): Promise<Recheck>;
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
 * capability ladder is probed as always and a clear verdict remembered. Returns a reason where there is none.
 *
 * The helper's place is looked at once: a missing file is known after one SFTP round trip and the
 * probe's command starts then; what was found goes to the probe, which neither looks nor hashes again.
 */
export async function chooseHelper(spawn: Spawn, opening: Promise<Sftp>, options: ChooseOptions): Promise<HelperChoice | string> {
  const { cache, want, debug } = options;
  const remembered = cache && want !== 'find' ? await cache.read() : undefined;
  let inspected: Promise<HelperInspection> | undefined;
  if (cache && want !== 'find' && remembered?.kind !== 'probe') {
    const sftp = await opening;
    const found = await inspectHelper(sftp).catch(() => undefined);
    // A look that failed is taken again by the probe.
    inspected = found && Promise.resolve(found);
    if (found?.state === 'ours' && (remembered === undefined || remembered.script === found.path)) {
      debug?.(`helper: ${remembered ? 'remembered' : 'found installed'} at ${found.path}; not probed`);
      return { runtime: { kind: 'node', script: found.path }, check: new TrustedHelper(spawn, sftp, options, found.path, remembered !== undefined) };
    }
    debug?.(`helper: ${remembered ? 'not as remembered' : 'not installed'}; probing`);
  }
  const found = await probeAndRemember(spawn, opening, options, inspected);
  return found.runtime ? { runtime: found.runtime } : found.reason;
}

async function probeAndRemember(spawn: Spawn, sftp: Sftp | Promise<Sftp>, options: ChooseOptions, inspected?: Promise<HelperInspection>): Promise<{ runtime: HelperRuntime | undefined; reason: string; clear: boolean }> {
  const found = await probeHelper(spawn, sftp, options.want, options.debug, inspected);
  // A probe restricted to find says nothing about node; an unclear answer (commands that did not run,
  // a lost connection) leaves what was remembered as it was.
  if (options.cache && options.want !== 'find' && found.clear) {
    await options.cache.write(found.runtime?.kind === 'node' ? found.runtime : { kind: 'probe' }, options.debug);
  }
  return found;
}

class TrustedHelper implements HelperCheck {
  private answered = false;
  private rechecking: Promise<Recheck> | undefined;

  constructor(
    private readonly spawn: Spawn,
    private readonly sftp: Sftp,
    private readonly options: ChooseOptions,
    private readonly script: string,
    /** The verdict came from memory (nothing to write when the helper runs). */
    private remembered: boolean,
  ) {}

  proven(): void {
    if (this.answered) return;
    this.answered = true;
    if (!this.remembered) {
      this.remembered = true;
      void this.options.cache?.write({ kind: 'node', script: this.script }, this.options.debug);
    }
  }

  /** Probes once; commands that failed together share that one probe. */
  recheck(why: string): Promise<Recheck> {
    if (this.rechecking) return this.rechecking;
    if (this.answered) return Promise.resolve({ runtime: { kind: 'node', script: this.script }, clear: true });
    this.rechecking = this.probe(why);
    return this.rechecking;
  }

  private async probe(why: string): Promise<Recheck> {
    this.options.debug?.(`helper: ${why}; probing the server again`);
    const found = await probeAndRemember(this.spawn, this.sftp, this.options);
    // A clear verdict is remembered by the probe: proven() has nothing to add.
    if (found.clear) this.remembered = true;
    if (found.runtime) return { runtime: found.runtime, clear: found.clear };
    if (this.options.insist && found.clear) throw new SyncError('Usage', `${this.options.label}: the helper tier is not available on this server: ${found.reason}`);
    this.options.debug?.(`${this.options.label}: ${found.clear ? 'using plain SFTP' : 'cannot tell whether the helper runs'} (${found.reason})`);
    return { runtime: undefined, clear: found.clear };
  }
}
