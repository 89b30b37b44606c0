// Continuous mode: save a file locally, poll the remote copy (same machine) until it has the new
// content; latency = from just before the write to the first read that sees the whole new content.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { killGroup, percentile, median, sleep } from './util.mjs';

/** Starts a long-running process; resolves when `ready(outputSoFar)` is true. */
export function startDaemon(argv, { env, readyTest, timeoutMs = 120_000, logFile }) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let done = false;
    const check = () => {
      if (done) return;
      const extra = logFile && existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      if (readyTest(out + extra)) { done = true; clearInterval(poll); clearTimeout(timer); resolve({ child, output: () => out }); }
    };
    child.stdout.on('data', (d) => { out += d; check(); });
    child.stderr.on('data', (d) => { out += d; check(); });
    const poll = setInterval(check, 50);
    const timer = setTimeout(() => { if (!done) { done = true; clearInterval(poll); killGroup(child.pid); reject(new Error(`${argv[0]} not ready after ${timeoutMs / 1000} s:\n${out.slice(-2000)}`)); } }, timeoutMs);
    child.on('exit', (code) => { if (!done) { done = true; clearInterval(poll); clearTimeout(timer); reject(new Error(`${argv.join(' ')} exited ${code} before ready:\n${out.slice(-2000)}`)); } });
  });
}

export async function stopDaemon(child, signal = 'SIGTERM', graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try { process.kill(child.pid, signal); } catch { /* gone */ }
  const t = setTimeout(() => killGroup(child.pid), graceMs);
  await exited;
  clearTimeout(t);
  killGroup(child.pid); // leftovers (ssh children)
}

/**
 * `edits` saves of files under `local` (rotating over `files`), each waited for on `remote`.
 * Returns {latencies (ms), lost (edits never seen within timeoutMs)}.
 */
export async function measureEdits(local, remote, files, { edits = 50, gapMs = 250, timeoutMs = 10_000 } = {}) {
  const latencies = [];
  let lost = 0;
  for (let i = 0; i < edits; i++) {
    const rel = files[i % files.length];
    const content = Buffer.concat([Buffer.from(`edit ${i} ${Date.now()}\n`), randomBytes(1024 + ((i * 977) % 4096))]);
    const target = path.join(remote, rel);
    mkdirSync(path.dirname(path.join(local, rel)), { recursive: true });
    const t0 = performance.now();
    writeFileSync(path.join(local, rel), content);
    let seen = false;
    while (performance.now() - t0 < timeoutMs) {
      let got;
      try { got = readFileSync(target); } catch { got = undefined; }
      if (got && got.equals(content)) { seen = true; break; }
      await new Promise((r) => setImmediate(r));
    }
    if (seen) latencies.push(performance.now() - t0);
    else lost++;
    await sleep(gapMs + ((i * 37) % 50)); // let the tool go idle; jitter avoids lock-step with timers
  }
  return { latencies, lost, p50: percentile(latencies, 50), p95: percentile(latencies, 95), median: median(latencies), min: Math.min(...latencies), max: Math.max(...latencies) };
}

export function lsyncdConfig({ source, target, rsh, logFile, statusFile, delay = 0 }) {
  return `settings {
  logfile = "${logFile}",
  statusFile = "${statusFile}",
  nodaemon = true,
  insist = false,
}
sync {
  default.rsync,
  source = "${source}",
  target = "${target}",
  delay = ${delay},
  rsync = {
    archive = true,
    rsh = "${rsh}",
  },
}
`;
}
