// The product seen through the real workbench (Playwright on the code-server page): the command palette
// runs SSH Sync commands, the status bar shows the summary, the conflict view lists conflicts, and the
// screenshots of it are kept in media/screenshots/ for the README. Only with the launcher's --ui-check.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { domText, runFromPalette, screenshot, statusBarTexts, uiCheckWanted, waitFor } from '../helpers/ui';
import { api, clearWorkspace, EXTENSION_ID, local, setSessions, tempDir, write, type Api } from '../helpers/sshSync';

async function keep(name: string): Promise<void> {
  const file = await screenshot(name);
  if (!file) return;
  const dir = path.join(vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath, 'media', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(file, path.join(dir, `${name}.png`));
}

suite('ui: SSH Sync in the workbench', function () {
  let a: Api;
  let peer: string;

  suiteSetup(async function () {
    if (!uiCheckWanted()) this.skip();
    a = await api();
    await setSessions(undefined, a);
    clearWorkspace();
    peer = tempDir('staging');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.commands.executeCommand('workbench.action.closePanel');
  });

  suiteTeardown(async () => {
    if (!a) return;
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await setSessions(undefined, a);
    clearWorkspace();
  });

  test('Sync Now from the palette; the status bar shows the session', async () => {
    await setSessions([{ name: 'staging', peer, exclude: ['.vscode/'] }], a);
    write(local('src/app.js'), 'console.log("hello");\n');
    write(local('README.md'), '# site\n');
    write(path.join(peer, 'config.json'), '{ "port": 8080 }\n');
    const label = await runFromPalette('SSH Sync: Sync Now');
    assert.match(label, /SSH Sync: Sync Now/);
    await waitFor(async () => fs.existsSync(local('config.json')) && fs.existsSync(path.join(peer, 'src/app.js')), 'the sync');
    await waitFor(async () => (await statusBarTexts()).some((t) => /^SSH Sync$/.test(t.trim())), 'the idle SSH Sync status item');
  });

  test('a conflict shows in the status bar and the conflict view; screenshots', async () => {
    write(local('config.json'), '{ "port": 3000, "debug": true }\n');
    write(path.join(peer, 'config.json'), '{ "port": 9090 }\n');
    write(local('src/app.js'), 'console.log("hello from here");\n');
    write(path.join(peer, 'src/app.js'), 'console.log("hello from staging");\n');
    await vscode.commands.executeCommand('sshSync.syncNow');
    assert.equal(a.conflictRows().length, 2);
    await waitFor(async () => (await statusBarTexts()).some((t) => t.includes('2 conflicts')), 'the conflict count in the status bar');
    await runFromPalette('SSH Sync: Show Conflicts');
    await waitFor(async () => /both modified/.test(await domText('.part.sidebar')), 'the conflict view');
    const sidebar = await domText('.part.sidebar');
    assert.match(sidebar, /CONFLICTS/i);
    assert.match(sidebar, /config\.json/);
    assert.match(sidebar, /src\/app\.js/);
    await keep('conflict-view');
    await keep('status-bar');
  });

  test('Compare with Remote shows the diff; screenshot', async () => {
    await vscode.commands.executeCommand('sshSync.compareWithRemote', vscode.Uri.file(local('config.json')));
    await waitFor(async () => (await domText('.editor-group-container')).includes('9090'), 'the remote side of the diff');
    await keep('diff');
  });

  test('the conflict view welcome appears when all are resolved', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    a.scriptPrompts!(['Keep Local', 'Keep Remote']);
    try {
      await vscode.commands.executeCommand('sshSync.resolveKeepLocal', vscode.Uri.file(local('config.json')));
      await vscode.commands.executeCommand('sshSync.resolveKeepRemote', vscode.Uri.file(local('src/app.js')));
    } finally {
      a.scriptPrompts!(undefined);
    }
    await waitFor(async () => /No sync conflicts/.test(await domText('.part.sidebar')), 'the welcome view');
    await keep('conflict-view-empty');
  });
});
