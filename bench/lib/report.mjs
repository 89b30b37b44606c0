// Targets from issue 6 and the Markdown rendering of a run.
import { fmtS, fmtMB } from './util.mjs';

const find = (results, set, kase, tool) => results.find((r) => r.set === set && r.case === kase && r.tool === tool);
const med = (r) => (r && r.samples.length ? median(r.samples) : undefined);
function median(xs) { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; }

/** ssh-sync time for a row: the median, or a lower bound ("> timeout") when it timed out. */
function ssTime(r) {
  if (!r) return undefined;
  if (r.samples.length) return { ms: median(r.samples), bound: false };
  if (r.timedOutMs) return { ms: r.timedOutMs, bound: true };
  return undefined;
}

export function evaluateTargets(results, continuous, meta) {
  const out = [];
  const q = meta.mode === 'quick' ? ' (quick-size set)' : '';
  const ratioTarget = (label, set, kase, refTool, limit, extra) => {
    const ss = find(results, set, kase, 'ssh-sync');
    const ref = find(results, set, kase, refTool);
    if (!ss && !ref) return out.push({ target: label, goal: `≤ ${limit} × ${refTool}`, figure: 'not run', met: null });
    const t = ssTime(ss);
    const refMs = med(ref);
    if (!t || refMs === undefined) return out.push({ target: label, goal: `≤ ${limit} × ${refTool}`, figure: ss?.notes?.[0] ?? 'no figure', met: false });
    const ratio = t.ms / refMs;
    let met = !t.bound && ratio <= limit;
    let figure = `${t.bound ? '> ' : ''}${fmtS(t.ms)} s vs ${fmtS(refMs)} s = ${t.bound ? '> ' : ''}${ratio.toFixed(2)} × ${refTool}${q}`;
    if (extra) { const e = extra(ss); figure += `; ${e.text}`; met = met && e.met; }
    out.push({ target: label, goal: `≤ ${limit} × ${refTool}`, figure, ratio, met });
  };
  ratioTarget('initial push `small`', 'small', 'initial push', 'rsync', 0.8);
  ratioTarget('initial push `huge-tree`', 'huge-tree', 'initial push', 'rsync', 0.8);
  ratioTarget('push, no change, `huge-tree`', 'huge-tree', 'push, no change', 'rsync', 0.35, (ss) => {
    const c = ss?.conns?.length ? Math.max(...ss.conns) : undefined;
    return { text: `${c ?? '?'} SSH connection(s) opened`, met: c === 0 };
  });
  ratioTarget('push, 1 file changed, `huge-tree`', 'huge-tree', 'push, 1 file changed', 'rsync', 0.5);
  for (const set of ['small', 'huge-tree']) {
    if (!meta.sets.includes(set)) continue;
    ratioTarget(`rename of a 50-file directory (\`${set}\`)`, set, 'push, 50-file dir renamed', 'rsync', 0.5, (ss) => {
      const bytes = ss?.summaries?.length ? Math.max(...ss.summaries.map((s) => s.bytes ?? 0)) : undefined;
      const renamed = ss?.summaries?.length ? Math.min(...ss.summaries.map((s) => s.renamed ?? 0)) : undefined;
      return { text: `${bytes ?? '?'} file bytes sent, ${renamed ?? '?'} rename(s)`, met: bytes === 0 };
    });
  }
  ratioTarget('big file', 'big', 'initial push', 'ssh cat (link limit)', 1.15);
  ratioTarget('bidi, no change, `huge-tree`', 'huge-tree', 'bidi, no change', 'unison', 0.5);
  const cont = continuous.find((c) => c.tool.startsWith('ssh-sync watch (default'));
  if (!cont) out.push({ target: 'continuous: save → remote has it', goal: 'p50 ≤ 100 ms, p95 ≤ 300 ms', figure: 'not run', met: null });
  else if (cont.skipped) out.push({ target: 'continuous: save → remote has it', goal: 'p50 ≤ 100 ms, p95 ≤ 300 ms', figure: cont.skipped, met: false });
  else out.push({ target: 'continuous: save → remote has it', goal: 'p50 ≤ 100 ms, p95 ≤ 300 ms', figure: `p50 ${cont.p50.toFixed(0)} ms, p95 ${cont.p95.toFixed(0)} ms (${cont.latencies.length} edits${cont.lost ? `, ${cont.lost} never arrived` : ''})`, met: cont.p50 <= 100 && cont.p95 <= 300 && !cont.lost });
  const cont0 = continuous.find((c) => c.tool.includes('cooloff-ms 0') && !c.skipped);
  if (cont0) out.push({ target: '  (same, `--cooloff-ms 0`)', goal: 'p50 ≤ 100 ms, p95 ≤ 300 ms', figure: `p50 ${cont0.p50.toFixed(0)} ms, p95 ${cont0.p95.toFixed(0)} ms`, met: cont0.p50 <= 100 && cont0.p95 <= 300 && !cont0.lost });
  if (meta.sets.includes('huge-tree')) {
    const rows = results.filter((r) => r.set === 'huge-tree' && r.tool === 'ssh-sync' && r.rss.length);
    const peak = rows.length ? Math.max(...rows.flatMap((r) => r.rss)) : undefined;
    const snap = meta['huge-tree']?.snapshotBytes;
    out.push({
      target: 'memory: CLI sync of `huge-tree`', goal: 'peak RSS ≤ 250 MB; snapshot ≤ 30 MB',
      figure: `peak RSS ${peak ? (peak / 1024).toFixed(0) : '?'} MB; snapshot ${snap !== undefined ? fmtMB(snap) : '?'} MB${q}`,
      met: peak !== undefined && snap !== undefined ? peak / 1024 <= 250 && snap / 1e6 <= 30 : false,
    });
  }
  return out;
}

