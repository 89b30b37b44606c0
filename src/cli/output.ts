import type { Action } from '../engine/plan';
import type { SyncEvent, SyncSummary } from '../session/events';
import { LineBuffer, type LineSink } from './lineBuffer';

/** Renders session events for a terminal: one line per action as it happens, a summary at the end. */
export class TextOutput {
  private progressShown = false;
  private readonly out: LineBuffer;

  constructor(
    out: LineSink,
    private readonly err: NodeJS.WriteStream,
    private readonly quiet: boolean,
    /** Put before every line (the peer, when several run at once). */
    private readonly prefix = '',
  ) {
    this.out = new LineBuffer(out);
  }

  event(e: SyncEvent): void {
    switch (e.type) {
      case 'action':
        if (!this.quiet) this.line(`${e.dryRun ? '(dry run) ' : ''}${describeAction(e.action)}`);
        break;
      case 'failed':
        this.errLine(`FAILED ${describeAction(e.action)}: ${e.error.message}`);
        break;
      case 'conflict':
        this.line(`CONFLICT ${e.conflict.kind.padEnd(19)} ${e.conflict.path}`);
        break;
      case 'skip':
        if (!this.quiet) this.line(`skip  ${e.skip.path}: ${e.skip.reason}`);
        break;
      case 'problem':
        this.errLine(`PROBLEM ${e.side} ${e.path}: ${e.message}`);
        break;
      case 'warning':
        this.errLine(`warning: ${e.message}`);
        break;
      case 'progress':
        if (!this.quiet && this.err.isTTY && e.total >= 50) {
          this.err.write(`\r${e.done}/${e.total} actions, ${formatBytes(e.bytes)}  `);
          this.progressShown = true;
        }
        break;
      case 'state':
        break;
    }
  }

  summary(s: SyncSummary): void {
    this.clearProgress();
    if (s.halted) {
      this.errLine(`HALTED: ${s.halted}`);
      this.out.flush();
      return;
    }
    const parts = [
      `${s.copied} copied`,
      s.renamed ? `${s.renamed} renamed` : '',
      `${s.deleted} deleted`,
      s.dirsCreated ? `${s.dirsCreated} directories created` : '',
      s.metadata ? `${s.metadata} metadata updates` : '',
      `${s.conflicts} conflicts`,
      s.skipped ? `${s.skipped} skipped` : '',
      s.problems ? `${s.problems} problems` : '',
      s.failed ? `${s.failed} failed` : '',
    ].filter(Boolean);
    const state = s.dryRun ? 'dry run' : s.failed || s.problems ? 'finished with errors' : s.conflicts ? 'finished with conflicts' : 'in sync';
    this.line(`${state}: ${parts.join(', ')} (${formatBytes(s.bytes)} in ${(s.durationMs / 1000).toFixed(2)} s)`);
    this.out.flush();
  }

  line(text: string): void {
    this.clearProgress();
    this.out.write(`${this.prefix}${text}\n`);
  }

  errLine(text: string): void {
    this.clearProgress();
    this.out.flush();
    this.err.write(`${this.prefix}${text}\n`);
  }

  private clearProgress(): void {
    if (!this.progressShown) return;
    this.err.write('\r\x1b[K');
    this.progressShown = false;
  }
}

/** `push  a.txt`, `pull  a.txt`, `del   a.txt (remote)`, `mkdir src (remote)`. */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'copy':
      return `${a.to === 'remote' ? 'push' : 'pull'}  ${a.path}`;
    case 'delete':
      return `del   ${a.path} (${a.to})`;
    case 'mkdir':
      return `mkdir ${a.path} (${a.to})`;
    case 'setmeta':
      return `meta  ${a.path} (${a.to})`;
    case 'rename':
      return `mv    ${a.from} -> ${a.path} (${a.to})`;
    case 'clone':
      return `cp    ${a.from} -> ${a.path} (${a.to})`;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** --json: one object per event and a summary, one per line. */
export function jsonEvent(e: SyncEvent): string | undefined {
  switch (e.type) {
    case 'action':
      return JSON.stringify({ type: 'action', op: opName(e.action), path: e.action.path, from: e.action.kind === 'rename' || e.action.kind === 'clone' ? e.action.from : undefined, to: e.action.to, bytes: e.bytes, dryRun: e.dryRun || undefined });
    case 'failed':
      return JSON.stringify({ type: 'failed', op: opName(e.action), path: e.action.path, to: e.action.to, code: e.error.code, message: e.error.message });
    case 'conflict':
      return JSON.stringify({ type: 'conflict', path: e.conflict.path, kind: e.conflict.kind, local: e.conflict.local, remote: e.conflict.remote });
    case 'skip':
      return JSON.stringify({ type: 'skip', path: e.skip.path, reason: e.skip.reason });
    case 'problem':
    case 'warning':
      return JSON.stringify(e);
    default:
      return undefined;
  }
}

function opName(a: Action): string {
  if (a.kind === 'copy') return a.to === 'remote' ? 'push' : 'pull';
  return a.kind === 'delete' ? 'del' : a.kind === 'rename' ? 'mv' : a.kind === 'clone' ? 'cp' : a.kind;
}
