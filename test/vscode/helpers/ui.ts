/**
 * Lets a test ask the code-server launcher (scripts/vscode-test/run-code-server.mjs) to act on the VS Code
 * window with Playwright: screenshots, the command palette, status bar text. A request is one console
 * line `@@ui {"id",...}` of the extension host, which the launcher sees; the answer comes back as the file
 * $SSH_SYNC_VSCODE_UI_DIR/<id>.json. Under @vscode/test-electron there is no such launcher:
 * `uiAvailable()` is false, `screenshot()` does nothing and the other calls throw.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let nextId = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True when the launcher can answer UI requests (code-server runner). */
export function uiAvailable(): boolean {
  return !!process.env.SSH_SYNC_VSCODE_UI_DIR;
}

/** True when the run was started with --ui-check: the UI tests proper are wanted. */
export function uiCheckWanted(): boolean {
  return uiAvailable() && process.env.SSH_SYNC_VSCODE_UI === '1';
}

export async function uiRequest<T = unknown>(op: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
  const dir = process.env.SSH_SYNC_VSCODE_UI_DIR;
  if (!dir) throw new Error('UI requests need the code-server launcher (SSH_SYNC_VSCODE_UI_DIR is not set)');
  const id = `${process.pid}-${nextId++}`;
  const file = path.join(dir, `${id}.json`);
  console.log(`@@ui ${JSON.stringify({ id, op, ...params })}`);
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`UI request ${op} got no answer within ${timeoutMs} ms`);
    await sleep(50);
  }
  const answer = JSON.parse(fs.readFileSync(file, 'utf8')) as { ok: boolean; result?: T; error?: string };
  fs.rmSync(file, { force: true });
  if (!answer.ok) throw new Error(`UI request ${op} failed: ${answer.error}`);
  return answer.result as T;
}

/** Screenshot of the window as <screenshot dir>/<name>.png; returns its path, or undefined without the launcher. */
export async function screenshot(name: string): Promise<string | undefined> {
  if (!uiAvailable()) return undefined;
  await sleep(300); // let the workbench paint what the test just did
  return uiRequest<string>('screenshot', { name });
}

/** Opens the command palette (F1), types `text`, runs the first entry; returns that entry's label. */
export function runFromPalette(text: string): Promise<string> {
  return uiRequest<string>('palette', { text });
}

/** Texts of the status bar items, left to right. */
export function statusBarTexts(): Promise<string[]> {
  return uiRequest<string[]>('statusbar');
}

/** innerText of the first element matching a CSS selector of the workbench DOM. */
export function domText(selector: string, timeout = 10_000): Promise<string> {
  return uiRequest<string>('text', { selector, timeout }, timeout + 5_000);
}

/** Polls `fn` until it returns true (UI updates are asynchronous). */
export async function waitFor(fn: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}
