/**
 * Helpers for the SSH Sync tests: the extension's test API, the workspace folder, settings, temp peers.
 * The API type is restated here (test/vscode compiles on its own and cannot import src/).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';

export const EXTENSION_ID = 'ssh-sync.ssh-sync';

export interface SessionView {
  id: string;
  label: string;
  folderName: string;
  address: string;
  direction: string;
  mode: string;
  activity: string;
  engineState: string;
  live: false | 'continuous' | 'interval';
  conflicts: { path: string; kind: string; local?: { kind: string; size?: number }; remote?: { kind: string; size?: number } }[];
  lastSync?: { at: number; summary: Record<string, unknown> };
  lastError?: { at: number; message: string; code?: string };
  halted?: string;
  tier?: string;
  generation: number;
}

export interface Api {
  activationMs: number;
  sessions(): SessionView[];
  problems(): readonly string[];
  status(): { text: string; tooltip: string; background?: string };
  conflictRows(): { session: string; path: string; kind: string; description: string }[];
  decorated(): string[];
  lastNotice(): { severity: string; message: string; code?: string; actions: string[] } | undefined;
  lastDiff(): { left: string; right: string; title: string } | undefined;
  reload(): Promise<void>;
  idle(): Promise<void>;
  scriptPrompts?(answers: (string | undefined)[] | undefined): { asked: string[] } | undefined;
}

export async function api(): Promise<Api> {
  const ext = vscode.extensions.getExtension<Api>(EXTENSION_ID);
  assert.ok(ext, 'extension not found');
  return ext.activate();
}

export function folder(): vscode.WorkspaceFolder {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'the test run has no workspace folder');
  return f;
}

export function local(...parts: string[]): string {
  return path.join(folder().uri.fsPath, ...parts);
}

/** A fresh empty folder (a local peer, or the remote root of the sshd fixture). */
export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `ssv-${label}-`));
}

/** Writes `sshSync.sessions` of the workspace folder, as a person editing settings.json would. */
export async function setSessions(sessions: unknown, a?: Api): Promise<void> {
  await vscode.workspace.getConfiguration('sshSync', folder().uri).update('sessions', sessions, vscode.ConfigurationTarget.WorkspaceFolder);
  await (a ?? (await api())).reload();
}

export async function setSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('sshSync').update(key, value, vscode.ConfigurationTarget.Global);
}

/** Empties the workspace folder (but keeps .vscode/settings.json). */
export function clearWorkspace(): void {
  for (const name of fs.readdirSync(folder().uri.fsPath)) {
    if (name === '.vscode') continue;
    fs.rmSync(local(name), { recursive: true, force: true });
  }
}

export function write(file: string, text: string, mtimeMs?: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  if (mtimeMs !== undefined) fs.utimesSync(file, mtimeMs / 1000, mtimeMs / 1000);
}

export function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(fn: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export function session(a: Api, label: string): SessionView {
  const s = a.sessions().find((v) => v.label === label);
  assert.ok(s, `no session '${label}' (have: ${a.sessions().map((v) => v.label).join(', ') || 'none'}; problems: ${a.problems().join('; ')})`);
  return s;
}

/** Records every distinct status bar text while `fn` runs. */
export async function statusTrail(a: Api, fn: () => PromiseLike<unknown>): Promise<string[]> {
  const trail: string[] = [a.status().text];
  const timer = setInterval(() => {
    const t = a.status().text;
    if (trail[trail.length - 1] !== t) trail.push(t);
  }, 5);
  try {
    await fn();
    await sleep(50);
  } finally {
    clearInterval(timer);
  }
  const t = a.status().text;
  if (trail[trail.length - 1] !== t) trail.push(t);
  return trail;
}
