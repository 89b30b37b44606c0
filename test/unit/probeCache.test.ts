import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { ProbeCache } from '../../src/replica/ssh/probeCache';
import { removeDir, tempDir } from '../helpers/tmp';

describe('ProbeCache', () => {
  const server = { host: 'Example.org', port: 22, user: 'me', hostKey: Buffer.from('key-1') };
  const node = { kind: 'node', script: '/home/me/.cache/ssh-sync/h.js' } as const;

  const inTempDir = async (body: (dir: string) => Promise<void>) => {
    const dir = await tempDir('ssh-sync-probe-cache-unit-');
    try {
      await body(dir);
    } finally {
      await removeDir(dir);
    }
  };

  test('a verdict is remembered per server: another host key, port or user is a miss; a damaged file is none', () =>
    inTempDir(async (dir) => {
      await ProbeCache.for(dir, server).write(node);
      assert.deepEqual(await ProbeCache.for(dir, { ...server, host: 'example.org' }).read(), node);
      assert.equal(await ProbeCache.for(dir, { ...server, hostKey: Buffer.from('key-2') }).read(), undefined);
      assert.equal(await ProbeCache.for(dir, { ...server, port: 2222 }).read(), undefined);
      assert.equal(await ProbeCache.for(dir, { ...server, user: 'you' }).read(), undefined);
      const cache = ProbeCache.for(dir, server);
      assert.equal((await fs.stat(cache.file)).mode & 0o777, 0o600);
      await fs.writeFile(cache.file, '{"format":1,"kind":"node","scr');
      assert.equal(await cache.read(), undefined);
      await fs.writeFile(cache.file, JSON.stringify({ format: 1, helper: 'an older build', kind: 'node', script: '/x.js' }));
      assert.equal(await cache.read(), undefined);
    }));

  test('only a small regular file is read as a verdict: a symlink, a FIFO or a huge file is none (and never blocks)', () =>
    inTempDir(async (dir) => {
      const cache = ProbeCache.for(dir, server);
      await cache.write(node);
      const real = await fs.readFile(cache.file, 'utf8');
      const elsewhere = path.join(dir, 'elsewhere.json');
      await fs.writeFile(elsewhere, real);
      await fs.rm(cache.file);
      await fs.symlink(elsewhere, cache.file);
      assert.equal(await cache.read(), undefined, 'a symlink is not followed');
      await fs.rm(cache.file);
      execFileSync('mkfifo', [cache.file]);
      assert.equal(await cache.read(), undefined, 'a FIFO with no writer is refused at once');
      await fs.rm(cache.file);
      await fs.writeFile(cache.file, real.replace('"format"', `"padding":"${'x'.repeat(70 * 1024)}","format"`));
      assert.equal(await cache.read(), undefined, 'bigger than 64 KiB');
      await fs.writeFile(cache.file, real);
      assert.deepEqual(await cache.read(), node);
    }));

  test('many processes remembering at once: each write lands whole and leaves no temp file', () =>
    inTempDir(async (dir) => {
      const cache = ProbeCache.for(dir, server);
      const verdicts = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? { kind: 'probe' as const } : { kind: 'node' as const, script: `/home/me/h${i}.js` }));
      await Promise.all(verdicts.map((v) => cache.write(v)));
      const last = await cache.read();
      assert.ok(verdicts.some((v) => JSON.stringify(v) === JSON.stringify(last)), 'one of the verdicts, whole');
      assert.deepEqual(await fs.readdir(path.dirname(cache.file)), [path.basename(cache.file)]);
    }));
});
