import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BaseRecord } from '../../src/engine/base';
import type { Entry } from '../../src/engine/entry';
import type { Plan } from '../../src/engine/plan';
import type { Direction, Overwrite, ReconcilePolicy } from '../../src/engine/policy';
import { reconcile } from '../../src/engine/reconcile';
import { baseOf, describeAction, dir, expected, file, invariantViolations, link, outcome, policy, problem, rec, tree, type Outcome } from './fixtures';

/*
 * The DESIGN.md "Reconciliation" table as named cases, each run once per direction and once per
 * `overwrite`. An expectation given once holds for every `overwrite`; one given per `overwrite` is the
 * "per overwrite" of the table. Every plan is also checked against the engine's invariants (no action
 * at or under a conflict or a problem, no action on a path that is also an agreement).
 */

type PerOverwrite = Record<Overwrite, Partial<Outcome>>;
type Expect = Partial<Outcome> | PerOverwrite;

interface Case {
  readonly name: string;
  readonly base?: Record<string, BaseRecord>;
  readonly local?: Record<string, Entry>;
  readonly remote?: Record<string, Entry>;
  readonly policy?: Partial<ReconcilePolicy>;
  readonly push: Expect;
  readonly pull: Expect;
  readonly bidi: Expect;
  /** Known disagreements between the engine and the table, keyed 'direction' or 'direction/overwrite'. */
  readonly todo?: Record<string, string>;
}

const NOTHING: Partial<Outcome> = {};

// The base of path 'f': both sides held 10 bytes with hash h0, written at t=1000.
const B = file(10, 1000, 'h0');
const UNCHANGED = file(10, 1000); // a scan carries no hash
const L1 = file(20, 5000, 'h1'); // local edit
const R_SAME = file(20, 6000, 'h1'); // remote edit, same content as L1
const R2 = file(30, 9000, 'h2'); // remote edit, other content, newer than L1
const K = file(1, 1000, 'hk'); // an unrelated, unchanged path: the session has a snapshot

const F = { f: rec(B) };
const KEEP = { keep: rec(K) };


function isPerOverwrite(e: Expect): e is PerOverwrite {
  return 'always' in e && 'newer' in e && 'never' in e;
}

