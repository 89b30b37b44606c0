// Bundles the CLI and the extension into dist/ with esbuild and ships sql.js's wasm beside them.
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
process.chdir(new URL('..', import.meta.url).pathname);
const production = process.argv.includes('--production');
// A fresh dist/ each time: nothing stale (old source maps) may end up in a package. It is built beside
// the old one and swapped in, so a CLI started meanwhile (a test, a benchmark) never finds it half-made.
const OUT = 'dist.building';
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  // Optional native accelerators of ssh2; it falls back to pure JavaScript without them.
  external: ['vscode', 'cpu-features', './crypto/build/Release/sshcrypto.node'],
};

await Promise.all([
  esbuild.build({ ...common, entryPoints: { cli: 'src/cli/index.ts' }, outdir: OUT }),
  esbuild.build({ ...common, entryPoints: { extension: 'src/vscode/extension.ts' }, outdir: OUT }),
]);
copyFileSync(require.resolve('sql.js/dist/sql-wasm.wasm'), `${OUT}/sql-wasm.wasm`);
// ssh2's native AES-GCM/ChaCha20 binding, built by its install script for this Node, is loaded by the
// bundle from `./crypto/build/Release/sshcrypto.node` beside it: several times faster than ssh2's
// JavaScript fallback. It is optional (ssh2 falls back when it is missing or built for another Node, as
// in a VS Code extension host), so a failed native build only costs speed. Not packaged in the .vsix.
const binding = nodeBinding();
if (binding) {
  mkdirSync(`${OUT}/crypto/build/Release`, { recursive: true });
  copyFileSync(binding, `${OUT}/crypto/build/Release/sshcrypto.node`);
} else {
  console.warn('ssh2 native crypto binding not built: ssh-sync will use the slower JavaScript ciphers');
}
rmSync('dist.old', { recursive: true, force: true });
if (existsSync('dist')) renameSync('dist', 'dist.old');
renameSync(OUT, 'dist');
rmSync('dist.old', { recursive: true, force: true });
for (const f of ['dist/cli.js', 'dist/extension.js', 'dist/sql-wasm.wasm']) {
  console.log(`${f} ${(statSync(f).size / 1024).toFixed(0)} KiB`);
}

function nodeBinding() {
  try {
    const file = require.resolve('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node');
    require(file); // built for this Node?
    return file;
  } catch {
    return undefined;
  }
}
