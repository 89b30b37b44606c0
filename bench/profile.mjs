// `node bench/run.mjs --profile`: one ssh-sync initial push of `small` under `node --cpu-prof`, then the
// top self-time functions of each profile (main thread and any workers), as a Markdown table.
import { readdirSync, readFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { rmrf, fmtS } from './lib/util.mjs';

export async function profileRun(T, local, remote, profDir, log) {
  rmrf(remote);
  rmrf(profDir);
  mkdirSync(profDir, { recursive: true });
  const r = await T.sshSync(local, remote, { name: 'bench-profile', cpuProfDir: profDir });
  log(`profiled run: ${fmtS(r.ms)} s, exit ${r.code}${r.timedOut ? ' (timed out)' : ''}`);
  const out = [`Profiled ssh-sync initial push of \`small\`: ${fmtS(r.ms)} s wall, exit ${r.code}, ${r.summary?.copied ?? '?'} files copied.`, ''];
  for (const f of readdirSync(profDir).filter((n) => n.endsWith('.cpuprofile')).sort()) out.push(summarizeProfile(path.join(profDir, f)), '');
  return out.join('\n');
}

export function summarizeProfile(file, top = 20) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    const n = byId.get(prof.samples[i]);
    total += dt;
    const cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  const L = [`${path.basename(file)}: ${(total / 1e6).toFixed(2)} s sampled`, '', '| self ms | % | function |', '|---:|---:|---|'];
  for (const [k, us] of rows) L.push(`| ${(us / 1000).toFixed(0)} | ${((100 * us) / total).toFixed(1)} | \`${k}\` |`);
  // The same samples charged to the nearest bundled frame (ssh-sync or ssh2 code in dist/cli.js), so
  // that native work (socket writes, crypto, fs) shows up under the JavaScript that asked for it.
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const owner = new Map();
  for (let i = 0; i < prof.samples.length; i++) {
    let id = prof.samples[i];
    let n = byId.get(id);
    const leaf = n.callFrame.functionName;
    while (n && !n.callFrame.url.includes('dist/cli.js')) { id = parent.get(id); n = id === undefined ? undefined : byId.get(id); }
    const key = n ? `${n.callFrame.functionName || '(anonymous)'} dist/cli.js:${n.callFrame.lineNumber + 1}` : `${leaf || '(root)'} (no bundled frame)`;
    owner.set(key, (owner.get(key) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  L.push('', '| ms charged to nearest dist/cli.js frame | % | frame |', '|---:|---:|---|');
  for (const [k, us] of [...owner.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)) L.push(`| ${(us / 1000).toFixed(0)} | ${((100 * us) / total).toFixed(1)} | \`${k}\` |`);
  return L.join('\n');
}

function shortUrl(url) {
  if (!url) return '';
  return url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, 'dist/');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // node bench/profile.mjs FILE.cpuprofile: summarize an existing profile
  for (const f of process.argv.slice(2)) console.log(summarizeProfile(f));
}