const cases: Case[] = [
  // ---- the table, row by row --------------------------------------------------------------------
  {
    name: 'row 1: unchanged | unchanged -> nothing',
    base: F,
    local: { f: UNCHANGED },
    remote: { f: UNCHANGED },
    push: NOTHING,
    pull: NOTHING,
    bidi: NOTHING,
  },
  {
    name: 'row 2: changed | unchanged -> local to remote (push, bidi), target drift per overwrite (pull)',
    base: F,
    local: { f: L1 },
    remote: { f: UNCHANGED },
    push: { actions: ['copy remote f'] },
    pull: { always: { actions: ['copy local f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f both-modified'] } }, // target drift follows overwrite, as for push
    bidi: { actions: ['copy remote f'] },
  },
  {
    name: 'row 2: created locally | absent (with a snapshot) -> local to remote (push, bidi), target drift per overwrite (pull)',
    base: KEEP,
    local: { keep: K, f: L1 },
    remote: { keep: K },
    push: { actions: ['copy remote f'] },
    pull: { always: { actions: ['delete local f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f both-created'] } }, // target drift follows overwrite, as for push
    bidi: { actions: ['copy remote f'] },
  },
  {
    name: 'row 3: unchanged | changed -> per overwrite (push), remote to local (pull, bidi)',
    base: F,
    local: { f: UNCHANGED },
    remote: { f: R2 },
    push: { always: { actions: ['copy remote f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f both-modified'] } },
    pull: { actions: ['copy local f'] },
    bidi: { actions: ['copy local f'] },
  },
  {
    name: 'row 3: unchanged | changed to an older mtime -> push with newer overwrites it',
    base: { f: rec(file(10, 8000, 'h0')) },
    local: { f: file(10, 8000) },
    remote: { f: file(30, 2000, 'h2') },
    push: { always: { actions: ['copy remote f'] }, newer: { actions: ['copy remote f'] }, never: { conflicts: ['f both-modified'] } },
    pull: { actions: ['copy local f'] },
    bidi: { actions: ['copy local f'] },
  },
  {
    name: 'row 3: absent | created remotely (with a snapshot) -> per overwrite (push), remote to local (pull, bidi)',
    base: KEEP,
    local: { keep: K },
    remote: { keep: K, f: R2 },
    push: { always: { actions: ['delete remote f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f both-created'] } },
    pull: { actions: ['copy local f'] },
    bidi: { actions: ['copy local f'] },
  },
  {
    name: 'row 4: changed | changed, same content -> base update without I/O',
    base: F,
    local: { f: L1 },
    remote: { f: R_SAME },
    push: { agreements: ['f'] },
    pull: { agreements: ['f'] },
    bidi: { agreements: ['f'] },
  },
  {
    name: 'row 5: changed | changed, different -> per overwrite (push, pull), conflict (bidi)',
    base: F,
    local: { f: L1 },
    remote: { f: R2 },
    push: { always: { actions: ['copy remote f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f both-modified'] } },
    pull: { always: { actions: ['copy local f'] }, newer: { actions: ['copy local f'] }, never: { conflicts: ['f both-modified'] } },
    // Bidi overwrites a changed side only when `newer` is chosen explicitly.
    bidi: { always: { conflicts: ['f both-modified'] }, newer: { actions: ['copy local f'] }, never: { conflicts: ['f both-modified'] } },
  },
  {
    name: 'row 5: changed | changed, local newer -> newer sends local',
    base: F,
    local: { f: file(20, 9000, 'h1') },
    remote: { f: file(30, 5000, 'h2') },
    push: { always: { actions: ['copy remote f'] }, newer: { actions: ['copy remote f'] }, never: { conflicts: ['f both-modified'] } },
    pull: { always: { actions: ['copy local f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f both-modified'] } },
    bidi: { always: { conflicts: ['f both-modified'] }, newer: { actions: ['copy remote f'] }, never: { conflicts: ['f both-modified'] } },
  },
  {
    name: 'row 5: changed | changed, mtimes within mtimeToleranceMs -> newer is undeterminable',
    base: F,
    local: { f: file(20, 5000, 'h1') },
    remote: { f: file(30, 5900, 'h2') },
    push: { always: { actions: ['copy remote f'] }, newer: { conflicts: ['f undeterminable'] }, never: { conflicts: ['f both-modified'] } },
    pull: { always: { actions: ['copy local f'] }, newer: { conflicts: ['f undeterminable'] }, never: { conflicts: ['f both-modified'] } },
    bidi: { always: { conflicts: ['f both-modified'] }, newer: { conflicts: ['f undeterminable'] }, never: { conflicts: ['f both-modified'] } },
  },
  {
    name: 'row 6: deleted | unchanged -> delete remote (push, bidi), target drift per overwrite (pull)',
    base: F,
    local: {},
    remote: { f: UNCHANGED },
    push: { actions: ['delete remote f'] },
    pull: { always: { actions: ['copy local f'] }, newer: { actions: ['copy local f'] }, never: { conflicts: ['f modified-vs-deleted'] } }, // target drift follows overwrite, as for push
    bidi: { actions: ['delete remote f'] },
  },
  {
    name: 'row 7: deleted | modified -> per overwrite (push), conflict (bidi); pull brings the modified file back',
    base: F,
    local: {},
    remote: { f: R2 },
    push: { always: { actions: ['delete remote f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f modified-vs-deleted'] } },
    // The table says '—' here; a pull whose source changed and whose target holds nothing loses nothing
    // by copying, and it is what row 9 says for push (the mirror case). See the report.
    pull: { actions: ['copy local f'] },
    bidi: { conflicts: ['f modified-vs-deleted'] },
  },
  {
    name: 'row 8: unchanged | deleted -> per overwrite (push), delete local (pull, bidi)',
    base: F,
    local: { f: UNCHANGED },
    remote: {},
    push: { always: { actions: ['copy remote f'] }, newer: { actions: ['copy remote f'] }, never: { conflicts: ['f modified-vs-deleted'] } },
    pull: { actions: ['delete local f'] },
    bidi: { actions: ['delete local f'] },
  },
  {
    name: 'row 9: modified | deleted -> local to remote (push), per overwrite (pull), conflict (bidi)',
    base: F,
    local: { f: L1 },
    remote: {},
    push: { actions: ['copy remote f'] },
    pull: { always: { actions: ['delete local f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f modified-vs-deleted'] } },
    bidi: { conflicts: ['f modified-vs-deleted'] },
  },
  {
    name: 'row 10: deleted | deleted -> base update (forget)',
    base: F,
    local: {},
    remote: {},
    push: { forgets: ['f'] },
    pull: { forgets: ['f'] },
    bidi: { forgets: ['f'] },
  },
  {
    name: 'row 11: no base (first run), both present, different -> per overwrite (push, pull), conflict undeterminable (bidi)',
    local: { f: L1 },
    remote: { f: R2 },
    push: { always: { actions: ['copy remote f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f undeterminable'] } },
    pull: { always: { actions: ['copy local f'] }, newer: { actions: ['copy local f'] }, never: { conflicts: ['f undeterminable'] } },
    bidi: { always: { conflicts: ['f undeterminable'] }, newer: { actions: ['copy local f'] }, never: { conflicts: ['f undeterminable'] } },
  },
  {
    name: 'row 11 with a snapshot for other paths: created on both sides, different -> both-created',
    base: KEEP,
    local: { keep: K, f: L1 },
    remote: { keep: K, f: R2 },
    push: { always: { actions: ['copy remote f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f both-created'] } },
    pull: { always: { actions: ['copy local f'] }, newer: { actions: ['copy local f'] }, never: { conflicts: ['f both-created'] } },
    bidi: { always: { conflicts: ['f both-created'] }, newer: { actions: ['copy local f'] }, never: { conflicts: ['f both-created'] } },
  },

  // ---- no base: equality is size + hash, never size + mtime -----------------------------------------
  {
    name: 'first run: identical files (same size, same hash) are adopted as agreement, no transfer',
    local: { f: file(20, 5000, 'h1') },
    remote: { f: file(20, 7000, 'h1') },
    push: { agreements: ['f'] },
    pull: { agreements: ['f'] },
    bidi: { agreements: ['f'] },
  },
  {
    name: 'first run: same size and mtime but different hash is not adopted',
    local: { f: file(20, 5000, 'h1') },
    remote: { f: file(20, 5000, 'h2') },
    push: { always: { actions: ['copy remote f'] }, newer: { conflicts: ['f undeterminable'] }, never: { conflicts: ['f undeterminable'] } },
    pull: { always: { actions: ['copy local f'] }, newer: { conflicts: ['f undeterminable'] }, never: { conflicts: ['f undeterminable'] } },
    bidi: { conflicts: ['f undeterminable'] },
  },
  {
    name: 'first run: same size, hashes missing -> hash requests for both sides and nothing decided',
    local: { f: file(20, 5000) },
    remote: { f: file(20, 5000) },
    push: { hashRequests: ['local f', 'remote f'] },
    pull: { hashRequests: ['local f', 'remote f'] },
    bidi: { hashRequests: ['local f', 'remote f'] },
  },
  {
    name: 'first run: same size, one hash missing -> a hash request for that side only',
    local: { f: file(20, 5000, 'h1') },
    remote: { f: file(20, 5000) },
    push: { hashRequests: ['remote f'] },
    pull: { hashRequests: ['remote f'] },
    bidi: { hashRequests: ['remote f'] },
  },
  {
    name: 'first run: different sizes need no hash to tell they differ',
    local: { f: file(20, 5000) },
    remote: { f: file(21, 5000) },
    push: { always: { actions: ['copy remote f'] }, newer: { conflicts: ['f undeterminable'] }, never: { conflicts: ['f undeterminable'] } },
    pull: { always: { actions: ['copy local f'] }, newer: { conflicts: ['f undeterminable'] }, never: { conflicts: ['f undeterminable'] } },
    bidi: { conflicts: ['f undeterminable'] },
  },
  {
    name: 'first run: a directory on both sides is agreement; a file only on one side is copied',
    local: { d: dir(), 'd/a': file(3, 1000, 'ha') },
    remote: { d: dir() },
    push: { actions: ['copy remote d/a'], agreements: ['d'] },
    // Pull with the file only on the target: per overwrite (first run: the target is scanned in full).
    pull: { always: { actions: ['delete local d/a'], agreements: ['d'] }, newer: { skips: ['d/a'], agreements: ['d'] }, never: { conflicts: ['d/a both-created'], agreements: ['d'] } },
    bidi: { actions: ['copy remote d/a'], agreements: ['d'] },
  },

  // ---- type changes ---------------------------------------------------------------------------------
  {
    name: 'type change: file became a directory locally -> replace the remote file with a directory',
    base: F,
    local: { f: dir({ mtimeMs: 5000 }) },
    remote: { f: UNCHANGED },
    push: { actions: ['delete remote f (replaced)', 'mkdir remote f'] },
    pull: { always: { actions: ['delete local f (replaced)', 'copy local f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f type-clash'] } }, // target drift follows overwrite, as for push
    bidi: { actions: ['delete remote f (replaced)', 'mkdir remote f'] },
  },
  {
    name: 'type change: file became a directory remotely -> replace the local file with a directory',
    base: F,
    local: { f: UNCHANGED },
    remote: { f: dir({ mtimeMs: 5000 }) },
    push: {
      always: { actions: ['delete remote f (replaced)', 'copy remote f'] },
      newer: { skips: ['f'] },
      never: { conflicts: ['f type-clash'] },
    },
    pull: { actions: ['delete local f (replaced)', 'mkdir local f'] },
    bidi: { actions: ['delete local f (replaced)', 'mkdir local f'] },
  },
  {
    name: 'type change: file became a symlink locally -> the link replaces the remote file',
    base: F,
    local: { f: link('elsewhere', 5000) },
    remote: { f: UNCHANGED },
    push: { actions: ['copy remote f'] },
    pull: { always: { actions: ['copy local f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f type-clash'] } }, // target drift follows overwrite, as for push
    bidi: { actions: ['copy remote f'] },
  },
  {
    name: 'type change: symlink became a file remotely -> the file replaces the local link',
    base: { f: rec(link('a')) },
    local: { f: link('a') },
    remote: { f: file(5, 5000, 'hx') },
    push: { always: { actions: ['copy remote f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f type-clash'] } },
    pull: { actions: ['copy local f'] },
    bidi: { actions: ['copy local f'] },
  },
  {
    name: 'symlink retargeted locally -> copied as a link',
    base: { f: rec(link('a')) },
    local: { f: link('b', 5000) },
    remote: { f: link('a') },
    push: { actions: ['copy remote f'] },
    pull: { always: { actions: ['copy local f'] }, newer: { skips: ['f'] }, never: { conflicts: ['f both-modified'] } }, // target drift follows overwrite, as for push
    bidi: { actions: ['copy remote f'] },
  },
  {
    name: 'type change: directory became a file locally -> remote children deleted, then the directory replaced',
    base: { d: rec(dir()), 'd/a': rec(file(3, 1000, 'ha')) },
    local: { d: file(3, 5000, 'hd') },
    remote: { d: dir(), 'd/a': file(3, 1000) },
    push: { actions: ['delete remote d/a', 'delete remote d (replaced)', 'copy remote d'] },
    pull: { always: { actions: ['delete local d (replaced)', 'mkdir local d', 'copy local d/a'] }, newer: { skips: ['d'] }, never: { conflicts: ['d type-clash'] } }, // target drift follows overwrite, as for push
    bidi: { actions: ['delete remote d/a', 'delete remote d (replaced)', 'copy remote d'] },
  },
  {
    name: 'type change: directory became a symlink remotely -> local children deleted, then the directory replaced',
    base: { d: rec(dir()), 'd/a': rec(file(3, 1000, 'ha')) },
    local: { d: dir(), 'd/a': file(3, 1000) },
    remote: { d: link('elsewhere', 5000) },
    push: {
      always: { actions: ['delete remote d (replaced)', 'mkdir remote d', 'copy remote d/a'] },
      newer: { skips: ['d'] },
      never: { conflicts: ['d type-clash'] },
    },
    pull: { actions: ['delete local d/a', 'delete local d (replaced)', 'copy local d'] },
    bidi: { actions: ['delete local d/a', 'delete local d (replaced)', 'copy local d'] },
  },
  {
    name: 'type clash: directory became a file locally while a file inside it changed remotely',
    base: { d: rec(dir()), 'd/a': rec(file(3, 1000, 'ha')) },
    local: { d: file(3, 5000, 'hd') },
    remote: { d: dir(), 'd/a': file(4, 6000, 'hb') },
    push: {
      always: { actions: ['delete remote d/a', 'delete remote d (replaced)', 'copy remote d'] },
      // The local file is newer than the remote directory, but the changed remote file inside it has
      // no local version to compare with: it is skipped, so the directory stays too.
      newer: { skips: ['d', 'd/a'] },
      never: { conflicts: ['d type-clash'] },
    },
    pull: {
      always: { actions: ['delete local d (replaced)', 'mkdir local d', 'copy local d/a'] },
      newer: { skips: ['d'] },
      never: { conflicts: ['d type-clash'] },
    },
    bidi: { conflicts: ['d type-clash'] },
  },

  // ---- directories ----------------------------------------------------------------------------------
  {
    name: 'directory deleted locally while a file in it changed remotely -> bidi conflict at the directory, nothing under it touched',
    base: { d: rec(dir()), 'd/a': rec(file(3, 1000, 'ha')), 'd/b': rec(file(3, 1000, 'hb')) },
    local: {},
    remote: { d: dir(), 'd/a': file(4, 6000, 'hc'), 'd/b': file(3, 1000) },
    push: {
      always: { actions: ['delete remote d/a', 'delete remote d/b', 'delete remote d'] },
      newer: { skips: ['d'] },
      never: { conflicts: ['d modified-vs-deleted'] },
    },
    pull: { always: { actions: ['mkdir local d', 'copy local d/a', 'copy local d/b'] }, newer: { actions: ['mkdir local d', 'copy local d/a', 'copy local d/b'] }, never: { conflicts: ['d modified-vs-deleted'] } }, // target drift follows overwrite, as for push
    bidi: { conflicts: ['d modified-vs-deleted'] },
  },
  {
    name: 'directory deleted remotely while a file was added in it locally -> bidi conflict at the directory',
    base: { d: rec(dir()), 'd/a': rec(file(3, 1000, 'ha')) },
    local: { d: dir(), 'd/a': file(3, 1000), 'd/new': file(1, 7000, 'hn') },
    remote: {},
    // The remote deletion is target drift for a push (row 8): restored unless `never`.
    push: {
      always: { actions: ['mkdir remote d', 'copy remote d/a', 'copy remote d/new'] },
      newer: { actions: ['mkdir remote d', 'copy remote d/a', 'copy remote d/new'] },
      never: { conflicts: ['d modified-vs-deleted'] },
    },
    pull: {
      always: { actions: ['delete local d/a', 'delete local d/new', 'delete local d'] },
      newer: { skips: ['d'] },
      never: { conflicts: ['d modified-vs-deleted'] },
    },
    bidi: { conflicts: ['d modified-vs-deleted'] },
  },
  {
    name: 'directory deleted locally, untouched remotely -> deleted remotely, children first',
    base: { d: rec(dir()), 'd/e': rec(dir()), 'd/e/a': rec(file(3, 1000, 'ha')), 'd/b': rec(file(3, 1000, 'hb')) },
    local: {},
    remote: { d: dir(), 'd/e': dir(), 'd/e/a': file(3, 1000), 'd/b': file(3, 1000) },
    push: { actions: ['delete remote d/e/a', 'delete remote d/b', 'delete remote d/e', 'delete remote d'] },
    pull: { always: { actions: ['mkdir local d', 'mkdir local d/e', 'copy local d/b', 'copy local d/e/a'] }, newer: { actions: ['mkdir local d', 'mkdir local d/e', 'copy local d/b', 'copy local d/e/a'] }, never: { conflicts: ['d modified-vs-deleted'] } }, // target drift follows overwrite, as for push
    bidi: { actions: ['delete remote d/e/a', 'delete remote d/b', 'delete remote d/e', 'delete remote d'] },
  },

  // ---- deletes: false -------------------------------------------------------------------------------
  {
    name: 'deletes off: a deletion is skipped, never carried out',
    base: F,
    local: {},
    remote: { f: UNCHANGED },
    policy: { deletes: false },
    push: { skips: ['f'] },
    pull: { always: { actions: ['copy local f'] }, newer: { actions: ['copy local f'] }, never: { conflicts: ['f modified-vs-deleted'] } }, // target drift follows overwrite, as for push
    bidi: { skips: ['f'] },
  },
  {
    name: 'deletes off: a remote deletion is not carried out locally',
    base: F,
    local: { f: UNCHANGED },
    remote: {},
    policy: { deletes: false },
    push: { always: { actions: ['copy remote f'] }, newer: { actions: ['copy remote f'] }, never: { conflicts: ['f modified-vs-deleted'] } },
    pull: { skips: ['f'] },
    bidi: { skips: ['f'] },
  },
  {
    name: 'deletes off: a deleted directory is skipped with everything in it',
    base: { d: rec(dir()), 'd/a': rec(file(3, 1000, 'ha')) },
    local: {},
    remote: { d: dir(), 'd/a': file(3, 1000) },
    policy: { deletes: false },
    push: { skips: ['d'] },
    pull: { always: { actions: ['mkdir local d', 'copy local d/a'] }, newer: { actions: ['mkdir local d', 'copy local d/a'] }, never: { conflicts: ['d modified-vs-deleted'] } }, // target drift follows overwrite, as for push
    bidi: { skips: ['d'] },
  },

  // ---- exclusions -----------------------------------------------------------------------------------
  {
    name: 'excluded paths are never copied, deleted or forgotten, even when the other side lacks them',
    base: { cache: rec(dir()), 'cache/a': rec(file(3, 1000, 'ha')), 'gone.log': rec(file(3, 1000, 'hg')) },
    // The scan of an excluded path does not list it: 'cache' is gone locally, 'x.log' is local only.
    local: { 'x.log': file(5, 5000, 'hx') },
    remote: { cache: dir(), 'cache/a': file(3, 1000), 'y.log': file(6, 6000, 'hy') },
    policy: { isExcluded: (p) => p === 'cache' || p.endsWith('.log') },
    push: NOTHING,
    pull: NOTHING,
    bidi: NOTHING,
  },

  // ---- problems -------------------------------------------------------------------------------------
  {
    name: 'a directory that could not be listed locally does not turn into remote deletions',
    base: { d: rec(dir()), 'd/a': rec(file(3, 1000, 'ha')), 'd/b': rec(file(3, 1000, 'hb')) },
    local: { d: problem('cannot list directory: permission denied') },
    remote: { d: dir(), 'd/a': file(3, 1000), 'd/b': file(3, 1000) },
    push: NOTHING,
    pull: NOTHING,
    bidi: NOTHING,
  },
  {
    name: 'a directory that could not be listed remotely is not filled or emptied from the local side',
    base: { d: rec(dir()), 'd/a': rec(file(3, 1000, 'ha')) },
    local: { d: dir(), 'd/a': file(4, 5000, 'hn'), 'd/new': file(1, 5000, 'h9') },
    remote: { d: problem('cannot list directory') },
    push: NOTHING,
    pull: NOTHING,
    bidi: NOTHING,
  },
  {
    name: 'an unreadable file on the target is not overwritten',
    base: F,
    local: { f: L1 },
    remote: { f: problem('cannot stat') },
    push: NOTHING,
    pull: NOTHING,
    bidi: NOTHING,
  },
];

