import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';

/** `$XDG_STATE_HOME/ssh-sync`, else `~/.local/state/ssh-sync`. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_STATE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.local', 'state'), 'ssh-sync');
}

/** Names may only use characters safe in a file name on every platform. */
export function isValidSessionName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name);
}

/** One snapshot database per session, keyed by its name or by local root + peer. */
export function snapshotFile(stateDir: string, localRoot: string, peer: string, name?: string): string {
  if (name) return path.join(stateDir, `${name}.db`);
  const id = createHash('sha256').update(`${localRoot}\n${peer}`).digest('hex').slice(0, 12);
  const label = path.basename(localRoot).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 32) || 'root';
  return path.join(stateDir, `${label}-${id}.db`);
}

/**
 * Beside a snapshot: when a run last found nothing to do. Such a run does not save the snapshot (a
 * large one costs more to write than the whole run), so `status` reads the time from here.
 */
export function quietRunFile(snapshot: string): string {
  return `${snapshot}.checked`;
}
