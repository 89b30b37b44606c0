import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { changedSince } from '../../src/engine/changedSince';
import { baseOf, dir, file, link, problem, rec, tree } from './fixtures';

/*
 * What a run with a snapshot has to decide about: the paths whose side differs from the snapshot (or
 * needs a hash to tell), the snapshot's paths gone from that side, and the paths new to it.
 */

const base = baseOf({
  d: rec(dir({ mode: 0o755 })),
  'd/a.txt': rec(file(10, 1000, 'h-a', { mode: 0o644 })),
  'd/b.txt': rec(file(20, 2000, 'h-b', { mode: 0o644 })),
  l: rec(link('d/a.txt')),
});

const same = () =>
  tree({
    d: dir({ mode: 0o755 }),
    'd/a.txt': file(10, 1000, undefined, { mode: 0o644 }),
    'd/b.txt': file(20, 2000, undefined, { mode: 0o644 }),
    l: link('d/a.txt'),
  });

describe('changedSince', () => {
  test('nothing changed: nothing to decide', () => {
    assert.deepEqual(changedSince(base, 'local', same()), []);
    assert.deepEqual(changedSince(base, 'remote', same()), []);
  });

  test('modified content, mode and link targets are listed; nothing is new', () => {
    const t = same();
    t.set('d/a.txt', file(11, 1000, undefined, { mode: 0o644 }));
    t.set('d/b.txt', file(20, 2000, undefined, { mode: 0o600 }));
    t.set('l', link('elsewhere'));
    assert.deepEqual(changedSince(base, 'local', t).sort(), ['d/a.txt', 'd/b.txt', 'l']);
  });

  test('deleted and new paths are listed', () => {
    const t = same();
    t.delete('d/b.txt');
    t.set('d/new.txt', file(1, 3000));
    assert.deepEqual(changedSince(base, 'local', t).sort(), ['d/b.txt', 'd/new.txt']);
  });

  test('a renamed directory is listed at both ends, everything under them included', () => {
    const t = same();
    t.delete('d');
    t.delete('d/a.txt');
    t.delete('d/b.txt');
    t.set('e', dir({ mode: 0o755 }));
    t.set('e/a.txt', file(10, 1000, undefined, { mode: 0o644 }));
    t.set('e/b.txt', file(20, 2000, undefined, { mode: 0o644 }));
    assert.deepEqual(changedSince(base, 'local', t).sort(), ['d', 'd/a.txt', 'd/b.txt', 'e', 'e/a.txt', 'e/b.txt']);
  });

  test('a problem at a known path is listed (the plan reports it)', () => {
    const t = same();
    t.set('d/a.txt', problem());
    assert.deepEqual(changedSince(base, 'local', t), ['d/a.txt']);
  });

  test('a racy record is listed until a hash confirms it', () => {
    const racy = baseOf({ 'f.txt': rec(file(5, 9000, 'h-f'), file(5, 9000), 'h-f', true) });
    assert.deepEqual(changedSince(racy, 'local', tree({ 'f.txt': file(5, 9000) })), ['f.txt']);
    assert.deepEqual(changedSince(racy, 'local', tree({ 'f.txt': file(5, 9000, 'h-f') })), []);
  });

  test('an owner change counts only where owners are preserved', () => {
    const owned = baseOf({ 'f.txt': rec(file(5, 9000, 'h-f', { uid: 1, gid: 1, mode: 0o644 })) });
    const t = tree({ 'f.txt': file(5, 9000, undefined, { uid: 2, gid: 1, mode: 0o644 }) });
    assert.deepEqual(changedSince(owned, 'local', t, { mode: true, owner: true }), ['f.txt']);
    assert.deepEqual(changedSince(owned, 'local', t, { mode: true, owner: false }), []);
  });
});
