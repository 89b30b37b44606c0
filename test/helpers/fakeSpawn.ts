import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { RemoteProcess, Spawn } from '../../src/replica/ssh/remoteHelper';

/** A command started through a FakeSpawn, driven by the test. */
export class FakeProcess implements RemoteProcess {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly exit: Promise<number | null>;
  killed = false;
  private settle!: (code: number | null) => void;
  private settled = false;

  constructor(readonly command: string) {
    this.exit = new Promise((resolve) => (this.settle = resolve));
  }

  /** Ends the command with an exit status; null: its channel closed without one (a lost connection). */
  end(code: number | null, output: { stdout?: string; stderr?: string } = {}): void {
    if (this.settled) return;
    this.settled = true;
    this.stdout.end(output.stdout ?? '');
    this.stderr.end(output.stderr ?? '');
    // As over ssh, the exit status comes after the output has been read.
    void Promise.all([once(this.stdout, 'end'), once(this.stderr, 'end')]).then(() => this.settle(code));
  }

  kill(): void {
    this.killed = true;
    this.end(null);
  }

  /**
   * Answers like the helper's `receive`: the ready line (now, or when `ready()` is called), then every
   * committed file with a stat and the hash of its bytes; `received` holds what each file got.
   */
  actAsReceiver(options: { readyNow?: boolean } = {}): { ready(): void; received: Map<string, Buffer> } {
    const received = new Map<string, Buffer>();
    const files = new Map<number, { path: string; chunks: Buffer[] }>();
    let buffered = Buffer.alloc(0);
    let header = false;
    this.stdin.on('data', (d: Buffer) => {
      buffered = Buffer.concat([buffered, d]);
      if (!header) {
        const nl = buffered.indexOf(10);
        if (nl < 0) return;
        header = true;
        buffered = buffered.subarray(nl + 1);
      }
      while (buffered.length >= 9) {
        const length = buffered.readUInt32BE(5);
        if (buffered.length < 9 + length) break;
        const [type, id, payload] = [buffered[0], buffered.readUInt32BE(1), buffered.subarray(9, 9 + length)];
        buffered = buffered.subarray(9 + length);
        if (type === 0x42) files.set(id, { path: (JSON.parse(payload.toString('utf8')) as { p: string }).p, chunks: [] });
        else if (type === 0x44) files.get(id)?.chunks.push(Buffer.from(payload));
        else if (type === 0x43) {
          const file = files.get(id)!;
          const bytes = Buffer.concat(file.chunks);
          received.set(file.path, bytes);
          const h = createHash('sha256').update(bytes).digest('hex');
          this.stdout.write(JSON.stringify({ i: id, st: ['f', bytes.length, 1_700_000_000, 0o644, 0, 0], h }) + '\n');
        } else if (type === 0x4d) this.stdout.write(JSON.stringify({ i: id, st: ['d', 0, 1_700_000_000, 0o755, 0, 0] }) + '\n');
      }
    });
    const ready = () => void this.stdout.write('{"ready":true}\n');
    if (options.readyNow) ready();
    return { ready, received };
  }
}

/**
 * A Spawn whose commands are FakeProcesses: `started` lists them in order, and `onStart` (when set)
 * decides how each behaves as it starts.
 */
export class FakeSpawn {
  readonly started: FakeProcess[] = [];
  onStart: ((proc: FakeProcess) => void) | undefined;
  readonly spawn: Spawn = async (command) => {
    const proc = new FakeProcess(command);
    this.started.push(proc);
    this.onStart?.(proc);
    return proc;
  };

  commands(): string[] {
    return this.started.map((p) => p.command);
  }
}