const REF_CASE = { 'bidi, no change': 'push, no change', 'bidi, 1 file changed': 'push, 1 file changed' };

export function renderMarkdown(doc) {
  const { meta, targets, results, continuous } = doc;
  const L = [];
  const m = meta.machine;
  L.push(`## ssh-sync benchmark — ${meta.date.slice(0, 10)} (${meta.mode} run)`, '');
  L.push(`Machine: ${m.cpus} cores (${m.cpu}), ${m.memGiB} GiB RAM, ${m.kernel}. Node ${meta.versions.node}, ssh2 ${meta.versions.ssh2}, ${meta.versions.openssh}, ${meta.versions.rsync.replace(/\s+/g, ' ')}, ${meta.versions.unison}, lsyncd ${meta.versions.lsyncd.replace(/^Version:\s*/, '')}.`);
  L.push(`Build: ${meta.build.commit ? `${meta.build.commit}${meta.build.srcDirty ? ' + uncommitted src/ changes' : ''}, dist/cli.js sha256 ${meta.build.cliSha256}` : meta.build.note}. Ciphers: ${Object.entries(meta.ciphers ?? {}).map(([k, v]) => `${k} ${v}`).join('; ')}.${meta.nodelayShim ? ' **What-if run: ssh-sync with the TCP_NODELAY shim.**' : ''}`);
  const sets = meta.sets.filter((s) => meta[s]).map((s) => `\`${s}\` ${meta[s].files.toLocaleString('en')} files / ${fmtMB(meta[s].bytes)} MB`);
  if (meta.loadavg) L.push(`Load average (1/5/15 min) at start ${meta.loadavg.start.join(' ')}, at end ${meta.loadavg.end.join(' ')}.`);
  L.push(`Sets: ${sets.join(', ')}. Medians of ${meta.reps} runs (initial pushes ${meta.repsHeavy}) after ${meta.warmup} warm-up; runs stop repeating past ${meta.budgetS} s per case and tool, and are killed after ${meta.timeoutS} s.`, '');
  L.push('### Targets (issue 6)', '', '| target | goal | measured | met |', '|---|---|---|---|');
  for (const t of targets) L.push(`| ${t.target} | ${t.goal} | ${t.figure} | ${t.met === null ? '–' : t.met ? '✅ met' : '❌ not met'} |`);
  L.push('', '### All measurements', '');
  L.push('| set | case | tool | median s | min–max s | n | × rsync | sent MB | conns | peak RSS MB | notes |', '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of results) {
    const rsync = results.find((x) => x.set === r.set && x.case === (REF_CASE[r.case] ?? r.case) && x.tool === 'rsync');
    const ok = r.n > 0;
    const time = ok ? fmtS(r.medianMs) : r.timedOutMs ? `> ${fmtS(r.timedOutMs)}` : '–';
    const ratio = rsync && rsync.n && (ok || r.timedOutMs) ? `${ok ? '' : '> '}${((ok ? r.medianMs : r.timedOutMs) / rsync.medianMs).toFixed(2)}` : '–';
    const notes = [];
    if (r.case.startsWith('bidi') && r.tool === 'ssh-sync') {
      const un = results.find((x) => x.set === r.set && x.case === r.case && x.tool === 'unison');
      if (un?.n && ok) notes.push(`${(r.medianMs / un.medianMs).toFixed(2)} × unison`);
    }
    if (r.set === 'big' && r.tool !== 'ssh cat (link limit)' && ok) {
      const cat = results.find((x) => x.set === r.set && x.case === r.case && x.tool === 'ssh cat (link limit)');
      if (cat?.n) notes.push(`${(r.medianMs / cat.medianMs).toFixed(2)} × link limit, ${(meta.big.bytes / 1048576 / (r.medianMs / 1000)).toFixed(0)} MiB/s`);
    }
    if (r.summary && r.tool === 'ssh-sync') {
      if (r.case.includes('renamed')) notes.push(`renamed ${r.renamedMin}, ${r.fileBytesSent} file bytes`);
      else if (r.summary.copied) notes.push(`copied ${r.summary.copied}`);
      if (r.summary.adopted) notes.push(`adopted ${r.summary.adopted}`);
      if (r.summary.tier?.remote) notes.push(`tier ${r.summary.tier.remote}`);
    }
    notes.push(...r.notes);
    L.push(`| ${r.set} | ${r.case} | ${r.tool} | ${time} | ${ok ? `${fmtS(r.minMs)}–${fmtS(r.maxMs)}` : '–'} | ${r.n} | ${ratio} | ${r.sentBytes !== undefined ? fmtMB(r.sentBytes) : '–'} | ${r.connections ?? '–'} | ${r.peakRssKB ? (r.peakRssKB / 1024).toFixed(0) : '–'} | ${notes.join('; ')} |`);
  }
  if (continuous.length) {
    L.push('', `### Continuous: save → remote has the new content (\`small\`; edits polled on the remote path)`, '');
    L.push('| tool | p50 ms | p95 ms | min–max ms | edits | lost | start-up s | peak RSS MB |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of continuous) {
      if (c.skipped) { L.push(`| ${c.tool} | ${c.skipped} | | | | | | |`); continue; }
      L.push(`| ${c.tool} | ${c.p50.toFixed(0)} | ${c.p95.toFixed(0)} | ${c.min.toFixed(0)}–${c.max.toFixed(0)} | ${c.latencies.length + c.lost} | ${c.lost} | ${fmtS(c.startMs)} | ${c.rss ? (c.rss / 1024).toFixed(0) : '–'} |`);
    }
  }
  L.push('', '"sent MB": TCP bytes client → server (ssh-sync: socket counters in its process; OpenSSH clients: their own `Transferred:` count). "conns": SSH logins seen by sshd during the run. Peak RSS: `/usr/bin/time -f %M` (the client process; for watch, VmHWM).', '');
  return L.join('\n') + '\n';
}
