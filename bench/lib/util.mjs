// Process running, timing, peak RSS and small statistics for the benchmark.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import * as path from 'node:path';

export const TIME = '/usr/bin/time';

/**
 * Runs argv[0] with argv[1..], timed in this process (wall clock from spawn to exit), wrapped in
 * `/usr/bin/time -f %M` for the peak RSS of the child (max over its descendants) when available.
 * Never throws for a non-zero exit; a run past `timeoutMs` is killed (process group) and marked.
 */
export function run(argv, { env, cwd, timeoutMs = 0, input, shell = false } = {}) {
  const rssFile = `/tmp/ssh-sync-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const useTime = existsSync(TIME);
  const full = shell ? ['sh', '-c', argv] : argv;
  const cmd = useTime ? [TIME, '-f', '%M', '-o', rssFile, ...full] : full;
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd[0], cmd.slice(1), { env: env ?? process.env, cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: true });
    const out = [], err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    if (input !== undefined) child.stdin.end(input);
    let timedOut = false;
    const timer = timeoutMs > 0 ? setTimeout(() => { timedOut = true; killGroup(child.pid); }, timeoutMs) : undefined;
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      let rssKB;
      if (useTime && existsSync(rssFile)) {
        const m = /(\d+)\s*$/.exec(readFileSync(rssFile, 'utf8').trim());
        if (m) rssKB = Number(m[1]);
        rmSync(rssFile, { force: true });
      }
      resolve({ ms, code, signal, timedOut, rssKB, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

export function killGroup(pid, signal = 'SIGKILL') {
  try { process.kill(-pid, signal); } catch { try { process.kill(pid, signal); } catch { /* gone */ } }
}

export function median(xs) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs, p) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}

export function sh(cmd) { return execFileSync('sh', ['-c', cmd], { encoding: 'utf8' }).trim(); }

export function which(name) {
  try { return sh(`command -v ${name}`) || undefined; } catch { return undefined; }
}

export function rmrf(p) { rmSync(p, { recursive: true, force: true }); }

/** Sum of file sizes in a directory (non-recursive). */
export function dirBytes(dir) {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
}

/** Drops dirty pages to disk so that one tool's writes are not paid by the next one. */
export function settle() {
  try { execFileSync('sync'); } catch { /* ignore */ }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function fmtS(ms) {
  if (!Number.isFinite(ms)) return '–';
  const s = ms / 1000;
  return s >= 100 ? s.toFixed(0) : s >= 10 ? s.toFixed(1) : s >= 1 ? s.toFixed(2) : s.toFixed(3);
}
export function fmtMB(bytes) {
  if (bytes === undefined || !Number.isFinite(bytes)) return '–';
  const mb = bytes / 1e6;
  return mb >= 100 ? mb.toFixed(0) : mb >= 1 ? mb.toFixed(1) : mb >= 0.01 ? mb.toFixed(2) : bytes === 0 ? '0' : mb.toFixed(3);
}
