import * as vscode from 'vscode';
import { isRemotePeer } from '../replica/open';
import { loadSshConfig } from '../replica/ssh/sshConfig';
import type { PeerConnector } from './connector';
import type { ErrorFunnel } from './errors';
import { messageOf } from './errors';
import type { Prompts } from './prompts';
import { readSessions } from './settings';

/**
 * "Add Sync Session": folder, host (from ~/.ssh/config or typed; a local folder path works too), remote
 * path, direction and mode; then the connection is tried and the entry appended to the folder's
 * `sshSync.sessions`.
 */
export class AddSessionWizard {
  constructor(
    private readonly connector: PeerConnector,
    private readonly funnel: ErrorFunnel,
    private readonly prompts: () => Prompts,
    private readonly stateDir: string,
  ) {}

  async run(): Promise<Record<string, unknown> | undefined> {
    const ask = this.prompts();
    const folders = vscode.workspace.workspaceFolders?.filter((f) => f.uri.scheme === 'file') ?? [];
    if (folders.length === 0) throw Object.assign(new Error('open a folder first: a session syncs a workspace folder'), { code: 'Usage' });
    const folder = folders.length === 1 ? folders[0] : await this.pickFolder(folders);
    if (!folder) return undefined;

    const hosts = sshConfigHosts();
    const host = await ask.pick(
      'Add Sync Session (1/4): host',
      hosts.map((h) => ({ label: h, description: '~/.ssh/config', value: h })),
      { placeholder: 'an ssh host (user@host, user@host:port, a config alias) or a local folder path', allowTyped: true },
    );
    if (!host) return undefined;
    const complete = isRemotePeer(host) || host.startsWith('/') || host.startsWith('.') || host.startsWith('~') || /^[A-Za-z]:[\\/]/.test(host);
    let remotePath: string | undefined;
    if (!complete) {
      remotePath = await ask.input('Add Sync Session (2/4): remote folder', {
        value: `~/${folder.name}`,
        prompt: `The folder on ${host} to keep in step with ${folder.name} (absolute, or ~/ for the remote home)`,
        validate: (v) => (v.startsWith('/') || v === '~' || v.startsWith('~/') ? undefined : 'an absolute path (/srv/site) or one under the home (~/site)'),
      });
      if (!remotePath) return undefined;
    }
    const direction = await ask.pick('Add Sync Session (3/4): direction', [
      { label: 'bidi', description: 'both ways; conflicts are left for you', value: 'bidi' },
      { label: 'push', description: 'local → remote', value: 'push' },
      { label: 'pull', description: 'remote → local', value: 'pull' },
    ]);
    if (!direction) return undefined;
    const mode = await ask.pick('Add Sync Session (4/4): when to sync', [
      { label: 'onDemand', description: 'on save and when you ask', value: 'onDemand' },
      { label: 'continuous', description: 'watch both sides', value: 'continuous' },
      { label: 'interval', description: 'a full sync every minute', value: 'interval' },
    ]);
    if (!mode) return undefined;

    const entry: Record<string, unknown> = { peer: host, ...(remotePath ? { remotePath } : {}), direction, mode };
    const config = vscode.workspace.getConfiguration('sshSync', folder.uri);
    const existing = (config.get<unknown[]>('sessions') ?? []).slice();
    const check = readSessions([...existing, entry], { fsPath: folder.uri.fsPath, name: folder.name, key: folder.uri.toString() }, this.stateDir);
    const spec = check.sessions.find((s) => s.fingerprint === JSON.stringify(entry));
    if (!spec) throw Object.assign(new Error(check.problems.at(-1) ?? 'the new session is not valid'), { code: 'Usage' });

    try {
      const replica = await this.connector.open(spec);
      await replica.close();
      this.funnel.info(`connected to ${spec.address} (tier: ${replica.tier})`);
    } catch (err) {
      const answer = await ask.confirm(`Could not connect to ${spec.address}.`, `${messageOf(err)}\n\nSave the session anyway?`, ['Save Anyway']);
      if (answer !== 'Save Anyway') return undefined;
    }
    await config.update('sessions', [...existing, entry], vscode.ConfigurationTarget.WorkspaceFolder);
    this.funnel.info(`added session ${spec.label} to ${folder.name}`);
    return entry;
  }

  private async pickFolder(folders: readonly vscode.WorkspaceFolder[]): Promise<vscode.WorkspaceFolder | undefined> {
    const uri = await this.prompts().pick('Add Sync Session: which folder?', folders.map((f) => ({ label: f.name, description: f.uri.fsPath, value: f.uri.toString() })));
    return folders.find((f) => f.uri.toString() === uri || f.name === uri);
  }
}

/** Host aliases of ~/.ssh/config (or sshSync.sshConfigFile), without wildcard patterns. */
export function sshConfigHosts(): string[] {
  const file = vscode.workspace.getConfiguration('sshSync').get<string>('sshConfigFile')?.trim() || undefined;
  let config: ReturnType<typeof loadSshConfig>;
  try {
    config = loadSshConfig(file);
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const line of config ?? []) {
    if (!('param' in line) || line.param.toLowerCase() !== 'host') continue;
    const values = typeof line.value === 'string' ? line.value.split(/\s+/) : line.value.map((v) => v.val);
    for (const v of values) if (v && !/[*?!]/.test(v)) out.add(v);
  }
  return [...out];
}
