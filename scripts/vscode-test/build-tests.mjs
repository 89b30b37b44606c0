// Compiles the VS Code integration tests (test/vscode → out/vscode-test) with their own tsconfig, after
// removing the previous output so that no stale *.test.js of a deleted test is run.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
rmSync(path.join(repoRoot, 'out/vscode-test'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'test/vscode'], { cwd: repoRoot, stdio: 'inherit' });
process.exit(r.status ?? 1);
