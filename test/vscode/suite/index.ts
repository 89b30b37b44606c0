/**
 * Entry of the VS Code integration tests, loaded by the extension host as `extensionTestsPath`
 * (through @vscode/test-electron on a desktop, through code-server + Chromium in CI: see
 * scripts/vscode-test/). Runs every `*.test.js` beside this file (and below it) with mocha's TDD UI.
 *
 * Environment (set by the launchers, all optional):
 *   SSH_SYNC_VSCODE_RUNNER  'code-server' under scripts/vscode-test/run-code-server.mjs.
 *   SSH_SYNC_VSCODE_GREP   only run tests whose full title matches this regular expression.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import Mocha from 'mocha';

function findTests(dir: string): string[] {
  const files: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...findTests(full));
    else if (entry.name.endsWith('.test.js')) files.push(full);
  }
  return files.sort();
}

/**
 * Under the code-server launcher the extension host's console reaches the runner mixed with the
 * workbench's own log, and with format strings unexpanded: mark every line of ours with `@@out ` so the
 * runner can print just these, formatted. The extension host's console methods are fixed accessors
 * (assigning to console.log is silently ignored), so the global console is swapped for a tagging one.
 */
function tagConsoleForCodeServer(): void {
  if (process.env.SSH_SYNC_VSCODE_RUNNER !== 'code-server') return;
  const original = globalThis.console;
  const tagged = Object.create(original) as Console;
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const method = original[level];
    Object.defineProperty(tagged, level, {
      configurable: true,
      writable: true,
      value: (...args: unknown[]) =>
        method.call(original, util.format(...args).split('\n').map((line) => `@@out ${line}`).join('\n')),
    });
  }
  Object.defineProperty(globalThis, 'console', { value: tagged, configurable: true, writable: true });
}

export function run(): Promise<void> {
  tagConsoleForCodeServer();
  // Mocha's reporters print with format strings ('%d passing'); hand the console finished lines.
  Mocha.reporters.Base.consoleLog = (...args: unknown[]) => console.log(util.format(...args));
  const mocha = new Mocha({ ui: 'tdd', reporter: 'spec', color: false, timeout: 60_000 });
  if (process.env.SSH_SYNC_VSCODE_GREP) mocha.grep(new RegExp(process.env.SSH_SYNC_VSCODE_GREP));
  for (const file of findTests(__dirname)) mocha.addFile(file);

  return new Promise((resolve, reject) => {
    try {
      const runner = mocha.run((failures) => {
        const s = runner.stats ?? { passes: 0, failures, pending: 0 };
        // Read by scripts/vscode-test/run-code-server.mjs to print a closing count line.
        console.log(`@@result ${JSON.stringify({ passed: s.passes, failed: s.failures, skipped: s.pending })}`);
        if (failures > 0) reject(new Error(`${failures} VS Code test(s) failed`));
        else if (s.passes === 0) reject(new Error('no VS Code test ran'));
        else resolve();
      });
    } catch (err) {
      reject(err);
    }
  });
}
