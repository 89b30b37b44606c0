import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Tree } from '../../src/engine/entry';
import { guard } from '../../src/engine/guard';
import type { Action, Plan } from '../../src/engine/plan';
import { reconcile } from '../../src/engine/reconcile';
import type { Side } from '../../src/engine/policy';
import { baseOf, dir, file, policy, rec, tree } from './fixtures';

function planOf(actions: Action[]): Plan {
  return { actions, agreements: new Map(), forgets: [], conflicts: [], skips: [], problems: [], hashRequests: [] };
}

/** A side holding `n` files f0..f(n-1). */
function files(n: number): Tree {
  const t: Tree = new Map();
  for (let i = 0; i < n; i++) t.set(`f${i}`, file(1, 1000));
  return t;
}

function deletes(n: number, to: Side = 'remote', replaced = false): Action[] {
  return Array.from({ length: n }, (_, i) => ({ kind: 'delete', path: `f${i}`, to, expect: file(1, 1000), ...(replaced ? { replaced: true } : {}) }) as Action);
}

describe('mass-delete guard', () => {
  test('a plan that would empty a side halts, whichever side', () => {
    const remote = guard(planOf(deletes(3, 'remote')), { local: new Map(), remote: files(3) }, {});
    assert.equal(remote.halt, true);
    assert.match(remote.reason ?? '', /delete all 3 files on the remote side/);
    const local = guard(planOf(deletes(5, 'local')), { local: files(5), remote: new Map() }, {});
    assert.equal(local.halt, true);
    assert.match(local.reason ?? '', /local side/);
  });

  test('the real plan for a vanished source folder halts', () => {
    const base = baseOf({ d: rec(dir()), 'd/a': rec(file(1, 1000, 'ha')), 'd/b': rec(file(1, 1000, 'hb')), c: rec(file(1, 1000, 'hc')) });
    const remote = tree({ d: dir(), 'd/a': file(1, 1000), 'd/b': file(1, 1000), c: file(1, 1000) });
    const plan = reconcile(base, new Map(), remote, policy({ direction: 'push', overwrite: 'always' }));
    assert.equal(plan.actions.filter((a) => a.kind === 'delete').length, 4);
    assert.equal(guard(plan, { local: new Map(), remote }, {}).halt, true);
  });

  test('more deletions than maxDelete halt; exactly maxDelete passes', () => {
    const trees = { local: files(10), remote: files(10) };
    const over = guard(planOf(deletes(3)), trees, { maxDelete: 2 });
    assert.equal(over.halt, true);
    assert.match(over.reason ?? '', /delete 3 of 10 files on the remote side, more than the limit of 2/);
    assert.equal(guard(planOf(deletes(2)), trees, { maxDelete: 2 }).halt, false);
  });

  test('maxDelete 0 halts on any deletion', () => {
    assert.equal(guard(planOf(deletes(1)), { local: files(10), remote: files(10) }, { maxDelete: 0 }).halt, true);
  });

  test('default rule: over 100 files, more than half deleted halts', () => {
    const trees = { local: files(200), remote: files(200) };
    const over = guard(planOf(deletes(101)), trees, {});
    assert.equal(over.halt, true);
    assert.match(over.reason ?? '', /101 of 200 .* limit of 100/);
    assert.equal(guard(planOf(deletes(100)), trees, {}).halt, false);
  });

  test('default rule: 100 files or fewer has no percentage limit (only the emptying rule)', () => {
    const trees = { local: files(100), remote: files(100) };
    assert.equal(guard(planOf(deletes(99)), trees, {}).halt, false);
  });

  test('small deletions pass', () => {
    const v = guard(planOf(deletes(2)), { local: files(50), remote: files(50) }, {});
    assert.deepEqual(v, { halt: false });
  });

  test('deletions that only make room for another type do not count', () => {
    const actions: Action[] = [
      ...deletes(3, 'remote', true),
      ...Array.from({ length: 3 }, (_, i) => ({ kind: 'mkdir', path: `f${i}`, to: 'remote', source: dir() }) as Action),
    ];
    const trees = { local: files(3), remote: files(3) };
    assert.equal(guard(planOf(actions), trees, {}).halt, false);
    assert.equal(guard(planOf(actions), trees, { maxDelete: 0 }).halt, false);
  });

  test('directory deletions do not count as files', () => {
    const dirs: Action[] = Array.from({ length: 5 }, (_, i) => ({ kind: 'delete', path: `d${i}`, to: 'remote', expect: dir() }) as Action);
    assert.equal(guard(planOf(dirs), { local: files(10), remote: files(10) }, { maxDelete: 1 }).halt, false);
  });

  test('deleting every file while creating others on that side is not "emptying" it', () => {
    const actions: Action[] = [...deletes(3), { kind: 'copy', path: 'new', to: 'remote', source: file(1, 1000), expect: undefined }];
    assert.equal(guard(planOf(actions), { local: files(3), remote: files(3) }, {}).halt, false);
  });
});
