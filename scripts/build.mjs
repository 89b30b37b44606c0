// Bundles the CLI and the extension into dist/ with esbuild and ships sql.js's wasm beside them.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const production = process.argv.includes('--production');
// A fresh dist/ each time: nothing stale (old source maps) may end up in a package.
rmSync('dist', { recursive: true, force: true });
mkdirSync('dist', { recursive: true });

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
  esbuild.build({ ...common, entryPoints: { cli: 'src/cli/index.ts' }, outdir: 'dist' }),
  esbuild.build({ ...common, entryPoints: { extension: 'src/vscode/extension.ts' }, outdir: 'dist' }),
]);
copyFileSync(require.resolve('sql.js/dist/sql-wasm.wasm'), 'dist/sql-wasm.wasm');
for (const f of ['dist/cli.js', 'dist/extension.js', 'dist/sql-wasm.wasm']) {
  console.log(`${f} ${(statSync(f).size / 1024).toFixed(0)} KiB`);
}
