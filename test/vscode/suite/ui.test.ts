// Checks through the real workbench UI (Playwright on the code-server page). Only with the code-server
// launcher's --ui-check; skipped otherwise (e.g. under @vscode/test-electron).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { domText, runFromPalette, screenshot, statusBarTexts, uiCheckWanted, waitFor } from '../helpers/ui';

const EXTENSION_ID = 'ssh-sync.ssh-sync';

suite('ui', function () {
  suiteSetup(function () {
    if (!uiCheckWanted()) this.skip();
  });

  test('the status bar can be read', async () => {
    const items = await statusBarTexts();
    console.log(`status bar: ${JSON.stringify(items)}`);
    assert.ok(Array.isArray(items) && items.length > 0, 'no status bar items');
  });

  test('the command palette runs a command (View: Toggle Output)', async () => {
    await vscode.commands.executeCommand('workbench.action.closePanel');
    await runFromPalette('View: Toggle Output');
    await waitFor(async () => (await domText('.part.panel')).includes('Output'), 'the Output panel');
  });

  test('SSH Sync: Show Log from the command palette shows the log', async function () {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const contributed: Array<{ command: string }> = ext.packageJSON.contributes?.commands ?? [];
    if (!contributed.some((c) => c.command === 'sshSync.showLog')) {
      console.log('skipped: package.json contributes no sshSync.showLog command (not in the palette)');
      this.skip();
    }
    await ext.activate();
    await vscode.commands.executeCommand('workbench.action.closePanel');
    const label = await runFromPalette('SSH Sync: Show Log');
    console.log(`palette ran: ${label}`);
    await waitFor(async () => /\[(info|warning|error)\]/.test(await domText('.part.panel')), 'the SSH Sync log in the panel');
    await screenshot('ui-show-log');
  });
});
