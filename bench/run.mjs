#!/usr/bin/env node
// `npm run bench`: ssh-sync side by side with rsync, unison, scp, `ssh cat` and lsyncd on seeded data
// sets, against a private loopback OpenSSH sshd. See bench/README.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, cpSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { startSshd } from './lib/sshd.mjs';
import { describe, ensureSet, setSpec } from './lib/data.mjs';
import { makeTools, REPO, CIPHER, sshSyncEnv } from './lib/tools.mjs';
import { median, rmrf, which, sh, settle, fmtS, fmtMB, TIME } from './lib/util.mjs';
import { startDaemon, stopDaemon, measureEdits, lsyncdConfig } from './lib/continuous.mjs';
import { renderMarkdown, evaluateTargets } from './lib/report.mjs';
import { profileRun } from './profile.mjs';

// ---- options ----------------------------------------------------------------------------------------
const HELP = `usage: node bench/run.mjs [options]
  --sets LIST        data sets (default: small,huge-tree,big,mixed): small, huge-tree, big, mixed
  --quick            smaller sets (small 4k files, huge-tree 20k, big 128 MiB, mixed 1k), fewer reps
  --reps N           measured repetitions per case (default 5, quick 3; initial pushes 3 / 2)
  --warmup N         warm-up runs per case, not counted (default 1)
  --timeout S        kill any single run after S seconds and report it as timed out (default 120, quick 20)
  --budget S         stop repeating a case/tool once its measured runs add up to S seconds (default 90, quick 20)
  --edits N          edits for the continuous case (default 50, quick 20)
  --no-continuous    skip the continuous (watch vs lsyncd) case
  --no-bidi          skip the bidi (vs unison) cases
  --no-scp           skip scp
  --json             print the results as JSON instead of Markdown
  --out FILE         also write the JSON results to FILE (and FILE.md with the Markdown)
  --seed N           data seed (default 1)
  --data-dir DIR     keep generated data sets in DIR and reuse them on later runs (not deleted)
  --keep             keep the work dir (remotes, snapshots, logs) for inspection
  --no-build         do not run scripts/build.mjs first
  --no-install       never apt-get install missing tools; just say what is missing
  --nodelay-shim     what-if: preload a shim turning on TCP_NODELAY in the ssh-sync process
  --profile          only profile one ssh-sync initial push of 'small' (node --cpu-prof) and print
                     the top self-time functions
`;
const argv = process.argv.slice(2);
const opt = { sets: 'small,huge-tree,big,mixed', quick: false, json: false, seed: 1, warmup: 1, build: true, install: true, continuous: true, bidi: true, scp: true, nodelayShim: false, keep: false, profile: false };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => { if (i + 1 >= argv.length) die(`${a} needs a value`); return argv[++i]; };
  switch (a) {
    case '--sets': opt.sets = val(); break;
    case '--quick': opt.quick = true; break;
    case '--reps': opt.reps = Number(val()); break;
    case '--warmup': opt.warmup = Number(val()); break;
    case '--timeout': opt.timeout = Number(val()); break;
    case '--budget': opt.budget = Number(val()); break;
    case '--edits': opt.edits = Number(val()); break;
    case '--no-continuous': opt.continuous = false; break;
    case '--no-bidi': opt.bidi = false; break;
    case '--no-scp': opt.scp = false; break;
    case '--json': opt.json = true; break;
    case '--out': opt.out = val(); break;
    case '--seed': opt.seed = Number(val()); break;
    case '--data-dir': opt.dataDir = path.resolve(val()); break;
    case '--keep': opt.keep = true; break;
    case '--no-build': opt.build = false; break;
    case '--no-install': opt.install = false; break;
    case '--nodelay-shim': opt.nodelayShim = true; break;
    case '--profile': opt.profile = true; break;
    case '-h': case '--help': process.stdout.write(HELP); process.exit(0); break;
    default: die(`unknown option ${a}\n${HELP}`);
  }
}
const SETS = opt.sets.split(',').map((s) => s.trim()).filter(Boolean);
for (const s of SETS) setSpec(s, opt.quick); // validates names
const REPS = opt.reps ?? (opt.quick ? 3 : 5);
const REPS_HEAVY = Math.min(REPS, opt.quick ? 2 : 3);
const TIMEOUT_MS = (opt.timeout ?? (opt.quick ? 20 : 120)) * 1000;
const BUDGET_MS = (opt.budget ?? (opt.quick ? 20 : 90)) * 1000;
const EDITS = opt.edits ?? (opt.quick ? 20 : 50);

