// Lint with the layer boundaries from DESIGN.md enforced: no `vscode` outside src/vscode, no `ssh2`
// outside src/replica/ssh, and an engine that does no I/O.
import tseslint from 'typescript-eslint';

const restrict = (paths, patterns = []) => ({ 'no-restricted-imports': ['error', { paths, patterns }] });
const noVscode = { name: 'vscode', message: 'Only src/vscode may import vscode.' };
const noSsh2 = { name: 'ssh2', message: 'Only src/replica/ssh may import ssh2.' };

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', '.cache/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      ...restrict([noVscode, noSsh2]),
    },
  },
  { files: ['src/vscode/**', 'test/vscode/**'], rules: restrict([noSsh2]) },
  { files: ['src/replica/ssh/**'], rules: restrict([noVscode]) },
  {
    files: ['src/engine/**'],
    rules: restrict(
      [noVscode, noSsh2, 'fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'child_process', 'node:child_process', 'net', 'node:net'].map((p) =>
        typeof p === 'string' ? { name: p, message: 'The engine is pure: no I/O.' } : p,
      ),
    ),
  },
);
