import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ancestors, baseName, compareParentFirst, depth, invalidSegment, isWithin, join, parentOf, ROOT, toRelPath } from '../../src/engine/path';

describe('toRelPath', () => {
  test('accepts ordinary relative paths and the root', () => {
    assert.equal(toRelPath(''), ROOT);
    assert.equal(toRelPath('a'), 'a');
    assert.equal(toRelPath('a/b c/d.txt'), 'a/b c/d.txt');
    assert.equal(toRelPath('.hidden/..dots'), '.hidden/..dots');
  });

  test("rejects '..' and '.' segments", () => {
    assert.throws(() => toRelPath('..'), /reserved name '\.\.'/);
    assert.throws(() => toRelPath('a/../b'), /reserved name/);
    assert.throws(() => toRelPath('a/..'), /reserved name/);
    assert.throws(() => toRelPath('./a'), /reserved name '\.'/);
  });

  test('rejects absolute paths', () => {
    assert.throws(() => toRelPath('/etc/passwd'), /absolute/);
    assert.throws(() => toRelPath('/'), /absolute/);
  });

  test('rejects NUL', () => {
    assert.throws(() => toRelPath('a\0b'), /NUL/);
    assert.throws(() => toRelPath('a/\0'), /NUL/);
  });

  test('rejects empty segments', () => {
    assert.throws(() => toRelPath('a//b'), /empty name/);
    assert.throws(() => toRelPath('a/'), /empty name/);
  });

  test('normalises to NFC', () => {
    const nfd = 'cafe\u0301/re\u0301sume\u0301.txt';
    const out = toRelPath(nfd);
    assert.equal(out, 'caf\u00e9/r\u00e9sum\u00e9.txt');
    assert.equal(out, out.normalize('NFC'));
    assert.notEqual(out.length, nfd.length);
  });

  test('invalidSegment names each reason and accepts ordinary names', () => {
    assert.equal(invalidSegment('ok.txt'), undefined);
    assert.equal(invalidSegment(''), 'empty name');
    assert.match(invalidSegment('a/b') ?? '', /contains '\/'/);
    assert.match(invalidSegment('a\0') ?? '', /NUL/);
  });
});

describe('path helpers', () => {
  test('ancestors lists every proper ancestor, nearest last', () => {
    assert.deepEqual(ancestors('a/b/c'), ['a', 'a/b']);
    assert.deepEqual(ancestors('a'), []);
    assert.deepEqual(ancestors(ROOT), []);
  });

  test('join, parentOf, baseName and depth agree with each other', () => {
    assert.equal(join(ROOT, 'a'), 'a');
    assert.equal(join('a/b', 'c'), 'a/b/c');
    assert.equal(parentOf('a/b/c'), 'a/b');
    assert.equal(parentOf('a'), ROOT);
    assert.equal(baseName('a/b/c.txt'), 'c.txt');
    assert.equal(baseName('c'), 'c');
    assert.equal(depth(ROOT), 0);
    assert.equal(depth('a'), 1);
    assert.equal(depth('a/b/c'), 3);
  });

  test('isWithin: the path itself and its descendants, not a sibling sharing a prefix', () => {
    assert.equal(isWithin('a/b', 'a'), true);
    assert.equal(isWithin('a', 'a'), true);
    assert.equal(isWithin('ab', 'a'), false);
    assert.equal(isWithin('a', 'a/b'), false);
    assert.equal(isWithin('anything', ROOT), true);
  });

  test('compareParentFirst puts a parent before its children and groups subtrees', () => {
    const paths = ['b', 'a/b/c', 'a.txt', 'a/b', 'a', 'a-b', 'a/a', ROOT];
    const sorted = [...paths].sort(compareParentFirst);
    assert.deepEqual(sorted, [ROOT, 'a', 'a/a', 'a/b', 'a/b/c', 'a-b', 'a.txt', 'b']);
    for (let i = 0; i < sorted.length; i++) {
      for (const a of ancestors(sorted[i])) assert.ok(sorted.indexOf(a) < i, `${a} before ${sorted[i]}`);
    }
    assert.equal(compareParentFirst('a', 'a'), 0);
    assert.ok(compareParentFirst('a', 'a/b') < 0);
    assert.ok(compareParentFirst('a/b', 'a') > 0);
  });
});
