import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findCaseClashes, foldName } from '../../src/engine/caseClash';
import type { Plan } from '../../src/engine/plan';
import type { Side } from '../../src/engine/policy';
import { reconcile } from '../../src/engine/reconcile';
import { baseOf, dir, file, invariantViolations, outcome, policy, rec, tree } from './fixtures';

/*
 * Names differing only in case against a side whose file system ignores case: reported as a clash
 * (a problem at every clashing path, nothing at or under them written), never merged; everything else
 * syncs. A case-only rename is not a clash.
 */

const REMOTE_CI = { remote: true } as const;
const LOCAL_CI = { local: true } as const;

function problemsOf(plan: Plan): string[] {
  return plan.problems.map((p) => `${p.side} ${p.path}`).sort();
}

function clean(plan: Plan): Plan {
  assert.deepEqual(invariantViolations(plan), []);
  return plan;
}

describe('foldName', () => {
  test('folds case and Unicode normalisation, nothing else', () => {
    assert.equal(foldName('README.md'), foldName('Readme.md'));
    assert.equal(foldName('ÄRGER.txt'), foldName('ärger.txt'));
    // NFD 'e' + combining acute vs NFC 'É'.
    assert.equal(foldName('Cafe\u0301'), foldName('CAFÉ'));
    assert.notEqual(foldName('a.txt'), foldName('a.txt '));
    assert.notEqual(foldName('a-b'), foldName('a_b'));
  });
});

