import * as vscode from 'vscode';
import { SyncError } from '../errors';
import { openPeer } from '../replica/open';
import type { Replica } from '../replica/replica';
import type { SshReplicaOpenOptions } from '../replica/ssh';
import type { Prompts } from './prompts';
import type { SessionSpec } from './settings';

const TRUST = 'Trust Host and Connect';

/**
 * Opens a session's peer the way a person expects from VS Code: passwords and passphrases asked in a
 * password box (and kept in SecretStorage only when `sshSync.rememberSecrets` is on), an unknown host key
 * shown with its SHA256 fingerprint and accepted only by an explicit click, a changed key refused.
 */
export class PeerConnector {
  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly secrets: vscode.SecretStorage,
    private readonly prompts: () => Prompts,
  ) {}

  async open(spec: SessionSpec): Promise<Replica> {
    if (!spec.remote) return openPeer(spec.address, { cwd: spec.folder.fsPath });
    const used: string[] = [];
    const attempt = (acceptFingerprint?: string) => openPeer(spec.address, { cwd: spec.folder.fsPath, ssh: this.sshOptions(spec, acceptFingerprint, used) });
    try {
      this.log.info(`${spec.label}: connecting to ${spec.address}`);
      return await attempt();
    } catch (err) {
      const code = (err as SyncError).code;
      if (code === 'AuthFailed') await Promise.all(used.map((k) => this.secrets.delete(k)));
      if (code !== 'HostKeyUnknown') throw err;
      const fingerprint = /SHA256:[A-Za-z0-9+/]+/.exec((err as Error).message)?.[0] ?? '(unknown fingerprint)';
      this.log.warn(`${spec.label}: unknown host key ${fingerprint}`);
      const choice = await this.prompts().confirm(
        `SSH Sync: the host of "${spec.label}" is not known yet.`,
        `${spec.address}\n\nIts host key fingerprint is\n${fingerprint}\n\nConnect only if this matches the fingerprint your server administrator gave you. The key will be added to known_hosts.`,
        [TRUST],
      );
      if (choice !== TRUST) throw new SyncError('HostKeyUnknown', `the host key of ${spec.address} (${fingerprint}) was not accepted; nothing was synced`);
      this.log.info(`${spec.label}: host key ${fingerprint} accepted by the user`);
      // Only the key the user saw is trusted: a different one on the second connection is refused.
      return attempt(fingerprint);
    }
  }

  private sshOptions(spec: SessionSpec, acceptFingerprint: string | undefined, used: string[]): SshReplicaOpenOptions {
    const cfg = vscode.workspace.getConfiguration('sshSync');
    const file = (key: string) => cfg.get<string>(key)?.trim() || undefined;
    return {
      sshConfigFile: file('sshConfigFile'),
      knownHostsFile: file('knownHostsFile'),
      identityFiles: spec.identityFile ? [spec.identityFile] : undefined,
      acceptNewHostKey: acceptFingerprint !== undefined,
      acceptHostKeyFingerprint: acceptFingerprint,
      askSecret: (prompt) => this.askSecret(spec, prompt, used),
      stateDir: spec.config.stateDir,
      debug: (m) => this.log.trace(m),
    };
  }

  private async askSecret(spec: SessionSpec, prompt: string, used: string[]): Promise<string | undefined> {
    const remember = vscode.workspace.getConfiguration('sshSync').get<boolean>('rememberSecrets', false);
    const key = `sshSync.secret:${spec.address}:${prompt}`;
    if (remember) {
      const stored = await this.secrets.get(key);
      if (stored !== undefined) {
        used.push(key);
        return stored;
      }
    }
    const answer = await this.prompts().input(`SSH Sync: ${spec.label}`, { prompt, password: true });
    if (answer !== undefined && remember) {
      await this.secrets.store(key, answer);
      used.push(key);
    }
    return answer;
  }
}
