import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { api, clearWorkspace, local, read, session, setSessions, statusTrail, tempDir, waitUntil, write, type Api } from '../helpers/sshSync';

/** Commands, on-save and continuous sync against a folder peer (the engine's embedded default). */
suite('sync commands (folder peer)', () => {
  let a: Api;
  let peer: string;

  setup(async () => {
    a = await api();
    await setSessions(undefined, a);
    clearWorkspace();
    peer = tempDir('peer');
  });
  suiteTeardown(async () => {
    await setSessions(undefined);
    clearWorkspace();
  });

  test('Sync Now copies both ways in a bidi session, and the status bar goes syncing → idle', async () => {
    await setSessions([{ name: 'box', peer, exclude: ['.vscode/'] }], a);
    write(local('here.txt'), 'from the workspace');
    write(path.join(peer, 'there/remote.txt'), 'from the peer');
    const trail = await statusTrail(a, () => vscode.commands.executeCommand('sshSync.syncNow'));
    assert.equal(read(path.join(peer, 'here.txt')), 'from the workspace');
    assert.equal(read(local('there/remote.txt')), 'from the peer');
    assert.ok(trail.some((t) => t.includes('syncing')), `no syncing state in ${JSON.stringify(trail)}`);
    assert.equal(trail.at(-1), '$(check) SSH Sync');
    const s = session(a, 'box');
    assert.equal(s.tier, 'local');
    assert.equal(s.lastSync?.summary.copied, 2);
    assert.match(a.status().tooltip, /box/);
    assert.match(a.status().tooltip, /last sync/);
  });

  test('Push sends local changes only; Pull fetches remote changes only', async () => {
    await setSessions([{ name: 'box', peer }], a);
    write(local('a.txt'), 'local a');
    write(path.join(peer, 'b.txt'), 'remote b');
    await vscode.commands.executeCommand('sshSync.push');
    assert.equal(read(path.join(peer, 'a.txt')), 'local a');
    assert.equal(read(local('b.txt')), undefined, 'push fetched a remote file');
    await vscode.commands.executeCommand('sshSync.pull');
    assert.equal(read(local('b.txt')), 'remote b');
  });

  test('Rescan drops the snapshot and compares both sides in full', async () => {
    await setSessions([{ name: 'box', peer, direction: 'push' }], a);
    write(local('x.txt'), 'x');
    await vscode.commands.executeCommand('sshSync.syncNow');
    fs.rmSync(path.join(peer, 'x.txt'));
    await vscode.commands.executeCommand('sshSync.rescan');
    assert.equal(read(path.join(peer, 'x.txt')), 'x');
    assert.equal(session(a, 'box').lastSync?.summary.copied, 1);
  });

  test('saving a document sends that file to the peer at once', async () => {
    await setSessions([{ name: 'box', peer, direction: 'push' }], a);
    write(local('doc.txt'), 'version 1\n');
    const doc = await vscode.workspace.openTextDocument(local('doc.txt'));
    const editor = await vscode.window.showTextDocument(doc);
    await editor.edit((e) => e.insert(new vscode.Position(1, 0), 'saved line\n'));
    await doc.save();
    await a.idle();
    assert.equal(read(path.join(peer, 'doc.txt')), 'version 1\nsaved line\n');
    assert.equal(session(a, 'box').lastSync?.summary.copied, 1);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('syncOnSave off: saving does not sync', async () => {
    await vscode.workspace.getConfiguration('sshSync').update('syncOnSave', false, vscode.ConfigurationTarget.Global);
    try {
      await setSessions([{ name: 'box', peer, direction: 'push' }], a);
      write(local('quiet.txt'), 'q\n');
      const doc = await vscode.workspace.openTextDocument(local('quiet.txt'));
      const editor = await vscode.window.showTextDocument(doc);
      await editor.edit((e) => e.insert(new vscode.Position(0, 0), 'edited '));
      await doc.save();
      await a.idle();
      assert.equal(read(path.join(peer, 'quiet.txt')), undefined);
    } finally {
      await vscode.workspace.getConfiguration('sshSync').update('syncOnSave', undefined, vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    }
  });

  test('continuous mode: a change on the peer appears in the workspace; Stop ends watching', async () => {
    await setSessions([{ name: 'live', peer, mode: 'continuous', cooloffMs: 50 }], a);
    await waitUntil(() => session(a, 'live').activity === 'watching', 'the session to watch');
    assert.equal(a.status().text, '$(eye) SSH Sync: watching');
    write(path.join(peer, 'news.txt'), 'appeared remotely');
    await waitUntil(() => read(local('news.txt')) === 'appeared remotely', 'the remote file in the workspace').catch((err) => {
      throw new Error(`${err.message}; session: ${JSON.stringify(session(a, 'live'))}`);
    });
    write(local('reply.txt'), 'written locally');
    await waitUntil(() => read(path.join(peer, 'reply.txt')) === 'written locally', 'the local file on the peer');
    await vscode.commands.executeCommand('sshSync.stop');
    assert.equal(session(a, 'live').live, false);
    assert.equal(a.status().text, '$(check) SSH Sync');
    write(path.join(peer, 'late.txt'), 'after stop');
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(read(local('late.txt')), undefined, 'a stopped session still synced');
  });

  test('Start Continuous Sync on an onDemand session, then Stop', async () => {
    await setSessions([{ name: 'box', peer, direction: 'pull', cooloffMs: 50 }], a);
    await vscode.commands.executeCommand('sshSync.startContinuous');
    assert.equal(session(a, 'box').live, 'continuous');
    write(path.join(peer, 'p.txt'), 'pulled');
    await waitUntil(() => read(local('p.txt')) === 'pulled', 'the pulled file');
    await a.idle();
    // The peer has no .vscode/settings.json: a pull that synced it would delete the sessions' own settings
    // (once seen as this session vanishing mid-test, when VS Code noticed the deletion).
    assert.ok(read(local('.vscode/settings.json'))?.includes('"box"'), 'the pull deleted the settings file');
    assert.equal(read(path.join(peer, '.vscode/settings.json')), undefined);
    await vscode.commands.executeCommand('sshSync.stop');
    assert.equal(session(a, 'box').live, false);
  });

  test('a failing sync shows an error with Retry and Show Log, and the status bar turns red', async () => {
    // Nothing listens on port 1: the connection is refused.
    await setSessions([{ name: 'down', peer: 'root@127.0.0.1:1', remotePath: '/srv/site', direction: 'push' }], a);
    await vscode.commands.executeCommand('sshSync.syncNow');
    const notice = a.lastNotice();
    assert.equal(notice?.severity, 'error', JSON.stringify(notice));
    assert.equal(notice.code, 'ConnectionLost');
    assert.match(notice.message, /cannot connect to 127\.0\.0\.1:1/);
    assert.deepEqual(notice.actions, ['Retry', 'Show Log']);
    assert.equal(session(a, 'down').activity, 'error');
    assert.equal(a.status().text, '$(error) SSH Sync: error');
    assert.equal(a.status().background, 'error');
  });

  test('several sessions: a command asks which one', async () => {
    const other = tempDir('other');
    await setSessions([{ name: 'first', peer }, { name: 'second', peer: other }], a);
    write(local('w.txt'), 'w');
    const recorder = a.scriptPrompts!(['second']);
    try {
      await vscode.commands.executeCommand('sshSync.syncNow');
    } finally {
      a.scriptPrompts!(undefined);
    }
    assert.deepEqual(recorder?.asked, ['Sync which session?']);
    assert.equal(read(path.join(other, 'w.txt')), 'w');
    assert.equal(read(path.join(peer, 'w.txt')), undefined);
  });

  test('the status bar item offers a quick pick of actions; Show Session Status lists each session', async () => {
    await setSessions([{ name: 'box', peer, direction: 'push' }], a);
    const prompts = a.scriptPrompts!(['$(info) Show Session Status']);
    try {
      await vscode.commands.executeCommand('sshSync.statusActions');
    } finally {
      a.scriptPrompts!(undefined);
    }
    assert.deepEqual(prompts?.asked, ['SSH Sync']);
    const text = await vscode.commands.executeCommand<string>('sshSync.showStatus');
    assert.match(text, /box \[workspace\] ⇄ .*ssv-peer-/);
    assert.match(text, /direction push, mode onDemand, state idle, tier not connected/);
  });

  test('the mass-delete guard halts with a message offering Sync Anyway; nothing is deleted', async () => {
    await setSessions([{ name: 'box', peer, direction: 'push', maxDelete: 1, exclude: ['.vscode/'] }], a);
    for (const n of ['1', '2', '3', '4']) write(local(`d${n}.txt`), n);
    write(local('keep.txt'), 'k');
    await vscode.commands.executeCommand('sshSync.syncNow');
    for (const n of ['1', '2', '3']) fs.rmSync(local(`d${n}.txt`));
    await vscode.commands.executeCommand('sshSync.syncNow');
    assert.match(session(a, 'box').halted ?? '', /delete/i);
    assert.equal(session(a, 'box').activity, 'halted');
    assert.match(a.status().text, /halted/);
    assert.deepEqual(a.lastNotice()?.actions, ['Sync Anyway', 'Show Log']);
    assert.equal(read(path.join(peer, 'd1.txt')), '1', 'the guard let a deletion through');
  });
});