function die(msg) { process.stderr.write(`bench: ${msg}\n`); process.exit(2); }
const log = (m) => process.stderr.write(`${m}\n`);

// ---- preflight ---------------------------------------------------------------------------------------
const isRoot = process.getuid?.() === 0;
const NEEDED = [
  { bin: 'sshd', path: '/usr/sbin/sshd', pkg: 'openssh-server', required: true },
  { bin: 'ssh', pkg: 'openssh-client', required: true },
  { bin: 'ssh-keygen', pkg: 'openssh-client', required: true },
  { bin: 'scp', pkg: 'openssh-client', required: true },
  { bin: 'rsync', pkg: 'rsync', required: true },
  { bin: 'time', path: TIME, pkg: 'time' },
  { bin: 'unison', pkg: 'unison' },
  { bin: 'lsyncd', pkg: 'lsyncd' },
];
const have = (n) => (n.path ? existsSync(n.path) : !!which(n.bin));
function preflight() {
  let missing = NEEDED.filter((n) => !have(n));
  if (missing.length && isRoot && opt.install && which('apt-get')) {
    const pkgs = [...new Set(missing.map((n) => n.pkg))];
    log(`installing ${pkgs.join(' ')} (apt-get) ...`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { env, stdio: 'ignore' });
      r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    }
    if (r.status !== 0) log(`apt-get install failed: ${r.stderr.toString().trim().split('\n').slice(-3).join(' | ')}`);
    missing = NEEDED.filter((n) => !have(n));
  }
  if (missing.length) {
    const pkgs = [...new Set(missing.map((n) => n.pkg))];
    log(`missing: ${missing.map((n) => n.bin).join(', ')}. Install with: sudo apt-get install -y ${pkgs.join(' ')}`);
    if (missing.some((n) => n.required)) process.exit(1);
  }
  return Object.fromEntries(NEEDED.map((n) => [n.bin, have(n)]));
}

function versions(avail) {
  const v = (cmd) => { try { return sh(`${cmd} 2>&1`).split('\n')[0]; } catch (e) { return String(e.stdout ?? e.message).split('\n')[0]; } };
  return {
    node: process.version,
    ssh2: JSON.parse(readFileSync(path.join(REPO, 'node_modules', 'ssh2', 'package.json'), 'utf8')).version,
    openssh: v('ssh -V'),
    rsync: v('rsync --version'),
    unison: avail.unison ? v('unison -version') : 'not available',
    lsyncd: avail.lsyncd ? v('lsyncd -version') : 'not available',
  };
}

function machine() {
  const cpus = os.cpus();
  return { cpus: cpus.length, cpu: cpus[0]?.model?.trim(), memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: `${os.type()} ${os.release()}`, host: os.hostname() };
}