describe('case clash against a case-insensitive side', () => {
  for (const direction of ['push', 'bidi'] as const) {
    test(`${direction}: two new local names differing only in case are both left alone; the rest syncs`, () => {
      const local = tree({ 'README.md': file(1, 1000, 'h1'), 'Readme.md': file(2, 1000, 'h2'), 'other.txt': file(3, 1000, 'h3') });
      const plan = clean(reconcile(baseOf(), local, tree(), policy({ direction, overwrite: 'always', caseInsensitive: REMOTE_CI })));
      assert.deepEqual(outcome(plan).actions, ['copy remote other.txt']);
      assert.deepEqual(problemsOf(plan), ['remote README.md', 'remote Readme.md']);
      for (const p of plan.problems) {
        assert.match(p.message, /case clash: 'README\.md' and 'Readme\.md' would be one file on the remote side/);
      }
    });
  }

  test('without case-insensitivity both names are copied (a case-sensitive side keeps both)', () => {
    const local = tree({ 'README.md': file(1, 1000, 'h1'), 'Readme.md': file(2, 1000, 'h2') });
    const plan = clean(reconcile(baseOf(), local, tree(), policy({ direction: 'push', overwrite: 'always' })));
    assert.deepEqual(outcome(plan).actions, ['copy remote README.md', 'copy remote Readme.md']);
    assert.deepEqual(plan.problems, []);
  });

  test('a new name clashing with a different name already on the case-insensitive side: neither is touched', () => {
    // readme.md was synced before; local now also has README.md (a different file).
    const base = baseOf({ 'readme.md': rec(file(5, 1000, 'h0')) });
    const local = tree({ 'readme.md': file(6, 2000, 'h6'), 'README.md': file(7, 2000, 'h7') });
    const remote = tree({ 'readme.md': file(5, 1000) });
    for (const direction of ['push', 'bidi'] as const) {
      const plan = clean(reconcile(base, local, remote, policy({ direction, overwrite: 'always', caseInsensitive: REMOTE_CI })));
      // Not even the ordinary update of readme.md: it is one of the clashing names.
      assert.deepEqual(outcome(plan).actions, [], direction);
      assert.deepEqual(problemsOf(plan), ['remote README.md', 'remote readme.md'], direction);
    }
  });

  test('first bidi run: README.md on one side, readme.md on the case-insensitive other: neither is copied anywhere', () => {
    const local = tree({ 'README.md': file(1, 1000, 'h1'), keep: file(1, 1000, 'hk') });
    const remote = tree({ 'readme.md': file(2, 1000, 'h2'), keep: file(1, 1000, 'hk') });
    const plan = clean(reconcile(baseOf(), local, remote, policy({ direction: 'bidi', caseInsensitive: REMOTE_CI })));
    assert.deepEqual(outcome(plan).actions, []);
    assert.deepEqual(outcome(plan).agreements, ['keep']);
    assert.deepEqual(problemsOf(plan), ['remote README.md', 'remote readme.md']);
  });

  test('directories differing only in case are never merged: both subtrees are left alone', () => {
    const local = tree({ Docs: dir(), 'Docs/a.txt': file(1, 1000, 'ha'), docs: dir(), 'docs/b.txt': file(2, 1000, 'hb'), x: file(3, 1000, 'hx') });
    const plan = clean(reconcile(baseOf(), local, tree(), policy({ direction: 'push', overwrite: 'always', caseInsensitive: REMOTE_CI })));
    assert.deepEqual(outcome(plan).actions, ['copy remote x']);
    assert.deepEqual(problemsOf(plan), ['remote Docs', 'remote docs']);
  });

  test('a new directory whose name differs only in case from an existing one there is a clash', () => {
    const base = baseOf({ docs: rec(dir()), 'docs/a': rec(file(1, 1000, 'ha')) });
    const local = tree({ docs: dir(), 'docs/a': file(1, 1000), Docs: dir(), 'Docs/b': file(2, 1000, 'hb') });
    const remote = tree({ docs: dir(), 'docs/a': file(1, 1000) });
    const plan = clean(reconcile(base, local, remote, policy({ direction: 'push', overwrite: 'always', caseInsensitive: REMOTE_CI })));
    assert.deepEqual(outcome(plan).actions, []);
    assert.deepEqual(problemsOf(plan), ['remote Docs', 'remote docs']);
  });

  test('names in different directories never clash, nor a name with itself', () => {
    const local = tree({ a: dir(), 'a/x': file(1, 1000, 'h1'), b: dir(), 'b/X': file(2, 1000, 'h2') });
    const plan = clean(reconcile(baseOf(), local, tree(), policy({ direction: 'push', overwrite: 'always', caseInsensitive: REMOTE_CI })));
    assert.deepEqual(plan.problems, []);
    assert.equal(plan.actions.length, 4);
  });

  test('the clash is checked per direction: bidi with a case-insensitive local side', () => {
    const remote = tree({ 'A.txt': file(1, 1000, 'h1'), 'a.txt': file(2, 1000, 'h2'), 'b.txt': file(3, 1000, 'h3') });
    const plan = clean(reconcile(baseOf(), tree(), remote, policy({ direction: 'bidi', caseInsensitive: LOCAL_CI })));
    assert.deepEqual(outcome(plan).actions, ['copy local b.txt']);
    assert.deepEqual(problemsOf(plan), ['local A.txt', 'local a.txt']);
    // The case-sensitive remote side is no reason for a clash.
    const other = clean(reconcile(baseOf(), tree(), remote, policy({ direction: 'bidi', caseInsensitive: REMOTE_CI })));
    assert.deepEqual(other.problems, []);
  });

  test('three names folding together are one clash naming all three', () => {
    const local = tree({ 'ab': file(1, 1000, 'h1'), 'Ab': file(2, 1000, 'h2'), 'AB': file(3, 1000, 'h3') });
    const plan = clean(reconcile(baseOf(), local, tree(), policy({ direction: 'push', overwrite: 'always', caseInsensitive: REMOTE_CI })));
    assert.deepEqual(plan.actions, []);
    assert.equal(plan.problems.length, 3);
    assert.match(plan.problems[0].message, /'AB', 'Ab' and 'ab' would be one file/);
  });

  test('non-ASCII names fold too', () => {
    const local = tree({ 'Ärger.txt': file(1, 1000, 'h1'), 'ärger.txt': file(2, 1000, 'h2') });
    const plan = clean(reconcile(baseOf(), local, tree(), policy({ direction: 'push', overwrite: 'always', caseInsensitive: REMOTE_CI })));
    assert.deepEqual(plan.actions, []);
    assert.deepEqual(problemsOf(plan), ['remote Ärger.txt', 'remote ärger.txt']);
  });
});

