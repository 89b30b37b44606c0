// Lists what a packaged .vsix holds and its size, and fails if anything outside the allowed set got in.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';

const vsix = process.argv[2] ?? 'ssh-sync.vsix';
const listing = execFileSync('unzip', ['-Z1', vsix], { encoding: 'utf8' }).trim().split('\n');
const files = listing.filter((f) => f.startsWith('extension/')).map((f) => f.slice('extension/'.length));
const allowed = /^(dist\/[^/]+\.(js|wasm)|media\/.+|package\.json|readme\.md|README\.md|LICENSE(\.txt)?|changelog\.md|SECURITY\.md)$/i;
const unexpected = files.filter((f) => f && !allowed.test(f));
for (const f of files) console.log(`  ${f}`);
console.log(`${vsix}: ${(statSync(vsix).size / 1024).toFixed(0)} KiB, ${files.length} files`);
if (unexpected.length) {
  console.error(`unexpected files in the package: ${unexpected.join(', ')}`);
  process.exit(1);
}
