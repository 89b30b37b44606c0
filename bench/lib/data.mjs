// Deterministic, seeded data sets. Content comes from AES-128-CTR keystreams keyed by (seed, set, file)
// (incompressible, fast) or, for `mixed`, from a seeded word generator (source-like, compressible).
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, writeFileSync, existsSync, openSync, writeSync, closeSync, rmSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';

/** mulberry32: small seeded PRNG for shapes and sizes. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function keystream(seed, label, length) {
  const key = createHash('sha256').update(`${seed}:${label}`).digest();
  const c = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return c.update(Buffer.alloc(length));
}

const WORDS = ('const let return function if else for while import export from class extends new this await async ' +
  'value index result error config path file data buffer length string number true false null undefined ' +
  'map set get push pop slice split join filter reduce options state entry tree node remote local sync ' +
  'snapshot change plan action conflict session replica handle stream write read open close').split(' ');

function sourceText(r, size) {
  const parts = [];
  let n = 0;
  let indent = 0;
  while (n < size) {
    const words = 3 + Math.floor(r() * 9);
    let line = '  '.repeat(indent);
    for (let w = 0; w < words; w++) line += (w ? ' ' : '') + WORDS[Math.floor(r() * WORDS.length)];
    line += r() < 0.3 ? ' {\n' : ';\n';
    if (line.endsWith('{\n')) indent = Math.min(indent + 1, 6);
    else if (indent > 0 && r() < 0.25) indent--;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

/** Shapes of the sets, full and --quick. */
export function setSpec(name, quick) {
  switch (name) {
    case 'small': // 10,000 files of 1-16 KB in 200 leaf dirs (+20 parents), 50 per dir
      return { name, kind: 'tree', top: quick ? 8 : 20, perTop: 10, perDir: 50, minSize: 1024, maxSize: 16384 };
    case 'huge-tree': // 100,000 files of ~1 KB in 2,000 leaf dirs (+40 parents), 50 per dir
      return { name, kind: 'tree', top: quick ? 10 : 40, perTop: quick ? 40 : 50, perDir: 50, minSize: 512, maxSize: 1536 };
    case 'big':
      return { name, kind: 'big', size: (quick ? 128 : 512) * 1024 * 1024 };
    case 'mixed': // 5,000 source-like files of 100 B - 2 MB, 20 per dir
      return { name, kind: 'mixed', files: quick ? 1000 : 5000, perDir: 20 };
    default:
      throw new Error(`unknown data set '${name}' (small, huge-tree, big, mixed)`);
  }
}

export function describe(spec) {
  if (spec.kind === 'tree') return `${spec.top * spec.perTop * spec.perDir} files in ${spec.top * spec.perTop} dirs`;
  if (spec.kind === 'big') return `1 file of ${spec.size / 1048576} MiB`;
  return `${spec.files} files`;
}

/** Writes the set under `dir` (which must not exist). Returns {files, bytes, dirs, renameDir}. */
export function generate(spec, dir, seed) {
  mkdirSync(dir, { recursive: true });
  const r = rng(seed ^ hashString(spec.name));
  let files = 0, bytes = 0, dirs = 0;
  if (spec.kind === 'tree') {
    for (let t = 0; t < spec.top; t++) {
      for (let s = 0; s < spec.perTop; s++) {
        const d = path.join(dir, `d${pad(t, 3)}`, `s${pad(s, 2)}`);
        mkdirSync(d, { recursive: true });
        dirs++;
        const sizes = [];
        for (let f = 0; f < spec.perDir; f++) sizes.push(spec.minSize + Math.floor(r() * (spec.maxSize - spec.minSize + 1)));
        const total = sizes.reduce((a, b) => a + b, 0);
        const block = keystream(seed, `${spec.name}/${t}/${s}`, total);
        let off = 0;
        for (let f = 0; f < spec.perDir; f++) {
          writeFileSync(path.join(d, `f${pad(f, 3)}.dat`), block.subarray(off, off + sizes[f]));
          off += sizes[f];
          files++;
          bytes += sizes[f];
        }
      }
      dirs++;
    }
    return { files, bytes, dirs, renameDir: 'd000/s00', changeFile: 'd001/s01/f007.dat' };
  }
  if (spec.kind === 'big') {
    const fd = openSync(path.join(dir, 'big.bin'), 'w');
    const key = createHash('sha256').update(`${seed}:big`).digest();
    const c = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
    const chunk = Buffer.alloc(8 * 1024 * 1024);
    for (let off = 0; off < spec.size; off += chunk.length) writeSync(fd, c.update(chunk.subarray(0, Math.min(chunk.length, spec.size - off))));
    closeSync(fd);
    return { files: 1, bytes: spec.size, dirs: 0, changeFile: 'big.bin' };
  }
  // mixed: 97 % log-uniform 100 B - 64 KB, 3 % log-uniform 64 KB - 2 MB; text-like or binary-ish.
  const exts = ['ts', 'js', 'json', 'md', 'css', 'html', 'py', 'go', 'rs', 'c', 'h', 'txt', 'png', 'lock'];
  let d = '';
  for (let i = 0; i < spec.files; i++) {
    if (i % spec.perDir === 0) {
      d = path.join(dir, `pkg${pad(Math.floor(i / (spec.perDir * 10)), 2)}`, `mod${pad(Math.floor(i / spec.perDir) % 10, 2)}`);
      mkdirSync(d, { recursive: true });
      dirs++;
    }
    const u = r();
    const size = r() < 0.97 ? Math.round(100 * Math.pow(640, u)) : Math.round(65536 * Math.pow(32, u));
    const ext = exts[Math.floor(r() * exts.length)];
    const content = ext === 'png' ? keystream(seed, `mixed/${i}`, size) : sourceText(r, size);
    writeFileSync(path.join(d, `file${pad(i, 4)}.${ext}`), content);
    files++;
    bytes += size;
  }
  return { files, bytes, dirs, changeFile: null };
}

/** Generates into `root/<name>-<seed>[-quick]` unless a finished copy is there (marker file). */
export function ensureSet(spec, root, seed, quick, log) {
  const dir = path.join(root, `${spec.name}-${seed}${quick ? '-quick' : ''}`);
  const marker = `${dir}.json`;
  if (existsSync(marker) && existsSync(dir)) return { dir, ...JSON.parse(readFileSync(marker, 'utf8')), reused: true };
  rmSync(dir, { recursive: true, force: true });
  const t0 = performance.now();
  const info = generate(spec, dir, seed);
  if (info.changeFile === null) info.changeFile = firstFile(dir);
  writeFileSync(marker, JSON.stringify(info));
  log?.(`  generated ${spec.name}: ${info.files} files, ${(info.bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { dir, ...info, reused: false };
}

function firstFile(dir) {
  // mixed: a source-sized file that exists: pkg00/mod00/file0003.*
  const name = readdirSync(path.join(dir, 'pkg00', 'mod00')).sort().find((n) => /\.(ts|js|py|go|rs|c)$/.test(n));
  return `pkg00/mod00/${name}`;
}

function pad(n, w) { return String(n).padStart(w, '0'); }
function hashString(s) { let h = 2166136261; for (const c of s) h = Math.imul(h ^ c.charCodeAt(0), 16777619); return h >>> 0; }
