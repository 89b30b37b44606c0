import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import fc from 'fast-check';
import { isWithin } from '../../src/engine/path';
import type { Replica } from '../../src/replica/replica';
import { DEFAULT_PRESERVE, type SessionConfig } from '../../src/session/config';
import type { SyncSummary } from '../../src/session/events';
import { SyncSession } from '../../src/session/syncSession';

/*
 * Model-based test harness for bidirectional sessions.
 *
 * Users act directly on the two folders on disk (the "remote" folder of an ssh peer is also a folder on
 * this machine, served by sshd). Every user write truncates the file's mtime to a whole second, which
 * emulates a file system (or SFTP) with 1 s mtime granularity: an edit that keeps the size within the
 * same second keeps the fingerprint, the racy case the snapshot must confirm by hash.
 *
 * The oracle:
 * - every version (content; each write is unique) a user wrote and that was not later overwritten or
 *   deleted by a user *on a side holding it* still exists somewhere (either side, any path);
 * - after each run every path is identical on both sides (kind, content, mode) or at/under a path listed
 *   in `conflicts()`, and everything at/under a conflicted path is exactly as it was before the run;
 * - a version a user deleted/overwrote at (side, path) since the previous run is not back there after it;
 * - a run right after a run changes nothing (0 copied/deleted/mkdir/setmeta) and reports the same
 *   conflicts: the snapshot equals the synced state;
 * - no run fails an action, reports a problem, or leaves `.ssh-sync-tmp.*` files.
 */

export type SideName = 'local' | 'remote';
const SIDES: readonly SideName[] = ['local', 'remote'];

export type Op =
  | { readonly k: 'write'; readonly side: SideName; readonly path: string; readonly fixed: boolean }
  | { readonly k: 'sameSecondEdit'; readonly side: SideName; readonly path: string }
  | { readonly k: 'rm'; readonly side: SideName; readonly path: string }
  | { readonly k: 'rename'; readonly side: SideName; readonly from: string; readonly to: string }
  | { readonly k: 'mkdir'; readonly side: SideName; readonly path: string }
  | { readonly k: 'typeChange'; readonly side: SideName; readonly path: string }
  | { readonly k: 'chmod'; readonly side: SideName; readonly path: string; readonly mode: number }
  | { readonly k: 'sameEdit'; readonly path: string }
  | { readonly k: 'bothEdit'; readonly path: string }
  | { readonly k: 'resolve'; readonly index: number; readonly keep: 'local' | 'remote' | 'both' }
  | { readonly k: 'sync' };

export const NAMES_TOP = ['a', 'b', 'c'];
export const NAMES_CHILD = ['x', 'y'];
export const PATHS = [...NAMES_TOP, ...NAMES_TOP.flatMap((t) => NAMES_CHILD.map((c) => `${t}/${c}`))];

export function opArbitrary(): fc.Arbitrary<Op> {
  const side = fc.constantFrom<SideName>('local', 'remote');
  const path = fc.constantFrom(...PATHS);
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant('write' as const), side, path, fixed: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('sameSecondEdit' as const), side, path }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('rm' as const), side, path }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('rename' as const), side, from: path, to: path }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('mkdir' as const), side, path }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('typeChange' as const), side, path }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('chmod' as const), side, path, mode: fc.constantFrom(0o600, 0o640, 0o644, 0o755) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('sameEdit' as const), path }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('bothEdit' as const), path }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('resolve' as const), index: fc.nat(3), keep: fc.constantFrom('local' as const, 'remote' as const, 'both' as const) }) },
    { weight: 6, arbitrary: fc.constant({ k: 'sync' as const }) },
  );
}

export function opsArbitrary(maxLength = 30): fc.Arbitrary<Op[]> {
  return fc.array(opArbitrary(), { minLength: 1, maxLength });
}

