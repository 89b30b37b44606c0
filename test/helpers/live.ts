import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './cli';
import { waitFor } from './tmp';

/** A running `ssh-sync watch` (or `sync --interval`) process, with its output collected. */
export class LiveSync {
  stdout = '';
  stderr = '';
  private readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d) => (this.stdout += d));
    child.stderr!.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  /** Starts it and waits until the initial sync is done and it is watching. */
  static async start(args: string[], readyText = /watching for changes|syncing every/): Promise<LiveSync> {
    const live = new LiveSync(spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let exited = false;
    void live.exited.then(() => (exited = true));
    await waitFor(() => readyText.test(live.stdout) || exited, 30_000, 'the live sync to start');
    if (exited) throw new Error(`ssh-sync exited early:\n${live.stdout}\n${live.stderr}`);
    return live;
  }

  /** Ctrl-C: resolves with the exit code. */
  async stop(): Promise<number | null> {
    this.child.kill('SIGINT');
    return this.exited;
  }
}