function run(c: Case, direction: Direction, overwrite: Overwrite): Plan {
  return reconcile(baseOf(c.base), tree(c.local), tree(c.remote), policy({ direction, overwrite, ...c.policy }));
}

describe('reconcile: DESIGN.md table', () => {
  for (const c of cases) {
    describe(c.name, () => {
      for (const direction of ['push', 'pull', 'bidi'] as const) {
        const exp = c[direction];
        for (const overwrite of ['always', 'newer', 'never'] as const) {
          const want = isPerOverwrite(exp) ? exp[overwrite] : exp;
          const todo = c.todo?.[`${direction}/${overwrite}`] ?? c.todo?.[direction];
          test(`${direction}, overwrite ${overwrite}`, todo ? { todo } : {}, () => {
            const plan = run(c, direction, overwrite);
            assert.deepEqual(invariantViolations(plan), []);
            assert.deepEqual(outcome(plan), expected(want));
          });
        }
      }
    });
  }
});

// ---- behaviours beyond the table ---------------------------------------------------------------------

describe('reconcile: details', () => {
  test('first-run adoption records the shared hash and each side without its hash', () => {
    const plan = reconcile(baseOf(), tree({ f: file(20, 5000, 'h1', { ino: 7, dev: 1 }) }), tree({ f: file(20, 7000, 'h1') }), policy({ direction: 'push', overwrite: 'always' }));
    assert.deepEqual(plan.actions, []);
    assert.deepEqual(plan.agreements.get('f'), {
      kind: 'file',
      hash: 'h1',
      local: { kind: 'file', size: 20, mtimeMs: 5000, mode: 0o644, ino: 7, dev: 1 },
      remote: { kind: 'file', size: 20, mtimeMs: 7000, mode: 0o644 },
    });
  });

  test('actions carry the state they expect to find on the target', () => {
    const remoteNow = file(30, 9000);
    const plan = reconcile(baseOf(F), tree({ f: L1 }), tree({ f: remoteNow }), policy({ direction: 'push', overwrite: 'always' }));
    assert.deepEqual(plan.actions, [{ kind: 'copy', path: 'f', to: 'remote', source: L1, expect: remoteNow }]);
    const del = reconcile(baseOf(F), tree({}), tree({ f: UNCHANGED }), policy({ direction: 'push' }));
    assert.deepEqual(del.actions, [{ kind: 'delete', path: 'f', to: 'remote', expect: UNCHANGED }]);
  });

  test('a conflict carries both sides and leaves everything below it alone', () => {
    // Local replaced directory d by a file and added nothing; remote changed and added files inside d.
    const base = baseOf({ d: rec(dir()), 'd/a': rec(file(3, 1000, 'ha')), 'd/e': rec(dir()) });
    const local = tree({ d: file(3, 5000, 'hd') });
    const remote = tree({ d: dir(), 'd/a': file(4, 6000, 'hb'), 'd/e': dir(), 'd/e/new': file(1, 6000, 'hn'), 'd/new': file(1, 6000, 'hm') });
    const plan = reconcile(base, local, remote, policy({ direction: 'bidi' }));
    assert.deepEqual(plan.conflicts, [{ path: 'd', kind: 'type-clash', local: local.get('d'), remote: remote.get('d') }]);
    assert.deepEqual(plan.actions, []);
    assert.deepEqual(plan.agreements.size, 0);
    assert.deepEqual(plan.forgets, []);
  });

  test('racy base record: an unhashed side with the base fingerprint is hashed before it can be trusted', () => {
    const base = baseOf({ f: rec(B, B, 'h0', true) });
    const plan = reconcile(base, tree({ f: UNCHANGED }), tree({ f: UNCHANGED }), policy({ direction: 'push', overwrite: 'always' }));
    assert.deepEqual(outcome(plan), expected({ hashRequests: ['local f', 'remote f'] }));
  });

  test('racy base record: the same hash confirms the side unchanged', () => {
    const base = baseOf({ f: rec(B, B, 'h0', true) });
    for (const direction of ['push', 'pull', 'bidi'] as const) {
      const plan = reconcile(base, tree({ f: file(10, 1000, 'h0') }), tree({ f: file(10, 1000, 'h0') }), policy({ direction }));
      assert.deepEqual(outcome(plan), expected({}), direction);
    }
  });

  test('racy base record: another hash under the same fingerprint is a modification', () => {
    const base = baseOf({ f: rec(B, B, 'h0', true) });
    const local = tree({ f: file(10, 1000, 'h9') });
    const remote = tree({ f: file(10, 1000, 'h0') });
    assert.deepEqual(outcome(reconcile(base, local, remote, policy({ direction: 'push', overwrite: 'always' }))), expected({ actions: ['copy remote f'] }));
    assert.deepEqual(outcome(reconcile(base, local, remote, policy({ direction: 'bidi' }))), expected({ actions: ['copy remote f'] }));
    // Both sides changed under the same fingerprint to different content: a conflict, not a silent pick.
    const both = reconcile(base, local, tree({ f: file(10, 1000, 'h8') }), policy({ direction: 'bidi' }));
    assert.deepEqual(outcome(both), expected({ conflicts: ['f both-modified'] }));
  });

  test('a record that is not racy is trusted on fingerprint alone', () => {
    const plan = reconcile(baseOf(F), tree({ f: UNCHANGED }), tree({ f: UNCHANGED }), policy({ direction: 'push' }));
    assert.deepEqual(plan.hashRequests, []);
  });

  test('actions are ordered: deletes deepest first, then mkdirs parent first, then copies', () => {
    const base = baseOf({
      x: rec(dir()),
      'x/y': rec(dir()),
      'x/y/z': rec(file(1, 1000, 'hz')),
      'x/w': rec(file(1, 1000, 'hw')),
      q: rec(file(1, 1000, 'hq')),
    });
    const local = tree({
      'a': dir(),
      'a/b': dir(),
      'a/b/c': file(2, 5000, 'hc'),
      'a/f': file(2, 5000, 'hf'),
      'm': dir(),
      'top': file(2, 5000, 'ht'),
    });
    const remote = tree({ x: dir(), 'x/y': dir(), 'x/y/z': file(1, 1000), 'x/w': file(1, 1000), q: file(1, 1000) });
    const plan = reconcile(base, local, remote, policy({ direction: 'push', overwrite: 'always' }));
    const actions = outcome(plan).actions;
    assert.deepEqual(actions.slice(0, 5), ['delete remote x/y/z', 'delete remote x/w', 'delete remote x/y', 'delete remote q', 'delete remote x']);
    assert.deepEqual(actions.slice(5, 8), ['mkdir remote a', 'mkdir remote a/b', 'mkdir remote m']);
    assert.deepEqual(new Set(actions.slice(8)), new Set(['copy remote a/b/c', 'copy remote a/f', 'copy remote top']));
    assert.equal(actions.length, 11);
  });

  test('a mode-only change is sent as setmeta when modes are preserved', () => {
    const base = baseOf(F);
    const local = tree({ f: file(10, 1000, undefined, { mode: 0o755 }) });
    const remote = tree({ f: UNCHANGED });
    const push = reconcile(base, local, remote, policy({ direction: 'push', overwrite: 'always' }));
    assert.deepEqual(push.actions, [{ kind: 'setmeta', path: 'f', to: 'remote', source: local.get('f'), expect: UNCHANGED }]);
    const bidi = reconcile(base, local, remote, policy({ direction: 'bidi' }));
    assert.deepEqual(outcome(bidi), expected({ actions: ['setmeta remote f'] }));
  });

  test('a mode-only change is no change at all when modes are not preserved', () => {
    const local = tree({ f: file(10, 1000, undefined, { mode: 0o755 }) });
    const plan = reconcile(baseOf(F), local, tree({ f: UNCHANGED }), policy({ direction: 'push', preserve: { times: false, mode: false, owner: false } }));
    assert.deepEqual(outcome(plan), expected({}));
  });

  test('an owner-only change on one side and an edit on the other is no conflict when owners are not preserved', () => {
    const plan = reconcile(baseOf(F), tree({ f: L1 }), tree({ f: file(10, 1000, undefined, { uid: 0 }) }), policy({ direction: 'bidi', preserve: { times: true, mode: true, owner: false } }));
    assert.deepEqual(outcome(plan), expected({ actions: ['copy remote f'] }));
  });

  test('a rename into a directory that is in conflict is not replayed', () => {
    // Local: c is a directory, the peer has a file c (a type clash); locally b/y moves into c/.
    const base = baseOf({ b: rec(dir()), 'b/y': rec(file(3, 1000, 'hy', { ino: 9, dev: 1 }), file(3, 1000)) });
    const local = tree({ b: dir(), c: dir(), 'c/y': file(3, 1000, 'hy', { ino: 9, dev: 1 }) });
    const remote = tree({ b: dir(), 'b/y': file(3, 1000), c: file(5, 2000, 'hc') });
    const plan = reconcile(base, local, remote, policy({ direction: 'bidi' }));
    assert.deepEqual(invariantViolations(plan), []);
    assert.deepEqual(plan.actions.filter((a) => a.kind === 'rename'), []);
    assert.deepEqual(outcome(plan).conflicts, ['c type-clash']);
  });

  test('a directory mode change is setmeta, not a re-creation', () => {
    const base = baseOf({ d: rec(dir()) });
    const plan = reconcile(base, tree({ d: dir({ mode: 0o700 }) }), tree({ d: dir() }), policy({ direction: 'push' }));
    assert.deepEqual(outcome(plan), expected({ actions: ['setmeta remote d'] }));
  });

  test('a touched file whose hash is known and equal is metadata-only, not a transfer', () => {
    const plan = reconcile(baseOf(F), tree({ f: file(10, 4000, 'h0') }), tree({ f: UNCHANGED }), policy({ direction: 'push' }));
    assert.deepEqual(outcome(plan), expected({ actions: ['setmeta remote f'] }));
  });

  test('a directory is not deleted while something inside it stays (an excluded file the scan listed)', () => {
    const base = baseOf({ d: rec(dir()), 'd/a': rec(file(3, 1000, 'ha')) });
    const plan = reconcile(base, tree({}), tree({ d: dir(), 'd/a': file(3, 1000), 'd/keep.log': file(1, 1000) }), policy({ direction: 'push', overwrite: 'always', isExcluded: (p) => p.endsWith('.log') }));
    assert.deepEqual(outcome(plan).actions, ['delete remote d/a']);
    assert.deepEqual(plan.skips.map((s) => s.path), ['d']);
  });

  test('excluded paths are asked about with whether they are directories', () => {
    const seen: string[] = [];
    reconcile(baseOf(), tree({ d: dir(), 'd/f': file(1, 1000, 'h') }), tree({}), policy({ direction: 'push', isExcluded: (p, isDir) => (seen.push(`${p}:${isDir}`), false) }));
    assert.deepEqual(seen, ['d:true', 'd/f:false']);
  });

  test('problems are reported with their side and block the subtree', () => {
    const base = baseOf({ d: rec(dir()), 'd/a': rec(file(3, 1000, 'ha')) });
    const plan = reconcile(base, tree({ d: problem('EACCES') }), tree({ d: dir(), 'd/a': file(3, 1000) }), policy({ direction: 'push', overwrite: 'always' }));
    assert.deepEqual(plan.problems, [{ path: 'd', side: 'local', message: 'EACCES' }]);
    assert.deepEqual(plan.actions, []);
    assert.deepEqual(plan.forgets, []);
  });

  test('a root that could not be read blocks the whole plan', () => {
    const base = baseOf({ a: rec(file(3, 1000, 'ha')), b: rec(file(3, 1000, 'hb')) });
    const plan = reconcile(base, tree({ '': problem('cannot list root') }), tree({ a: file(3, 1000), b: file(3, 1000) }), policy({ direction: 'push', overwrite: 'always' }));
    assert.deepEqual(plan.actions, []);
    assert.deepEqual(plan.forgets, []);
    assert.deepEqual(plan.problems.map((p) => p.path), ['']);
  });

  test('without a base record, a target-only path is deleted only by a one-way mirror with overwrite always', () => {
    const run = (direction: Direction, overwrite: Overwrite) =>
      outcome(reconcile(baseOf(), tree({ l: file(1, 1000, 'hl') }), tree({ r: file(2, 1000, 'hr') }), policy({ direction, overwrite })));
    assert.deepEqual(run('push', 'always').actions, ['delete remote r', 'copy remote l']);
    assert.deepEqual(run('push', 'newer').actions, ['copy remote l']);
    assert.deepEqual(run('push', 'never').conflicts, ['r both-created']);
    for (const overwrite of ['always', 'newer', 'never'] as const) {
      assert.deepEqual(run('bidi', overwrite).actions.sort(), ['copy local r', 'copy remote l']);
    }
  });

  test('an inode number reused after a delete is no rename: a file must keep its size and mtime', () => {
    // Remote deleted f; a new file g got f's inode number. Local still has f as agreed.
    const base = baseOf({ f: rec(file(8, 1000, undefined, { ino: 5, dev: 1 }), file(8, 1000, undefined, { ino: 7, dev: 1 }), 'hf') });
    const local = tree({ f: file(8, 1000, undefined, { ino: 5, dev: 1 }) });
    const remote = tree({ g: file(3, 9000, 'hg', { ino: 7, dev: 1 }) });
    const plan = reconcile(base, local, remote, policy({ direction: 'bidi' }));
    assert.deepEqual(outcome(plan).actions, ['delete local f', 'copy local g']);
  });

  test('a rename from a racy record waits for the hash of the other side\'s file, and needs it to match', () => {
    const base = baseOf({ f: { ...rec(file(8, 1000, undefined, { ino: 5, dev: 1 }), file(8, 1000), 'hf'), racy: true } });
    const local = tree({ g: file(8, 1000, 'hf', { ino: 5, dev: 1 }) });
    const ask = reconcile(base, local, tree({ f: file(8, 1000) }), policy({ direction: 'bidi' }));
    assert.deepEqual(ask.actions.filter((a) => a.kind === 'rename'), []);
    assert.ok(outcome(ask).hashRequests.includes('remote f'));
    const changed = reconcile(base, local, tree({ f: file(8, 1000, 'h-other') }), policy({ direction: 'bidi' }));
    assert.deepEqual(changed.actions.filter((a) => a.kind === 'rename'), []);
    const same = reconcile(base, local, tree({ f: file(8, 1000, 'hf') }), policy({ direction: 'bidi' }));
    assert.deepEqual(outcome(same).actions, ['rename remote g']);
  });

  test('a file the plan deletes on the target is never the source of a copy there', () => {
    // Local: b became a directory, its old content is now at a. Remote still has file b.
    const base = baseOf({ b: rec(file(2, 1000, undefined, { ino: 3, dev: 1 }), file(2, 1000), 'hb') });
    const local = tree({ a: file(2, 5000, 'hb', { ino: 9, dev: 1 }), b: dir(), 'b/y': file(4, 5000, 'hy') });
    const plan = reconcile(base, local, tree({ b: file(2, 1000) }), policy({ direction: 'bidi', copyWithin: { remote: true }, cheapHash: { local: true } }));
    assert.deepEqual(plan.actions.filter((a) => a.kind === 'clone'), []);
    assert.ok(outcome(plan).actions.includes('copy remote a'));
  });

  test('a new file whose content the target already holds becomes a copy there', () => {
    const base = baseOf({ keep: rec(file(4, 1000), file(4, 1000), 'hk') });
    const plan = reconcile(base, tree({ keep: file(4, 1000), dup: file(4, 5000, 'hk') }), tree({ keep: file(4, 1000) }), policy({ direction: 'push', copyWithin: { remote: true }, cheapHash: { local: true } }));
    assert.deepEqual(plan.actions.map((a) => (a.kind === 'clone' ? `clone ${a.from} -> ${a.path}` : a.kind)), ['clone keep -> dup']);
  });
});

