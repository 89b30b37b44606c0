import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { startSshd, sshdAvailable, type Sshd } from '../helpers/sshd';
import { api, clearWorkspace, folder, local, read, session, setSessions, setSetting, tempDir, waitUntil, write, type Api } from '../helpers/sshSync';

const TRUST = 'Trust Host and Connect';

/** Sessions against a real OpenSSH server on 127.0.0.1 (its own host key, key login as root). */
suite('ssh peer (loopback sshd)', function () {
  let a: Api;
  let sshd: Sshd;
  let dir: string;
  let remoteRoot: string;
  let knownHosts: string;
  const remote = (...p: string[]) => path.join(remoteRoot, ...p);
  const fixtureSession = (extra: Record<string, unknown> = {}) => ({ name: 'srv', peer: 'fixture', remotePath: remoteRoot, exclude: ['.vscode/'], ...extra });

  suiteSetup(async function () {
    if (!sshdAvailable()) {
      console.log('skipped: needs root, /usr/sbin/sshd and ssh-keygen');
      this.skip();
    }
    a = await api();
    sshd = await startSshd();
    dir = tempDir('ssh');
    const config = path.join(dir, 'ssh_config');
    fs.writeFileSync(config, `Host fixture\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User root\n  IdentityFile ${sshd.clientKey}\n  IdentitiesOnly yes\n`);
    knownHosts = path.join(dir, 'known_hosts');
    await setSetting('sshConfigFile', config);
    await setSetting('knownHostsFile', knownHosts);
  });

  setup(async () => {
    await setSessions(undefined, a);
    clearWorkspace();
    remoteRoot = tempDir('remote');
    fs.writeFileSync(knownHosts, sshd.knownHostsLine() + '\n');
  });

  suiteTeardown(async () => {
    if (!sshd) return;
    await setSessions(undefined);
    await setSetting('sshConfigFile', undefined);
    await setSetting('knownHostsFile', undefined);
    clearWorkspace();
    await sshd.stop();
  });

  test('Test Connection reaches the server and reports the tier', async () => {
    await setSessions([fixtureSession()], a);
    const message = await vscode.commands.executeCommand<string>('sshSync.testConnection');
    assert.match(message, /srv: connected to ssh:\/\/fixture\/.* \(tier: (helper|sftp)\)/);
    assert.match(session(a, 'srv').tier ?? '', /helper|sftp/);
    assert.match(a.status().tooltip, /tier (helper|sftp)/);
  });

  test('an unknown host key is shown with its SHA256 fingerprint and accepted only by the click', async () => {
    fs.writeFileSync(knownHosts, '');
    await setSessions([fixtureSession()], a);
    // Declined: nothing is written, the error says so.
    const declined = a.scriptPrompts!([undefined]);
    await vscode.commands.executeCommand('sshSync.testConnection');
    assert.equal(declined?.asked.length, 1);
    assert.equal(a.lastNotice()?.code, 'HostKeyUnknown');
    assert.match(a.lastNotice()!.message, /SHA256:[A-Za-z0-9+/]{43}.*was not accepted/);
    assert.equal(fs.readFileSync(knownHosts, 'utf8'), '');
    // Accepted: the key is recorded and the connection made.
    const accepted = a.scriptPrompts!([TRUST]);
    try {
      const message = await vscode.commands.executeCommand<string>('sshSync.testConnection');
      assert.match(message, /connected/);
    } finally {
      a.scriptPrompts!(undefined);
    }
    assert.match(accepted!.asked[0], /is not known yet/);
    assert.equal(fs.readFileSync(knownHosts, 'utf8').trim(), sshd.knownHostsLine());
  });

  test('a changed host key is refused with an explanation, without asking', async () => {
    const other = sshd.knownHostsLine().replace(/ssh-ed25519 \S+/, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKx1xq2QoW0r8DmX5sbKXaQDSJ3L2D1ZkRkSBhYlZOcK');
    fs.writeFileSync(knownHosts, other + '\n');
    await setSessions([fixtureSession()], a);
    const prompts = a.scriptPrompts!([]);
    try {
      await vscode.commands.executeCommand('sshSync.syncNow');
    } finally {
      a.scriptPrompts!(undefined);
    }
    assert.deepEqual(prompts?.asked, []);
    assert.equal(a.lastNotice()?.code, 'HostKeyChanged');
    assert.match(a.lastNotice()!.message, /CHANGED/);
    assert.deepEqual(a.lastNotice()!.actions, ['Show Log']);
    assert.equal(session(a, 'srv').activity, 'error');
    assert.equal(fs.readFileSync(knownHosts, 'utf8'), other + '\n');
  });

  test('saving a document pushes it over ssh', async () => {
    await setSessions([fixtureSession({ direction: 'push' })], a);
    write(local('index.html'), '<h1>v1</h1>\n');
    await vscode.commands.executeCommand('sshSync.syncNow');
    assert.equal(read(remote('index.html')), '<h1>v1</h1>\n');
    const doc = await vscode.workspace.openTextDocument(local('index.html'));
    const editor = await vscode.window.showTextDocument(doc);
    await editor.edit((e) => e.replace(new vscode.Range(0, 0, 1, 0), '<h1>v2</h1>\n'));
    await doc.save();
    await a.idle();
    assert.equal(read(remote('index.html')), '<h1>v2</h1>\n');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('continuous pull: a change on the server appears in the workspace', async () => {
    await setSessions([fixtureSession({ direction: 'pull', mode: 'continuous', cooloffMs: 50 })], a);
    await waitUntil(() => session(a, 'srv').activity === 'watching', 'the session to watch', 20_000);
    write(remote('deploy/log.txt'), 'written on the server');
    await waitUntil(() => read(local('deploy/log.txt')) === 'written on the server', 'the server file in the workspace', 20_000);
    await vscode.commands.executeCommand('sshSync.stop');
  });

  test('a bidi conflict over ssh: in the tree, Compare reads the server copy, Keep Remote fetches it', async () => {
    await setSessions([fixtureSession()], a);
    write(local('conf.ini'), 'base');
    await vscode.commands.executeCommand('sshSync.syncNow');
    write(local('conf.ini'), 'port = 8080 # local');
    write(remote('conf.ini'), 'port = 9090');
    await vscode.commands.executeCommand('sshSync.syncNow');
    assert.deepEqual(a.conflictRows().map((r) => [r.session, r.path, r.kind]), [['srv', 'conf.ini', 'both modified']]);
    await vscode.commands.executeCommand('sshSync.compareWithRemote', vscode.Uri.file(local('conf.ini')));
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    assert.ok(input instanceof vscode.TabInputTextDiff);
    assert.equal((await vscode.workspace.openTextDocument(input.original)).getText(), 'port = 9090');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    a.scriptPrompts!(['Keep Remote']);
    try {
      await vscode.commands.executeCommand('sshSync.resolveKeepRemote', vscode.Uri.file(local('conf.ini')));
    } finally {
      a.scriptPrompts!(undefined);
    }
    assert.equal(read(local('conf.ini')), 'port = 9090');
    assert.deepEqual(a.conflictRows(), []);
  });

  test('Add Sync Session: host from the ssh config, remote path, direction, mode; tested and written', async () => {
    const prompts = a.scriptPrompts!(['fixture', remoteRoot, 'push', 'onDemand']);
    let entry: unknown;
    try {
      entry = await vscode.commands.executeCommand('sshSync.addSession');
    } finally {
      a.scriptPrompts!(undefined);
    }
    assert.deepEqual(prompts?.asked, ['Add Sync Session (1/4): host', 'Add Sync Session (2/4): remote folder', 'Add Sync Session (3/4): direction', 'Add Sync Session (4/4): when to sync']);
    assert.deepEqual(entry, { peer: 'fixture', remotePath: remoteRoot, direction: 'push', mode: 'onDemand' });
    const written = vscode.workspace.getConfiguration('sshSync', folder().uri).inspect('sessions');
    assert.deepEqual(written?.workspaceFolderValue ?? written?.workspaceValue, [entry]);
    await a.reload();
    assert.equal(a.sessions().length, 1);
    assert.equal(a.sessions()[0].direction, 'push');
  });

  test('a key passphrase is asked in a password box, and kept in SecretStorage only when allowed', async () => {
    const key = sshd.addKey('locked_ed25519', 'open sesame');
    await setSessions([fixtureSession({ identityFile: key })], a);
    const first = a.scriptPrompts!(['open sesame']);
    try {
      assert.match(await vscode.commands.executeCommand<string>('sshSync.testConnection'), /connected/);
    } finally {
      a.scriptPrompts!(undefined);
    }
    assert.deepEqual(first?.asked, ['SSH Sync: srv']);

    // Remembered: the second connection of a new session asks nothing.
    await setSetting('rememberSecrets', true);
    try {
      await setSessions([fixtureSession({ identityFile: key, exclude: ['*.tmp'] })], a);
      a.scriptPrompts!(['open sesame']);
      await vscode.commands.executeCommand('sshSync.testConnection');
      await setSessions([fixtureSession({ identityFile: key, exclude: ['*.bak'] })], a);
      const third = a.scriptPrompts!([]);
      assert.match(await vscode.commands.executeCommand<string>('sshSync.testConnection'), /connected/);
      assert.deepEqual(third?.asked, []);
    } finally {
      a.scriptPrompts!(undefined);
      await setSetting('rememberSecrets', undefined);
    }
  });

  test('a wrong passphrase fails with AuthFailed and offers Retry and Open Settings', async () => {
    const key = sshd.addKey('locked2_ed25519', 'right one');
    await setSessions([fixtureSession({ identityFile: key })], a);
    a.scriptPrompts!(['wrong one', 'wrong again', 'still wrong']);
    try {
      await vscode.commands.executeCommand('sshSync.testConnection');
    } finally {
      a.scriptPrompts!(undefined);
    }
    const notice = a.lastNotice();
    assert.ok(notice?.code === 'AuthFailed' || notice?.severity === 'error', JSON.stringify(notice));
    assert.deepEqual(notice?.actions, ['Retry', 'Open Settings', 'Show Log']);
  });
});
