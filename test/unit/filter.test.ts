import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Minimatch } from 'minimatch';
import { Filter, type FilterRule } from '../../src/engine/filter';

const inc = (pattern: string): FilterRule => ({ type: 'include', pattern });
const exc = (pattern: string): FilterRule => ({ type: 'exclude', pattern });

describe('Filter', () => {
  test('no rules: everything is included', () => {
    const f = Filter.none();
    assert.equal(f.isEmpty, true);
    assert.equal(f.excludes('a/b.txt', false), false);
    assert.equal(f.excludes('a', true), false);
  });

  test('the first matching rule wins', () => {
    const f = new Filter([inc('keep.log'), exc('*.log')]);
    assert.equal(f.isEmpty, false);
    assert.equal(f.excludes('keep.log', false), false);
    assert.equal(f.excludes('other.log', false), true);
    const g = new Filter([exc('*.log'), inc('keep.log')]);
    assert.equal(g.excludes('keep.log', false), true);
  });

  test('a path no rule matches is included', () => {
    const f = new Filter([exc('*.log')]);
    assert.equal(f.excludes('main.ts', false), false);
  });

  test('an unanchored pattern matches the name at any depth', () => {
    const f = new Filter([exc('node_modules'), exc('*.o')]);
    assert.equal(f.excludes('node_modules', true), true);
    assert.equal(f.excludes('pkg/a/node_modules', true), true);
    assert.equal(f.excludes('src/x.o', false), true);
    assert.equal(f.excludes('deep/er/still/y.o', false), true);
    assert.equal(f.excludes('src/x.ok', false), false);
    assert.equal(f.excludes('node_modules_old', true), false);
  });

  test('a pattern containing / is anchored at the root', () => {
    const f = new Filter([exc('build/out')]);
    assert.equal(f.excludes('build/out', true), true);
    assert.equal(f.excludes('sub/build/out', true), false);
    assert.equal(f.excludes('out', true), false);
  });

  test('a leading / only anchors', () => {
    const f = new Filter([exc('/dist')]);
    assert.equal(f.excludes('dist', true), true);
    assert.equal(f.excludes('pkg/dist', true), false);
  });

  test('an anchored glob matches only at its depth', () => {
    const f = new Filter([exc('src/*.js')]);
    assert.equal(f.excludes('src/a.js', false), true);
    assert.equal(f.excludes('src/sub/a.js', false), false);
    assert.equal(f.excludes('a.js', false), false);
  });

  test('a trailing / matches directories only', () => {
    const f = new Filter([exc('cache/')]);
    assert.equal(f.excludes('cache', true), true);
    assert.equal(f.excludes('a/cache', true), true);
    assert.equal(f.excludes('cache', false), false);
    assert.equal(f.excludes('a/cache', false), false);
  });

  test("--include '*/' --include '*.ts' --exclude '*' keeps the tree and only .ts files", () => {
    const f = new Filter([inc('*/'), inc('*.ts'), exc('*')]);
    assert.equal(f.excludes('src', true), false);
    assert.equal(f.excludes('src/engine', true), false);
    assert.equal(f.excludes('src/engine/reconcile.ts', false), false);
    assert.equal(f.excludes('README.md', false), true);
    assert.equal(f.excludes('src/engine/notes.md', false), true);
    // A file named like a directory pattern is not let through by '*/'.
    assert.equal(f.excludes('Makefile', false), true);
  });

  test('wildcards match dotfiles', () => {
    const f = new Filter([exc('*')]);
    assert.equal(f.excludes('.env', false), true);
    assert.equal(f.excludes('a/.git', true), true);
    const g = new Filter([exc('.*')]);
    assert.equal(g.excludes('.vscode', true), true);
    assert.equal(g.excludes('src/.eslintrc', false), true);
    assert.equal(g.excludes('src/main.ts', false), false);
    const h = new Filter([exc('*.swp')]);
    assert.equal(h.excludes('.main.ts.swp', false), true);
  });

  test('character classes and ? work on the name', () => {
    const f = new Filter([exc('file?.[ch]')]);
    assert.equal(f.excludes('x/file1.c', false), true);
    assert.equal(f.excludes('x/file1.h', false), true);
    assert.equal(f.excludes('x/file12.c', false), false);
  });

  test('an empty pattern is refused', () => {
    assert.throws(() => new Filter([exc('  ')]), /empty exclude pattern/);
  });

  test('a leading # or ! is part of the name, not a comment or negation', () => {
    const f = new Filter([exc('#notes'), exc('!important')]);
    assert.equal(f.excludes('#notes', false), true);
    assert.equal(f.excludes('!important', false), true);
    assert.equal(f.excludes('other', false), false);
  });

  test('each rule decides exactly as minimatch matching the path would (the fast matchers change nothing)', () => {
    const patterns = ['*.log', 'node_modules', '.git', '.ssh-sync-marker.json', 'build/', '/dist', 'src/**/*.ts', '**/tmp', 'a/*/c',
      '[ab]*.txt', '?.md', 'x{1,2}.bin', 'caf\u00e9', 'we\\*ird', 'docs/**', '**', '*', '.*', 'a b/c d', 'deep/**/x/*.y'];
    const paths = ['a.log', 'x/a.log', 'node_modules', 'p/node_modules', 'node_modules.txt', '.git', 'src/.git', 'build', 'x/build',
      'dist', 'x/dist', 'src/a.ts', 'src/b/c/d.ts', 'src/a.tsx', 'tmp', 'a/tmp', 'a/b/tmp', 'a/b/c', 'a/b/b/c', 'a.txt', 'b1.txt',
      'c.txt', 'r.md', 'rr.md', 'x1.bin', 'x3.bin', 'caf\u00e9', 'we*ird', 'weXird', 'docs', 'docs/a/b', '.hidden', 'a/.hidden',
      'a b/c d', 'deep/x/q.y', 'deep/1/2/x/q.y', '.ssh-sync-marker.json', 'x/.ssh-sync-marker.json'];
    for (const pattern of patterns) {
      for (const type of ['include', 'exclude'] as const) {
        const rules: FilterRule[] = [{ type, pattern }];
        const f = new Filter(rules);
        let trimmed = pattern.replace(/\/+$/, '');
        const dirOnly = trimmed !== pattern;
        const anchored = trimmed.includes('/');
        trimmed = trimmed.replace(/^\/+/, '');
        const reference = new Minimatch(trimmed, { dot: true, nocomment: true, nonegate: true });
        for (const path of paths) {
          for (const isDir of [false, true]) {
            const matched = !(dirOnly && !isDir) && reference.match(anchored ? path : path.slice(path.lastIndexOf('/') + 1));
            assert.equal(f.excludes(path, isDir), matched && type === 'exclude', `${type} '${pattern}' on '${path}'${isDir ? ' (dir)' : ''}`);
          }
        }
      }
    }
  });
});