describe('reconcile: a scoped plan (given the records outside its scope as `outside`)', () => {
  // A push run renamed lib to src and made a copy of other/keep elsewhere; other/* is unchanged on both
  // sides, so the plan is given only lib, src and docs, and other's records as `outside`.
  const libRecord = rec(file(3, 1000, undefined, { ino: 5, dev: 1 }), file(3, 1000), 'h-lib');
  const outsideBase = baseOf({ other: rec(dir()), 'other/keep': rec(file(4, 1000), file(4, 1000), 'hk'), 'other/Readme': rec(file(2, 1000), file(2, 1000), 'hr') });
  const outside = [...outsideBase];
  const scoped = () => ({
    base: baseOf({ lib: rec(dir({ ino: 4, dev: 1 }), dir()), 'lib/a': libRecord }),
    local: tree({ src: dir({ ino: 4, dev: 1 }), 'src/a': file(3, 1000, undefined, { ino: 5, dev: 1 }), docs: dir(), 'docs/dup': file(4, 5000, 'hk') }),
    remote: tree({ lib: dir(), 'lib/a': file(3, 1000) }),
  });
  const push = policy({ direction: 'push', overwrite: 'always', copyWithin: { remote: true }, cheapHash: { local: true } });
  const describeAll = (plan: Plan) => plan.actions.map((a) => (a.kind === 'clone' || a.kind === 'rename' ? `${a.kind} ${a.from} -> ${a.path}` : describeAction(a)));

  test('finds the rename within the scope, copies from a record outside it, and decides nothing about what is outside', () => {
    const { base, local, remote } = scoped();
    const plan = reconcile(base, local, remote, push, outside);
    assert.deepEqual(describeAll(plan), ['rename lib -> src', 'mkdir remote docs', 'clone other/keep -> docs/dup']);
    const clone = plan.actions.find((a) => a.kind === 'clone');
    assert.deepEqual(clone?.kind === 'clone' && clone.fromExpect, outsideBase.get('other/keep')!.remote);
    for (const path of outsideBase.keys()) {
      assert.ok(!plan.forgets.includes(path) && !plan.agreements.has(path), path);
      assert.ok(!plan.actions.some((a) => a.path === path), path);
    }
    // Without `outside` the copy has no source: the file is sent.
    assert.deepEqual(describeAll(reconcile(base, local, remote, push)), ['rename lib -> src', 'mkdir remote docs', 'copy remote docs/dup']);
  });

  test('a new name clashing with one outside the scope, on a case-insensitive side, is a clash', () => {
    const { base, local, remote } = scoped();
    local.set('other/README', file(6, 5000, 'h-new'));
    const plan = reconcile(base, local, remote, { ...push, caseInsensitive: { remote: true } }, outside);
    assert.deepEqual(plan.problems.map((p) => p.path).sort(), ['other/README', 'other/Readme']);
    assert.ok(!plan.actions.some((a) => a.path === 'other/README' || a.path === 'other/Readme'), describeAll(plan).join(', '));
    // The rest of the plan goes ahead.
    assert.ok(describeAll(plan).includes('rename lib -> src'));
  });

  test('both sides creating a path with different content is "both created" while a snapshot exists outside the scope', () => {
    const both = (o?: typeof outside) => reconcile(baseOf(), tree({ n: file(1, 1000, 'h1') }), tree({ n: file(2, 1000, 'h2') }), policy({ direction: 'bidi' }), o).conflicts.map((c) => c.kind);
    assert.deepEqual(both(outside), ['both-created']);
    assert.deepEqual(both(), ['undeterminable']);
  });
});