export function describeOps(ops: readonly Op[]): string {
  return ops
    .map((o) => {
      const s = 'side' in o ? `${o.side === 'local' ? 'L' : 'R'} ` : '';
      switch (o.k) {
        case 'write':
          return `${s}write ${o.path}${o.fixed ? '' : ' (var size)'}`;
        case 'rename':
          return `${s}mv ${o.from} ${o.to}`;
        case 'chmod':
          return `${s}chmod ${o.mode.toString(8)} ${o.path}`;
        case 'resolve':
          return `resolve #${o.index} keep=${o.keep}`;
        case 'sync':
          return 'SYNC';
        default:
          return `${s}${o.k} ${o.path}`;
      }
    })
    .join('; ');
}

// ---- trees on disk ---------------------------------------------------------------------------------------

export interface Node {
  readonly kind: 'file' | 'dir' | 'link' | 'other';
  readonly content?: string;
  readonly mode: number;
}
export type Snapshot = Map<string, Node>;

export async function snapshot(root: string): Promise<Snapshot> {
  const out: Snapshot = new Map();
  const walk = async (dir: string, rel: string) => {
    for (const name of (await fs.readdir(dir)).sort()) {
      if (rel === '' && name === '.ssh-sync-marker.json') continue; // session bookkeeping, never synced
      const abs = nodePath.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(abs);
      if (st.isSymbolicLink()) out.set(r, { kind: 'link', content: await fs.readlink(abs), mode: 0 });
      else if (st.isDirectory()) {
        out.set(r, { kind: 'dir', mode: st.mode & 0o7777 });
        await walk(abs, r);
      } else if (st.isFile()) out.set(r, { kind: 'file', content: await fs.readFile(abs, 'utf8'), mode: st.mode & 0o7777 });
      else out.set(r, { kind: 'other', mode: 0 });
    }
  };
  await walk(root, '');
  return out;
}

function fmt(n: Node | undefined): string {
  if (!n) return 'absent';
  return n.kind === 'file' ? `file(${JSON.stringify(n.content)}, ${n.mode.toString(8)})` : `${n.kind}(${n.mode.toString(8)})`;
}

async function kindAt(abs: string): Promise<'file' | 'dir' | undefined> {
  try {
    const st = await fs.lstat(abs);
    return st.isDirectory() ? 'dir' : 'file';
  } catch {
    return undefined;
  }
}

/** Creates missing ancestors (like mkdir -p); false when one of them is a file. */
async function ensureParents(root: string, path: string, created?: (rel: string) => void): Promise<boolean> {
  const parts = path.split('/');
  let cur = root;
  for (let i = 0; i < parts.length - 1; i++) {
    cur = nodePath.join(cur, parts[i]);
    const k = await kindAt(cur);
    if (k === 'file') return false;
    if (!k) {
      await fs.mkdir(cur);
      created?.(parts.slice(0, i + 1).join('/'));
    }
  }
  return true;
}

/** Whole-second mtime: emulates 1 s granularity. */
function secondNow(): number {
  return Math.floor(Date.now() / 1000);
}

// ---- the world ------------------------------------------------------------------------------------------

export interface WorldSetup {
  readonly roots: Record<SideName, string>;
  readonly stateDir: string;
  readonly peer: string;
  readonly replicas: Record<SideName, Replica>;
}

interface Kill {
  readonly side: SideName;
  readonly path: string;
  readonly content: string;
}

export class World {
  readonly session: SyncSession;
  private counter = 0;
  /** content -> killed (a user overwrote or deleted a copy of it). */
  private readonly versions = new Map<string, boolean>();
  private kills: Kill[] = [];
  /** path -> file content both sides held after the last run (outside conflicts). */
  private agreed = new Map<string, string>();
  private chmodded = new Map<string, Set<SideName>>();
  /** Paths both sides chmodded between two runs: bidi leaves their modes as each side has them. */
  private readonly modeExempt = new Set<string>();
  readonly log: string[] = [];
  runs = 0;

  constructor(private readonly setup: WorldSetup) {
    const config: SessionConfig = {
      localRoot: setup.roots.local,
      peer: setup.peer,
      direction: 'bidi',
      overwrite: 'never',
      deletes: true,
      symlinks: 'copy',
      preserve: DEFAULT_PRESERVE,
      filters: [],
      stateDir: setup.stateDir,
      concurrency: 4,
    };
    this.session = new SyncSession(config, setup.replicas);
  }