function build() {
  log('building dist/ (node scripts/build.mjs) ...');
  const r = spawnSync('node', ['scripts/build.mjs'], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) { log(r.stdout + r.stderr); die('build failed'); }
  let commit = '';
  try { commit = execFileSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { /* no git */ }
  let dirty = false;
  try { dirty = execFileSync('git', ['-C', REPO, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== ''; } catch { /* no git */ }
  const cliHash = createHash('sha256').update(readFileSync(path.join(REPO, 'dist', 'cli.js'))).digest('hex').slice(0, 12);
  return { commit, srcDirty: dirty, cliSha256: cliHash };
}

function checkDisk(root) {
  const estimate = SETS.reduce((n, s) => {
    const spec = setSpec(s, opt.quick);
    const files = spec.kind === 'tree' ? spec.top * spec.perTop * spec.perDir : spec.kind === 'big' ? 1 : spec.files;
    const bytes = spec.kind === 'tree' ? files * Math.max(4096, (spec.minSize + spec.maxSize) / 2) : spec.kind === 'big' ? spec.size : files * 4096 + 140e6 * (files / 5000);
    return n + bytes * (spec.kind === 'big' ? 4 : 5.5); // local + up to 4 remote copies alive at once
  }, 0);
  const avail = Number(sh(`df -Pk '${root}' | awk 'NR==2{print $4}'`)) * 1024;
  log(`disk: ~${(estimate / 1e9).toFixed(1)} GB needed, ${(avail / 1e9).toFixed(1)} GB free under ${root}`);
  if (avail < estimate * 1.2) die(`not enough free disk under ${root}: need ~${(estimate / 1e9).toFixed(1)} GB (use fewer --sets or --quick)`);
}

// ---- measuring ---------------------------------------------------------------------------------------
const results = []; // {set, case, tool, samples[], rss[], net, conns, summary, n, notes[], failed}
const continuous = [];
const extras = {};

function record(set, kase, tool) {
  let r = results.find((x) => x.set === set && x.case === kase && x.tool === tool);
  if (!r) { r = { set, case: kase, tool, samples: [], rss: [], nets: [], conns: [], summaries: [], notes: [], failed: false }; results.push(r); }
  return r;
}

/**
 * One case: for each repetition (warm-ups first), `mutate` once, then every tool in turn (order
 * alternating between repetitions) runs `prepare` (untimed) and its timed run. A tool that fails or
 * times out is dropped from later repetitions; a tool whose runs add up past the budget stops repeating.
 * A single run longer than the budget makes its warm-up count as the one sample.
 */
async function runCase(set, kase, tools, { reps = REPS, mutate, warmup = opt.warmup } = {}) {
  const active = tools.filter(Boolean);
  const spent = new Map(active.map((t) => [t.name, 0]));
  const done = new Set();
  const total = warmup + reps;
  for (let i = 0; i < total; i++) {
    const warm = i < warmup;
    const live = active.filter((t) => !done.has(t.name));
    if (!live.length) break;
    if (mutate) await mutate(i);
    const order = i % 2 ? [...live].reverse() : live;
    for (const t of order) {
      const rec = record(set, kase, t.name);
      if (t.skip) { rec.notes.push(t.skip); rec.failed = true; done.add(t.name); continue; }
      if (t.prepare) await t.prepare(i);
      settle();
      const r = await t.run(i);
      const ok = !r.timedOut && (r.code === 0 || (t.okCodes ?? []).includes(r.code));
      const tag = warm ? 'warm-up' : `rep ${i - warmup + 1}/${reps}`;
      log(`  ${set} | ${kase} | ${t.name} | ${tag}: ${fmtS(r.ms)} s${r.timedOut ? ' (TIMED OUT)' : ''}${ok ? '' : ` exit ${r.code}`}${r.net ? `, ${fmtMB(r.net.sent)} MB sent` : ''}${r.rssKB ? `, ${(r.rssKB / 1024).toFixed(0)} MB RSS` : ''}`);
      if (!ok) {
        rec.failed = true;
        rec.notes.push(r.timedOut ? `timed out after ${TIMEOUT_MS / 1000} s` : `exit ${r.code}: ${lastLines(r.stderr + r.stdout)}`);
        if (r.timedOut) rec.timedOutMs = r.ms;
        done.add(t.name);
        t.onFail?.(r);
        continue;
      }
      const slow = warm && r.ms > BUDGET_MS;
      if (!warm || slow) {
        rec.samples.push(r.ms);
        if (r.rssKB) rec.rss.push(r.rssKB);
        if (r.net) rec.nets.push(r.net);
        rec.conns.push(r.sshdConnections);
        if (r.summary) rec.summaries.push(r.summary);
        if (slow) rec.notes.push('one run (longer than the budget; its warm-up is the sample)');
      }
      t.after?.(r, warm);
      spent.set(t.name, spent.get(t.name) + (warm ? 0 : r.ms));
      if (slow || spent.get(t.name) > BUDGET_MS) done.add(t.name);
    }
  }
}

function lastLines(s) { return s.trim().split('\n').filter((l) => !/^(debug|Authenticated|Transferred|Bytes per|Connection|Server accepts|Will attempt|Authentication succeeded|Offering|Local version|Remote protocol|compat)/.test(l)).slice(-2).join(' | ').slice(0, 300); }

// ---- main --------------------------------------------------------------------------------------------
const avail = preflight();
const loadStart = os.loadavg().map((x) => +x.toFixed(2));
if (loadStart[0] > os.cpus().length * 0.5) log(`note: load average is ${loadStart.join(' ')} on ${os.cpus().length} cores: other work on this machine will add noise`);
const buildInfo = opt.build ? build() : { note: 'not rebuilt' };
const workRoot = mkdtempSync(path.join(os.tmpdir(), 'ssh-sync-bench-'));
const dataRoot = opt.dataDir ?? path.join(workRoot, 'data');
mkdirSync(dataRoot, { recursive: true });
checkDisk(workRoot);
const stateDir = path.join(workRoot, 'state');
mkdirSync(stateDir, { recursive: true });
const remoteRoot = path.join(workRoot, 'remote');
mkdirSync(remoteRoot, { recursive: true });

let sshd;
const daemons = new Set();
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const d of daemons) await stopDaemon(d, 'SIGKILL', 100).catch(() => {});
  await sshd?.stop().catch(() => {});
  if (!opt.keep) rmrf(workRoot);
  else log(`kept ${workRoot}`);
}
process.on('SIGINT', () => { log('interrupted; cleaning up'); cleanup().finally(() => process.exit(130)); });

try {
  sshd = await startSshd({ logLevel: 'DEBUG1' }); // DEBUG1 logs the negotiated cipher of every connection
  const ctx = { sshd, work: workRoot, stateDir, timeoutMs: TIMEOUT_MS, nodelayShim: opt.nodelayShim };
  const T = makeTools(ctx);
  log(`sshd on 127.0.0.1:${sshd.port}; work dir ${workRoot}; ${opt.quick ? 'quick' : 'full'} run, sets ${SETS.join(',')}, reps ${REPS} (+${opt.warmup} warm-up), timeout ${TIMEOUT_MS / 1000} s`);

  if (opt.profile) {
    const spec = setSpec('small', opt.quick);
    const data = ensureSet(spec, dataRoot, opt.seed, opt.quick, log);
    const out = await profileRun(T, data.dir, path.join(remoteRoot, 'profile'), path.join(workRoot, 'cpuprof'), log);
    process.stdout.write(out + '\n');
  } else {
    // The cipher each client negotiates (sshd DEBUG1 log): ssh-sync must match the `ssh cat` limit.
    const probeDir = path.join(workRoot, 'probe');
    mkdirSync(probeDir);
    writeFileSync(path.join(probeDir, 'x'), 'x');
    let m = sshd.mark();
    await T.sshSync(probeDir, path.join(remoteRoot, 'probe'), { name: 'probe' });
    const sshSyncCipher = (await sshd.traffic(m)).ciphers.join(',');
    m = sshd.mark();
    await T.sshCat(path.join(probeDir, 'x'));
    const sshCipher = (await sshd.traffic(m)).ciphers.join(',');
    extras.ciphers = { 'ssh-sync (ssh2)': sshSyncCipher, 'OpenSSH clients': sshCipher };
    log(`ciphers: ssh-sync ${sshSyncCipher}; OpenSSH clients ${sshCipher}`);

    for (const setName of SETS) {
      const spec = setSpec(setName, opt.quick);
      log(`\n== ${setName}: ${describe(spec)}`);
      const data = ensureSet(spec, dataRoot, opt.seed, opt.quick, log);
      extras[setName] = { files: data.files, bytes: data.bytes, dirs: data.dirs };
      await benchSet(T, setName, spec, data);
    }
  }
} catch (err) {
  log(`bench failed: ${err.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}

if (!opt.profile) {
  const meta = {
    date: new Date().toISOString(), mode: opt.quick ? 'quick' : 'full', sets: SETS, reps: REPS, repsHeavy: REPS_HEAVY, warmup: opt.warmup,
    timeoutS: TIMEOUT_MS / 1000, budgetS: BUDGET_MS / 1000, seed: opt.seed, machine: machine(), versions: versions(avail), build: buildInfo,
    nodelayShim: opt.nodelayShim, cipher: CIPHER, loadavg: { start: loadStart, end: os.loadavg().map((x) => +x.toFixed(2)) }, ...extras,
  };
  const targets = evaluateTargets(results, continuous, meta);
  const doc = { meta, targets, results: results.map(summarize), continuous };
  const md = renderMarkdown(doc);
  if (opt.out) { writeFileSync(opt.out, JSON.stringify(doc, null, 2)); writeFileSync(`${opt.out}.md`, md); }
  process.stdout.write(opt.json ? JSON.stringify(doc, null, 2) + '\n' : md);
}

function summarize(r) {
  const last = r.summaries.at(-1);
  return {
    set: r.set, case: r.case, tool: r.tool, n: r.samples.length,
    medianMs: median(r.samples), minMs: r.samples.length ? Math.min(...r.samples) : NaN, maxMs: r.samples.length ? Math.max(...r.samples) : NaN,
    samplesMs: r.samples.map((x) => Math.round(x)),
    sentBytes: r.nets.length ? median(r.nets.map((n) => n.sent)) : undefined,
    receivedBytes: r.nets.length ? median(r.nets.map((n) => n.received)) : undefined,
    connections: r.conns.length ? Math.max(...r.conns) : undefined,
    peakRssKB: r.rss.length ? Math.max(...r.rss) : undefined,
    summary: last ? { copied: last.copied, renamed: last.renamed, adopted: last.adopted, bytes: last.bytes, tier: last.tier } : undefined,
    fileBytesSent: r.summaries.length ? Math.max(...r.summaries.map((s) => s.bytes ?? 0)) : undefined,
    renamedMin: r.summaries.length ? Math.min(...r.summaries.map((s) => s.renamed ?? 0)) : undefined,
    failed: r.failed, timedOutMs: r.timedOutMs, notes: [...new Set(r.notes)],
  };
}

// ---- one data set ------------------------------------------------------------------------------------
async function benchSet(T, setName, spec, data) {
  const L = data.dir;
  const R = path.join(remoteRoot, setName);
  mkdirSync(R, { recursive: true });
  const remote = (tool) => path.join(R, tool);
  // A tree deleted just before an initial push slows the file creations of that push (the file system
  // is still working the deletion off; this machine's ext4 uses `discard`), differently for each tool
  // and repetition. Trees are moved aside instead, and deleted once the set is done.
  const trash = path.join(workRoot, 'trash', setName);
  mkdirSync(trash, { recursive: true });
  let retired = 0;
  const retire = (dir) => { if (existsSync(dir)) renameSync(dir, path.join(trash, String(retired++))); };
  const pushName = `bench-${setName}-push`;
  const dropState = (name) => { for (const f of readdirSync(stateDir)) if (f.startsWith(`${name}.`) || f === name) rmrf(path.join(stateDir, f)); };
  let sshSyncBroken; // after a failed initial push the later ssh-sync cases have no synced remote
  const ss = (extra = {}) => ({
    name: 'ssh-sync',
    get skip() { return sshSyncBroken && extra.needsSynced !== false ? `skipped: ${sshSyncBroken}` : undefined; },
    prepare: extra.prepare,
    run: () => T.sshSync(L, extra.remote ?? remote('ssh-sync'), { name: extra.name ?? pushName, direction: extra.direction ?? 'push' }),
    onFail: extra.onFail,
  });
  const rs = (extra = {}) => ({ name: 'rsync', prepare: extra.prepare, run: () => T.rsync(L, remote('rsync')) });

  // 1. initial push into an empty remote
  const initialTools = [
    ss({ needsSynced: false, prepare: () => { retire(remote('ssh-sync')); dropState(pushName); }, onFail: (r) => { sshSyncBroken = `the initial push did not finish (${r.timedOut ? 'timed out' : `exit ${r.code}`})`; } }),
    rs({ prepare: () => retire(remote('rsync')) }),
    opt.scp ? { name: 'scp -r', prepare: () => retire(remote('scp')), run: () => T.scp(L, remote('scp')) } : undefined,
  ];
  if (spec.kind === 'big') initialTools.push({ name: 'ssh cat (link limit)', run: () => T.sshCat(path.join(L, 'big.bin')) });
  await runCase(setName, 'initial push', initialTools, { reps: REPS_HEAVY });
  rmrf(remote('scp'));
  if (sshSyncBroken) {
    // Later ssh-sync cases need a synced remote and a snapshot; without them they are skipped.
    log(`  ssh-sync: ${sshSyncBroken}; its later cases on ${setName} are skipped`);
  }
  if (spec.kind === 'big') {
    rmrf(R);
    return;
  }

  // 2. push with no change
  await runCase(setName, 'push, no change', [ss(), rs()]);
  const snap = path.join(stateDir, `${pushName}.db`);
  if (existsSync(snap)) extras[setName].snapshotBytes = statSync(snap).size;

  // 3. push after one file changed
  const changeFile = path.join(L, data.changeFile);
  const mutateOne = (i) => {
    const old = readFileSync(changeFile);
    const next = Buffer.from(old);
    const stamp = Buffer.from(`change ${i} ${Date.now()} `);
    stamp.copy(next, 0);
    next[next.length - 1] ^= 0xff;
    writeFileSync(changeFile, next);
  };
  await runCase(setName, 'push, 1 file changed', [ss(), rs()], { mutate: mutateOne });

  // 4. rename a directory of 50 files
  if (data.renameDir) {
    const a = path.join(L, data.renameDir);
    const b = `${a}-renamed`;
    await runCase(setName, 'push, 50-file dir renamed', [ss(), rs()], { mutate: () => (existsSync(a) ? renameSync(a, b) : renameSync(b, a)) });
  }

  // 5. bidi vs unison: both start from a remote copy made locally (cp -a) and no snapshot/archive.
  if (opt.bidi && avail.unison) {
    const bidiName = `bench-${setName}-bidi`;
    rmrf(remote('ssh-sync-bidi')); rmrf(remote('unison'));
    cpSync(L, remote('ssh-sync-bidi'), { recursive: true, preserveTimestamps: true });
    cpSync(L, remote('unison'), { recursive: true, preserveTimestamps: true });
    rmrf(path.join(workRoot, 'unison-archives'));
    dropState(bidiName);
    let bidiBroken;
    const sb = {
      name: 'ssh-sync',
      get skip() { return bidiBroken ? `skipped: ${bidiBroken}` : undefined; },
      run: () => T.sshSync(L, remote('ssh-sync-bidi'), { name: bidiName, direction: 'bidi' }),
      onFail: (r) => { bidiBroken ??= `the first bidi run did not finish (${r.timedOut ? 'timed out' : `exit ${r.code}`})`; },
    };
    const un = { name: 'unison', run: () => T.unison(L, remote('unison')) };
    await runCase(setName, 'bidi first run (copies present, no snapshot)', [sb, un], { reps: 1, warmup: 0 });
    await runCase(setName, 'bidi, no change', [sb, un]);
    await runCase(setName, 'bidi, 1 file changed', [sb, un], { mutate: mutateOne });
    rmrf(remote('ssh-sync-bidi')); rmrf(remote('unison'));
  } else if (opt.bidi) {
    record(setName, 'bidi, no change', 'unison').notes.push('unison not available');
  }

  // 6. continuous: on `small` (a realistic editor-sized tree), ssh-sync watch vs lsyncd (delay 0)
  if (setName === 'small' && opt.continuous) await benchContinuous(T, L, remote, pushName, () => sshSyncBroken);
  rmrf(R);
  rmrf(trash);
  spawnSync('sync'); // the next set starts with the deletions written out
}

async function benchContinuous(T, L, remote, pushName, broken) {
  const files = Array.from({ length: 10 }, (_, i) => `d002/s0${i % 10}/f0${10 + i}.dat`).filter((f) => existsSync(path.join(L, path.dirname(f))));
  log(`\n== continuous: ${EDITS} edits, save -> remote has it`);
  const variants = [
    { tool: 'ssh-sync watch (default cool-off 30 ms)', extra: [] },
    { tool: 'ssh-sync watch --cooloff-ms 0', extra: ['--cooloff-ms', '0'] },
  ];
  for (const v of variants) {
    if (broken()) { continuous.push({ tool: v.tool, skipped: `skipped: ${broken()}` }); continue; }
    const netFile = path.join(workRoot, `netcount-watch-${Date.now()}`);
    const args = ['node', path.join(REPO, 'bin', 'ssh-sync.js'), 'watch', L, `${T.dest}:${sshd.port}:${remote('ssh-sync')}`, '--direction', 'push',
      '--identity', sshd.key, '--known-hosts', sshd.knownHosts, '--ssh-config', '/dev/null', '--state-dir', stateDir, '--name', pushName, ...v.extra];
    let d;
    try {
      const t0 = performance.now();
      d = await startDaemon(args, { env: sshSyncEnv({ nodelayShim: opt.nodelayShim }, netFile), readyTest: (o) => /watching for changes/.test(o), timeoutMs: TIMEOUT_MS });
      daemons.add(d.child);
      const startMs = performance.now() - t0;
      const res = await measureEdits(L, remote('ssh-sync'), files, { edits: EDITS });
      continuous.push({ tool: v.tool, startMs, ...res, rss: vmHwm(d.child.pid) });
      log(`  ${v.tool}: p50 ${res.p50?.toFixed(0)} ms, p95 ${res.p95?.toFixed(0)} ms, lost ${res.lost}`);
    } catch (err) {
      continuous.push({ tool: v.tool, skipped: `failed: ${String(err.message).split('\n')[0]}` });
      log(`  ${v.tool}: ${err.message}`);
    } finally {
      if (d) { await stopDaemon(d.child, 'SIGINT'); daemons.delete(d.child); }
      rmrf(netFile);
    }
  }
  if (!avail.lsyncd) { continuous.push({ tool: 'lsyncd', skipped: 'not available (apt-get install -y lsyncd)' }); return; }
  const cfgDir = path.join(workRoot, 'lsyncd');
  mkdirSync(cfgDir, { recursive: true });
  const logFile = path.join(cfgDir, 'lsyncd.log');
  const cfg = path.join(cfgDir, 'bench.lua');
  const rsh = `/usr/bin/ssh -i ${sshd.key} -p ${sshd.port} -F /dev/null -o UserKnownHostsFile=${sshd.knownHosts} -o StrictHostKeyChecking=yes -o BatchMode=yes -o Compression=no -c ${CIPHER}`;
  writeFileSync(cfg, lsyncdConfig({ source: L, target: `${T.dest}:${remote('rsync')}`, rsh, logFile, statusFile: path.join(cfgDir, 'status'), delay: 0 }));
  let d;
  try {
    const t0 = performance.now();
    d = await startDaemon(['lsyncd', cfg], { readyTest: (o) => /Startup of .* finished/.test(o), logFile, timeoutMs: TIMEOUT_MS });
    daemons.add(d.child);
    const startMs = performance.now() - t0;
    const res = await measureEdits(L, remote('rsync'), files, { edits: EDITS });
    continuous.push({ tool: 'lsyncd (default.rsync, delay = 0)', startMs, ...res });
    log(`  lsyncd: p50 ${res.p50?.toFixed(0)} ms, p95 ${res.p95?.toFixed(0)} ms, lost ${res.lost}`);
  } catch (err) {
    continuous.push({ tool: 'lsyncd', skipped: `failed: ${String(err.message).split('\n').slice(0, 3).join(' ')}` });
    log(`  lsyncd: ${err.message}`);
  } finally {
    if (d) { await stopDaemon(d.child, 'SIGTERM'); daemons.delete(d.child); }
  }
}

function vmHwm(pid) {
  // The watch process is `node bin/ssh-sync.js` itself (no /usr/bin/time wrapper): its VmHWM.
  try { const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8')); return m ? Number(m[1]) : undefined; } catch { return undefined; }
}
