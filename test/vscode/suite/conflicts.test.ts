import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { api, clearWorkspace, local, read, session, setSessions, tempDir, write, type Api } from '../helpers/sshSync';

/** Conflicts of a bidi session with a folder peer: the tree, decorations, Compare, every resolve action. */
suite('conflicts (folder peer)', () => {
  let a: Api;
  let peer: string;
  const remote = (...p: string[]) => path.join(peer, ...p);

  /** Syncs `name` to both sides, then changes it differently on each: a both-modified conflict. */
  async function conflict(name: string, localText = 'local edit, longer', remoteText = 'remote edit'): Promise<void> {
    write(local(name), 'base');
    await vscode.commands.executeCommand('sshSync.syncNow');
    assert.equal(read(remote(name)), 'base');
    write(local(name), localText);
    write(remote(name), remoteText);
    await vscode.commands.executeCommand('sshSync.syncNow');
    assert.ok(session(a, 'box').conflicts.some((c) => c.path === name), `no conflict at ${name}`);
  }

  async function resolveWith(command: string, name: string, answers: string[] = []): Promise<void> {
    a.scriptPrompts!(answers);
    try {
      await vscode.commands.executeCommand(command, vscode.Uri.file(local(name)));
    } finally {
      a.scriptPrompts!(undefined);
    }
    assert.ok(!session(a, 'box').conflicts.some((c) => c.path === name), `${name} is still in conflict`);
  }

  setup(async () => {
    a = await api();
    await setSessions(undefined, a);
    clearWorkspace();
    peer = tempDir('peer');
    await setSessions([{ name: 'box', peer, exclude: ['.vscode/'] }], a);
  });
  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await setSessions(undefined);
    clearWorkspace();
  });

  test('a bidi conflict appears in the tree with its kind, decorated, counted in the status bar', async () => {
    write(local('gone.txt'), 'base');
    await conflict('both.txt');
    fs.rmSync(local('gone.txt'));
    write(remote('gone.txt'), 'changed remotely');
    await vscode.commands.executeCommand('sshSync.syncNow');
    const rows = a.conflictRows();
    assert.deepEqual(rows.map((r) => [r.session, r.path, r.kind]), [
      ['box', 'both.txt', 'both modified'],
      ['box', 'gone.txt', 'modified vs deleted'],
    ]);
    assert.match(rows[0].description, /local: file, 18 B, modified .*; remote: file, 11 B/);
    assert.match(rows[1].description, /local: deleted/);
    // Both sides are left exactly as they were.
    assert.equal(read(local('both.txt')), 'local edit, longer');
    assert.equal(read(remote('both.txt')), 'remote edit');
    assert.ok(a.decorated().includes(vscode.Uri.file(local('both.txt')).toString()));
    assert.equal(a.status().text, '$(check) SSH Sync $(warning) 2 conflicts');
    assert.equal(a.status().background, 'warning');
    assert.equal(a.lastNotice()?.severity, 'warning');
    assert.match(a.lastNotice()!.message, /2 conflicts left for you to resolve/);
    await vscode.commands.executeCommand('sshSync.showConflicts');
  });

  test('Compare opens a diff of the remote version (read-only, no temp file) against the local file', async () => {
    await conflict('cmp.txt');
    await vscode.commands.executeCommand('sshSync.compareWithRemote', vscode.Uri.file(local('cmp.txt')));
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    assert.ok(input instanceof vscode.TabInputTextDiff, 'the active tab is not a diff');
    assert.equal(input.original.scheme, 'ssh-sync-remote');
    assert.equal(input.modified.fsPath, local('cmp.txt'));
    const remoteDoc = await vscode.workspace.openTextDocument(input.original);
    assert.equal(remoteDoc.getText(), 'remote edit');
    await assert.rejects(Promise.resolve(vscode.workspace.fs.writeFile(input.original, Buffer.from('x'))), 'the remote side is writable');
    assert.equal(read(remote('cmp.txt')), 'remote edit');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('Compare of a binary file or one missing on the peer explains instead', async () => {
    write(local('bin.dat'), 'a\0b');
    await vscode.commands.executeCommand('sshSync.syncNow');
    await vscode.commands.executeCommand('sshSync.compareWithRemote', vscode.Uri.file(local('bin.dat')));
    assert.match(a.lastNotice()!.message, /binary file/);
    write(local('only-here.txt'), 'x');
    await vscode.commands.executeCommand('sshSync.compareWithRemote', vscode.Uri.file(local('only-here.txt')));
    assert.match(a.lastNotice()!.message, /does not exist on box/);
  });

  test('Keep Local sends the local version to both sides', async () => {
    await conflict('k.txt');
    await resolveWith('sshSync.resolveKeepLocal', 'k.txt', ['Keep Local']);
    assert.equal(read(local('k.txt')), 'local edit, longer');
    assert.equal(read(remote('k.txt')), 'local edit, longer');
  });

  test('Keep Local needs the explicit confirmation', async () => {
    await conflict('k2.txt');
    a.scriptPrompts!([undefined]);
    try {
      await vscode.commands.executeCommand('sshSync.resolveKeepLocal', vscode.Uri.file(local('k2.txt')));
    } finally {
      a.scriptPrompts!(undefined);
    }
    assert.ok(session(a, 'box').conflicts.some((c) => c.path === 'k2.txt'));
    assert.equal(read(remote('k2.txt')), 'remote edit');
  });

  test('Keep Remote brings the remote version to both sides', async () => {
    await conflict('r.txt');
    await resolveWith('sshSync.resolveKeepRemote', 'r.txt', ['Keep Remote']);
    assert.equal(read(local('r.txt')), 'remote edit');
    assert.equal(read(remote('r.txt')), 'remote edit');
  });

  test('Keep Remote of a file deleted locally restores it', async () => {
    write(local('del.txt'), 'base');
    await vscode.commands.executeCommand('sshSync.syncNow');
    fs.rmSync(local('del.txt'));
    write(remote('del.txt'), 'still wanted remotely');
    await vscode.commands.executeCommand('sshSync.syncNow');
    assert.equal(session(a, 'box').conflicts[0]?.kind, 'modified-vs-deleted');
    await resolveWith('sshSync.resolveKeepRemote', 'del.txt', ['Keep Remote']);
    assert.equal(read(local('del.txt')), 'still wanted remotely');
  });

  test('Keep Both keeps the remote version under the name and the local one as a conflict copy, on both sides', async () => {
    await conflict('b.txt');
    await resolveWith('sshSync.resolveKeepBoth', 'b.txt');
    assert.equal(read(local('b.txt')), 'remote edit');
    assert.equal(read(remote('b.txt')), 'remote edit');
    const copies = fs.readdirSync(peer).filter((n) => n.startsWith('b.conflict-'));
    assert.equal(copies.length, 1, `conflict copies: ${fs.readdirSync(peer).join(', ')}`);
    assert.equal(read(remote(copies[0])), 'local edit, longer');
    assert.equal(read(local(copies[0])), 'local edit, longer');
  });

  test('Mark Resolved after a merge in the editor saves it and sends the merged file', async () => {
    await conflict('m.txt');
    const doc = await vscode.workspace.openTextDocument(local('m.txt'));
    const editor = await vscode.window.showTextDocument(doc);
    await editor.edit((e) => e.replace(new vscode.Range(0, 0, doc.lineCount, 0), 'merged by hand'));
    assert.equal(doc.isDirty, true);
    await resolveWith('sshSync.markResolved', 'm.txt');
    assert.equal(doc.isDirty, false);
    assert.equal(read(local('m.txt')), 'merged by hand');
    assert.equal(read(remote('m.txt')), 'merged by hand');
    assert.equal(a.decorated().length, 0);
    assert.equal(a.status().text, '$(check) SSH Sync');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('a conflicted file is not pushed on save', async () => {
    await conflict('s.txt');
    const doc = await vscode.workspace.openTextDocument(local('s.txt'));
    const editor = await vscode.window.showTextDocument(doc);
    await editor.edit((e) => e.insert(new vscode.Position(0, 0), 'more '));
    await doc.save();
    await a.idle();
    assert.equal(read(remote('s.txt')), 'remote edit');
    assert.ok(session(a, 'box').conflicts.some((c) => c.path === 's.txt'));
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });
});