  private abs(side: SideName, path: string): string {
    return nodePath.join(this.setup.roots[side], path);
  }

  private newContent(fixed: boolean, size?: number): string {
    const id = `v${++this.counter}`;
    let content: string;
    if (size !== undefined) content = id.length <= size ? id.padEnd(size, '#') : id;
    else if (fixed) content = id.padEnd(8, '_');
    else content = `${id}:${'z'.repeat(this.counter % 7)}\n`;
    return content;
  }

  /** Marks every version at or under (side, path) as deliberately destroyed by the user. */
  private async kill(side: SideName, path: string): Promise<void> {
    const snap = await snapshot(this.setup.roots[side]);
    for (const [p, n] of snap) {
      if (n.kind === 'file' && isWithin(p, path)) {
        this.versions.set(n.content!, true);
        // Only a version both sides agreed on is known to the snapshot: removing it must propagate.
        if (this.agreed.get(p) === n.content) this.kills.push({ side, path: p, content: n.content! });
      }
    }
  }

  /** Both sides creating or chmodding a path between two runs: bidi keeps each side's mode. */
  private metaTouch(side: SideName, path: string): void {
    const set = this.chmodded.get(path) ?? new Set<SideName>();
    set.add(side);
    this.chmodded.set(path, set);
  }

  /** A later user write at (side, path) makes earlier kills there moot. */
  private touched(side: SideName, path: string): void {
    this.kills = this.kills.filter((k) => !(k.side === side && (isWithin(k.path, path) || isWithin(path, k.path))));
  }

  private async writeAt(side: SideName, path: string, content: string, mtime?: number): Promise<boolean> {
    const abs = this.abs(side, path);
    const k = await kindAt(abs);
    if (k === 'dir') return false;
    if (!(await ensureParents(this.setup.roots[side], path, (d) => this.metaTouch(side, d)))) return false;
    if (k === 'file') await this.kill(side, path);
    await fs.writeFile(abs, content);
    this.versions.set(content, false);
    const t = mtime ?? secondNow();
    await fs.utimes(abs, t, t);
    this.touched(side, path);
    this.metaTouch(side, path);
    return true;
  }

