import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { screenshot } from '../helpers/ui';

const EXTENSION_ID = 'ssh-sync.ssh-sync';

suite('activation', () => {
  test('the extension is installed and activates', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} not found`);
    await ext.activate();
    assert.equal(ext.isActive, true);
  });

  test('sshSync.showLog is registered and runs', async () => {
    await vscode.extensions.getExtension(EXTENSION_ID)!.activate();
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes('sshSync.showLog'), 'command sshSync.showLog is not registered');
    await vscode.commands.executeCommand('sshSync.showLog');
    await screenshot('show-log');
  });

  test('runs in a Node extension host', () => {
    assert.match(process.versions.node, /^\d+\./);
    console.log(`extension host: node ${process.versions.node}, vscode ${vscode.version}, remoteName ${vscode.env.remoteName ?? '(none)'}`);
  });
});
