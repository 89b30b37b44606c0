#!/usr/bin/env node
// Runs the VS Code integration tests (out/vscode-test, built by build-tests.mjs) in a desktop VS Code
// downloaded by @vscode/test-electron: for machines that can reach VS Code's download host (not CI here,
// which uses run-code-server.mjs). Same test entry; UI-driven tests skip themselves.
//
// Usage: node scripts/vscode-test/run-electron.mjs [--workspace DIR] [--grep REGEXP]
//   env VSCODE_TEST_VERSION  VS Code version to download (default 'stable'; e.g. 1.90.0 = engines.vscode floor)
//   env VSCODE_EXECUTABLE    use this VS Code executable instead of downloading one
import { runTests } from '@vscode/test-electron';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const extensionTestsPath = path.join(repoRoot, 'out/vscode-test/suite/index.js');
if (!fs.existsSync(extensionTestsPath)) {
  console.error(`run-electron: ${extensionTestsPath} not found; run: node scripts/vscode-test/build-tests.mjs`);
  process.exit(1);
}
if (!fs.existsSync(path.join(repoRoot, 'dist/extension.js'))) {
  console.error('run-electron: dist/extension.js not found; run: node scripts/build.mjs');
  process.exit(1);
}
const workspace = option('--workspace')
  ? path.resolve(option('--workspace'))
  : fs.mkdtempSync(path.join(os.tmpdir(), 'ssh-sync-vscode-ws-'));

try {
  const code = await runTests({
    version: process.env.VSCODE_TEST_VERSION || 'stable',
    vscodeExecutablePath: process.env.VSCODE_EXECUTABLE || undefined,
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath,
    extensionTestsEnv: {
      SSH_SYNC_VSCODE_RUNNER: 'electron',
      SSH_SYNC_VSCODE_GREP: option('--grep') || '',
    },
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes'],
  });
  process.exit(code);
} catch (err) {
  console.error(`run-electron: ${err?.message || err}`);
  process.exit(typeof err?.code === 'number' && err.code !== 0 ? err.code : 1);
}