  async apply(op: Op): Promise<void> {
    switch (op.k) {
      case 'write':
        if (await this.writeAt(op.side, op.path, this.newContent(op.fixed))) this.log.push(describeOps([op]));
        return;
      case 'sameSecondEdit': {
        // Same size, and the same mtime when the old one is recent enough to be in the racy window.
        const abs = this.abs(op.side, op.path);
        if ((await kindAt(abs)) !== 'file') return;
        const st = await fs.stat(abs);
        const oldSec = Math.floor(st.mtimeMs / 1000);
        const keep = Date.now() - oldSec * 1000 < 1500;
        const content = this.newContent(true, st.size);
        await this.writeAt(op.side, op.path, content, keep ? oldSec : undefined);
        this.log.push(`${describeOps([op])}${keep ? ' (mtime kept)' : ''}`);
        return;
      }
      case 'rm': {
        const abs = this.abs(op.side, op.path);
        if (!(await kindAt(abs))) return;
        await this.kill(op.side, op.path);
        await fs.rm(abs, { recursive: true, force: true });
        this.log.push(describeOps([op]));
        return;
      }
      case 'rename': {
        const from = this.abs(op.side, op.from);
        const to = this.abs(op.side, op.to);
        if (op.from === op.to || (await kindAt(from)) !== 'file') return;
        const k = await kindAt(to);
        if (k === 'dir') return;
        if (!(await ensureParents(this.setup.roots[op.side], op.to, (d) => this.metaTouch(op.side, d)))) return;
        if (k === 'file') await this.kill(op.side, op.to);
        await fs.rename(from, to);
        this.touched(op.side, op.to);
        this.metaTouch(op.side, op.to);
        this.log.push(describeOps([op]));
        return;
      }
      case 'mkdir': {
        const abs = this.abs(op.side, op.path);
        if (await kindAt(abs)) return;
        if (!(await ensureParents(this.setup.roots[op.side], op.path, (d) => this.metaTouch(op.side, d)))) return;
        await fs.mkdir(abs);
        this.touched(op.side, op.path);
        this.metaTouch(op.side, op.path);
        this.log.push(describeOps([op]));
        return;
      }
      case 'typeChange': {
        const abs = this.abs(op.side, op.path);
        const k = await kindAt(abs);
        if (!k) return;
        await this.kill(op.side, op.path);
        await fs.rm(abs, { recursive: true, force: true });
        if (k === 'file') {
          await fs.mkdir(abs);
          if (!op.path.includes('/')) await this.writeAt(op.side, `${op.path}/x`, this.newContent(true));
        } else {
          await this.writeAt(op.side, op.path, this.newContent(true));
        }
        this.touched(op.side, op.path);
        this.metaTouch(op.side, op.path);
        this.log.push(describeOps([op]));
        return;
      }
      case 'chmod': {
        const abs = this.abs(op.side, op.path);
        const k = await kindAt(abs);
        if (!k) return;
        const mode = k === 'dir' ? op.mode | 0o700 | ((op.mode & 0o44) >> 2) : op.mode;
        await fs.chmod(abs, mode);
        this.metaTouch(op.side, op.path);
        this.log.push(describeOps([op]));
        return;
      }
      case 'sameEdit': {
        const content = this.newContent(true);
        const t = secondNow();
        for (const side of SIDES) await this.writeAt(side, op.path, content, t);
        this.log.push(describeOps([op]));
        return;
      }
      case 'bothEdit': {
        for (const side of SIDES) await this.writeAt(side, op.path, this.newContent(this.counter % 2 === 0));
        this.log.push(describeOps([op]));
        return;
      }
      case 'resolve': {
        const conflicts = await this.session.conflicts();
        if (conflicts.length === 0) return;
        const c = conflicts[op.index % conflicts.length];
        this.log.push(`resolve ${c.path} (${c.kind}) keep=${op.keep}`);
        if (op.keep !== 'both') await this.kill(op.keep === 'local' ? 'remote' : 'local', c.path);
        this.kills = this.kills.filter((k) => !isWithin(k.path, c.path) && !isWithin(c.path, k.path));
        const s = await this.session.resolve(c.path, op.keep);
        assert.equal(s.failed, 0, `resolve ${c.path} keep=${op.keep} failed actions`);
        const after = await this.session.conflicts();
        assert.ok(!after.some((x) => x.path === c.path), `conflict ${c.path} still listed after resolve`);
        return;
      }
      case 'sync':
        await this.sync();
        return;
    }
  }