describe('case-only renames are not clashes', () => {
  const FOO = file(4, 1000, undefined, { ino: 11, dev: 1 });
  const base = baseOf({ foo: rec(FOO, file(4, 1000), 'hf') });

  test('a rename the local side made (same inode) is replayed as a rename on the case-insensitive side', () => {
    const plan = clean(reconcile(base, tree({ Foo: FOO }), tree({ foo: file(4, 1000) }), policy({ direction: 'push', overwrite: 'always', caseInsensitive: REMOTE_CI })));
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.actions.map((a) => (a.kind === 'rename' ? `rename ${a.to} ${a.from} -> ${a.path}` : a.kind)), ['rename remote foo -> Foo']);
  });

  test('without identity it is a delete of the old name before a copy of the new one: no clash', () => {
    const plain = baseOf({ foo: rec(file(4, 1000), file(4, 1000), 'hf') });
    const local = tree({ Foo: file(5, 3000, 'hg') });
    for (const direction of ['push', 'bidi'] as const) {
      const plan = clean(reconcile(plain, local, tree({ foo: file(4, 1000) }), policy({ direction, overwrite: 'always', caseInsensitive: REMOTE_CI })));
      assert.deepEqual(plan.problems, [], direction);
      assert.deepEqual(outcome(plan).actions, ['delete remote foo', 'copy remote Foo'], direction);
    }
  });

  test('a directory renamed in case only is one rename', () => {
    const D = dir({ ino: 21, dev: 1 });
    const A = file(1, 1000, undefined, { ino: 22, dev: 1 });
    const dbase = baseOf({ docs: rec(D, dir()), 'docs/a': rec(A, file(1, 1000), 'ha') });
    const plan = clean(reconcile(dbase, tree({ Docs: D, 'Docs/a': A }), tree({ docs: dir(), 'docs/a': file(1, 1000) }), policy({ direction: 'push', overwrite: 'always', caseInsensitive: REMOTE_CI })));
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.actions.map((a) => `${a.kind} ${a.to} ${a.path}`), ['rename remote Docs']);
  });
});

describe('findCaseClashes', () => {
  const sides = (local: Record<string, ReturnType<typeof file>>, remote: Record<string, ReturnType<typeof file>>) => ({ local: tree(local), remote: tree(remote) });
  const ci = (side: Side) => ({ [side]: true });

  test('a replacing copy (the exact name is already there) creates no new name', () => {
    const clashes = findCaseClashes([{ kind: 'copy', path: 'A', to: 'remote', source: file(1, 1), expect: file(2, 2) }], sides({}, { A: file(2, 2), a: file(3, 3) }), ci('remote'));
    assert.deepEqual(clashes, []);
  });

  test('a deletion before the create frees the name; a deletion that only makes room for a new type does not', () => {
    const trees = sides({}, { a: file(2, 2) });
    const create = { kind: 'copy', path: 'A', to: 'remote', source: file(1, 1), expect: undefined } as const;
    assert.deepEqual(findCaseClashes([{ kind: 'delete', path: 'a', to: 'remote', expect: file(2, 2) }, create], trees, ci('remote')), []);
    assert.deepEqual(findCaseClashes([{ kind: 'delete', path: 'a', to: 'remote', expect: file(2, 2), replaced: true }, create], trees, ci('remote')), [{ side: 'remote', paths: ['A', 'a'] }]);
  });

  test('only the case-insensitive side is looked at', () => {
    const create = { kind: 'copy', path: 'A', to: 'local', source: file(1, 1), expect: undefined } as const;
    assert.deepEqual(findCaseClashes([create], sides({ a: file(2, 2) }, {}), ci('remote')), []);
    assert.deepEqual(findCaseClashes([create], sides({ a: file(2, 2) }, {}), ci('local')), [{ side: 'local', paths: ['A', 'a'] }]);
  });
});
