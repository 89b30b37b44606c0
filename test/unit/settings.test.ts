import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Filter } from '../../src/engine/filter';
import { readSessions, sessionsValue } from '../../src/vscode/settings';

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

describe('where the sessions list may come from', () => {
  const sessions = [{ peer: '/srv/peer' }];

  test("the folder's own settings are used, whatever else is set", () => {
    assert.deepEqual(sessionsValue({ workspaceFolderValue: sessions, workspaceValue: [{ peer: '/other' }], globalValue: [{ peer: '/x' }] }, true), { raw: sessions });
    assert.deepEqual(sessionsValue({ workspaceFolderValue: sessions }, false), { raw: sessions });
  });

  test('a single-folder workspace: its workspace settings are the folder settings', () => {
    assert.deepEqual(sessionsValue({ workspaceValue: sessions, globalValue: [{ peer: '/x' }] }, false), { raw: sessions });
  });

  test('a list in the user settings would apply to every folder: refused, with where to put it', () => {
    const chosen = sessionsValue({ globalValue: sessions }, false);
    assert.equal(chosen.raw, undefined);
    assert.match(chosen.problem ?? '', /sshSync\.sessions is set in your user settings, where it would apply to every folder you open; nothing is synced from there: put the sessions in the settings of the folder they sync \(its \.vscode\/settings\.json\)/);
  });

  test('a list in a multi-root workspace file would apply to every folder of it: refused', () => {
    const chosen = sessionsValue({ workspaceValue: sessions }, true);
    assert.equal(chosen.raw, undefined);
    assert.match(chosen.problem ?? '', /set in the workspace file, where it would apply to every folder of the workspace/);
  });

  test('nothing set, or an empty list anywhere else: no sessions and nothing to say', () => {
    assert.deepEqual(sessionsValue({}, false), { raw: undefined });
    assert.deepEqual(sessionsValue({ globalValue: [] }, true), { raw: undefined });
    assert.deepEqual(sessionsValue({ workspaceValue: [] }, true), { raw: undefined });
  });
});