  /** One run plus every check of the oracle. */
  async sync(): Promise<void> {
    this.runs++;
    for (const [path, sides] of this.chmodded) if (sides.size === 2) this.modeExempt.add(path);
    this.chmodded = new Map();
    const pre = { local: await snapshot(this.setup.roots.local), remote: await snapshot(this.setup.roots.remote) };
    const s1 = await this.session.run({ force: true });
    this.log.push(`SYNC -> ${brief(s1)}`);
    const ctx = () => `\nhistory: ${this.log.join(' | ')}`;
    assert.equal(s1.failed, 0, `run failed actions: ${brief(s1)}${ctx()}`);
    assert.equal(s1.problems, 0, `run reported problems${ctx()}`);
    assert.equal(s1.halted, undefined, `run halted${ctx()}`);
    const conflicts = (await this.session.conflicts()).map((c) => c.path).sort();
    const inConflict = (p: string) => conflicts.some((c) => isWithin(p, c));
    const post = { local: await snapshot(this.setup.roots.local), remote: await snapshot(this.setup.roots.remote) };

    for (const side of SIDES) {
      const temps = [...post[side].keys()].filter((p) => nodePath.basename(p).startsWith('.ssh-sync-tmp.'));
      assert.deepEqual(temps, [], `temp files left on ${side}${ctx()}`);
      // Nothing at or under a conflict is touched.
      for (const p of new Set([...pre[side].keys(), ...post[side].keys()])) {
        if (!inConflict(p)) continue;
        assert.deepEqual(post[side].get(p), pre[side].get(p), `${side} ${p} (under a conflict) changed during the run: ${fmt(pre[side].get(p))} -> ${fmt(post[side].get(p))}${ctx()}`);
      }
    }
    // Everything else is identical on both sides.
    for (const p of new Set([...post.local.keys(), ...post.remote.keys()])) {
      if (inConflict(p)) continue;
      const l = post.local.get(p);
      const r = post.remote.get(p);
      const same = l && r && l.kind === r.kind && l.content === r.content && (this.modeExempt.has(p) || l.mode === r.mode);
      assert.ok(same, `${p} differs after a run with no conflict there: local ${fmt(l)}, remote ${fmt(r)}; conflicts [${conflicts}]${ctx()}`);
    }
    // No lost version.
    const present = new Set<string>();
    for (const side of SIDES) for (const n of post[side].values()) if (n.kind === 'file') present.add(n.content!);
    for (const [content, killed] of this.versions) {
      if (!killed) assert.ok(present.has(content), `version ${JSON.stringify(content)} was lost (never overwritten or deleted by a user)${ctx()}`);
    }
    // No resurrection of what a user deleted or overwrote since the last run.
    for (const k of this.kills) {
      const now = post[k.side].get(k.path);
      assert.ok(!(now?.kind === 'file' && now.content === k.content), `${k.side} ${k.path}: the version ${JSON.stringify(k.content)} the user removed there came back${ctx()}`);
    }
    this.kills = [];
    for (const p of this.modeExempt) if (post.local.get(p)?.mode === post.remote.get(p)?.mode) this.modeExempt.delete(p);
    this.agreed = new Map([...post.local].filter(([p, n]) => n.kind === 'file' && !inConflict(p)).map(([p, n]) => [p, n.content!]));

    // The snapshot equals the synced state: a second run does nothing.
    const s2 = await this.session.run({ force: true });
    const idle = s2.copied === 0 && s2.deleted === 0 && s2.dirsCreated === 0 && s2.metadata === 0 && s2.failed === 0 && s2.problems === 0;
    assert.ok(idle, `a run right after a run was not idle: ${brief(s2)}${ctx()}`);
    const conflicts2 = (await this.session.conflicts()).map((c) => c.path).sort();
    assert.deepEqual(conflicts2, conflicts, `conflicts changed on a second run${ctx()}`);
    const post2 = { local: await snapshot(this.setup.roots.local), remote: await snapshot(this.setup.roots.remote) };
    assert.deepEqual(post2, post, `trees changed on a second run${ctx()}`);
  }

  /** Ends a sequence: sync, resolve every conflict keeping both, sync: both trees equal, nothing lost. */
  async finish(): Promise<void> {
    await this.sync();
    for (let round = 0; round < 3; round++) {
      const conflicts = await this.session.conflicts();
      if (conflicts.length === 0) break;
      for (const c of conflicts) {
        this.log.push(`final resolve ${c.path} (${c.kind}) keep=both`);
        const s = await this.session.resolve(c.path, 'both');
        assert.equal(s.failed, 0, `resolve ${c.path} keep=both failed\nhistory: ${this.log.join(' | ')}`);
      }
      await this.sync();
    }
    const left = await this.session.conflicts();
    assert.deepEqual(left.map((c) => `${c.kind} ${c.path}`), [], `conflicts remain after resolving all with keep=both\nhistory: ${this.log.join(' | ')}`);
    const l = await snapshot(this.setup.roots.local);
    const r = await snapshot(this.setup.roots.remote);
    const strip = (s: Snapshot) => new Map([...s].map(([p, n]) => [p, { kind: n.kind, content: n.content }]));
    assert.deepEqual(strip(l), strip(r), `trees differ at the end\nhistory: ${this.log.join(' | ')}`);
  }
}

function brief(s: SyncSummary): string {
  return `copied ${s.copied} deleted ${s.deleted} mkdir ${s.dirsCreated} meta ${s.metadata} adopted ${s.adopted} conflicts ${s.conflicts} failed ${s.failed} problems ${s.problems}${s.halted ? ' HALTED' : ''}`;
}

export function numRunsFromEnv(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

export function seedFromEnv(): number {
  const v = Number(process.env.SSH_SYNC_MODEL_SEED);
  return Number.isInteger(v) ? v : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
}
