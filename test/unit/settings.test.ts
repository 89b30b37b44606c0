import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Filter } from '../../src/engine/filter';
import { readSessions } from '../../src/vscode/settings';

const folder = { fsPath: '/work/site', name: 'site', key: 'file:///work/site' };

function filterOf(entry: Record<string, unknown>): Filter {
  const result = readSessions([{ peer: '/srv/peer', ...entry }], folder, '/tmp/state');
  assert.deepEqual(result.problems, []);
  return new Filter(result.sessions[0].config.filters);
}

describe('VS Code session settings', () => {
  test('the folder settings file, which holds the sessions, is never synced', () => {
    const f = filterOf({});
    assert.equal(f.excludes('.vscode/settings.json', false), true);
    // Only that file: the rest of .vscode, and settings.json files elsewhere, sync as usual.
    assert.equal(f.excludes('.vscode', true), false);
    assert.equal(f.excludes('.vscode/launch.json', false), false);
    assert.equal(f.excludes('sub/.vscode/settings.json', false), false);
    assert.equal(f.excludes('settings.json', false), false);
  });

  test('no include rule brings the settings file back', () => {
    const f = filterOf({ include: ['*.json', '/.vscode/settings.json', '.vscode/'], exclude: ['*'] });
    assert.equal(f.excludes('.vscode/settings.json', false), true);
    assert.equal(f.excludes('.vscode/tasks.json', false), false);
  });

  test('the user\'s own rules follow, in their order', () => {
    const f = filterOf({ include: ['keep.log'], exclude: ['*.log', 'node_modules/'] });
    assert.equal(f.excludes('keep.log', false), false);
    assert.equal(f.excludes('a/other.log', false), true);
    assert.equal(f.excludes('node_modules', true), true);
  });
});
