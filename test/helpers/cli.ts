import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

/** The command users run: the bundled CLI behind bin/ssh-sync.js (built by `npm test`'s pretest). */
export const CLI = path.resolve(__dirname, '..', '..', '..', 'bin', 'ssh-sync.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Called with the child right after it starts (to kill it mid-run, say). */
  readonly onSpawn?: (child: ChildProcess) => void;
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    options.onSpawn?.(child);
  });
}

/** A sandbox for CLI runs: local folder `a`, peer folder `b`, private state dir. */
export class Sandbox {
  constructor(readonly root: string) {}
  get a(): string {
    return path.join(this.root, 'a');
  }
  get b(): string {
    return path.join(this.root, 'b');
  }
  get state(): string {
    return path.join(this.root, 'state');
  }
  sync(...extra: string[]): Promise<CliResult> {
    return runCli(['sync', this.a, this.b, '--state-dir', this.state, ...extra]);
  }
  run(args: string[], options: CliOptions = {}): Promise<CliResult> {
    return runCli(args, { cwd: this.root, ...options });
  }
}
