import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { SyncError } from '../../src/errors';
import { chooseHelper } from '../../src/replica/ssh/helperChoice';
import { HELPER_EXIT_OLD_NODE, HELPER_FILE, HELPER_SCRIPT } from '../../src/replica/ssh/helperScript';
import { ProbeCache, type RememberedVerdict } from '../../src/replica/ssh/probeCache';
import type { Sftp } from '../../src/replica/ssh/sftpClient';
import { FakeSpawn, type FakeProcess } from '../helpers/fakeSpawn';
import { removeDir, tempDir } from '../helpers/tmp';

/** An SFTP server on which the helper was never installed: every lookup finds nothing. */
const emptyHome = {
  realpath: async () => '/home/me',
  lstatOrUndefined: async () => undefined,
} as unknown as Sftp;

const SCRIPT = `/home/me/.cache/ssh-sync/${HELPER_FILE}`;

describe('the probe remembers only clear answers', () => {
  /**
   * Chooses the helper for a server remembered as running it, whose helper file is gone (so it is
   * probed), answering each command with `answer`; returns what is remembered afterwards.
   */
  const probeWith = async (answer: (proc: FakeProcess) => void, before: RememberedVerdict = { kind: 'node', script: SCRIPT }) => {
    const state = await tempDir('ssh-sync-probe-verdict-');
    try {
      const cache = ProbeCache.for(state, { host: 'example.org', port: 22, user: 'me' });
      await cache.write(before);
      const fake = new FakeSpawn();
      fake.onStart = answer;
      const chosen = await chooseHelper(fake.spawn, Promise.resolve(emptyHome), { want: 'auto', insist: false, label: 'test', cache });
      assert.equal(typeof chosen, 'string', 'no helper found');
      assert.ok(fake.commands().includes('node --version'), 'probed');
      return await cache.read();
    } finally {
      await removeDir(state);
    }
  };

  test('commands cut by a lost connection (no exit status) leave the remembered verdict as it was', async () => {
    assert.deepEqual(await probeWith((proc) => proc.end(null)), { kind: 'node', script: SCRIPT });
  });

  test('commands the server refuses to start leave the remembered verdict as it was', async () => {
    const refuse = () => {
      throw new SyncError('Io', 'the server refused to run a command: open failed');
    };
    assert.deepEqual(await probeWith(refuse), { kind: 'node', script: SCRIPT });
  });

  test('no node, or a node too old, is remembered: the next run probes', async () => {
    const noNode = (proc: FakeProcess) => proc.end(127, { stderr: 'sh: node: not found\n' });
    assert.deepEqual(await probeWith(noNode), { kind: 'probe' });
    const oldNode = (proc: FakeProcess) => (proc.command === 'node --version' ? proc.end(0, { stdout: 'v12.22.12\n' }) : proc.end(1));
    assert.deepEqual(await probeWith(oldNode), { kind: 'probe' });
  });
});

describe('the helper on a node older than 14', () => {
  test('exits with its own status before printing anything', async () => {
    const dir = await tempDir('ssh-sync-old-node-');
    try {
      const script = path.join(dir, HELPER_FILE);
      const old = path.join(dir, 'old-node.js');
      await fs.writeFile(script, HELPER_SCRIPT);
      await fs.writeFile(old, "Object.defineProperty(process.versions, 'node', { value: '12.22.12' });\n");
      for (const command of ['receive', 'list', 'hash', 'watch']) {
        const r = spawnSync(process.execPath, ['-r', old, script, command], { input: '{"root":"/"}\n', encoding: 'utf8' });
        assert.equal(r.status, HELPER_EXIT_OLD_NODE, `${command}: ${r.stderr}`);
        assert.equal(r.stdout, '', command);
      }
      // The same script on this node runs (its ready line).
      const now = spawnSync(process.execPath, [script, 'receive'], { input: `{"root":${JSON.stringify(dir)}}\n`, encoding: 'utf8' });
      assert.equal(now.stdout, '{"ready":true}\n');
    } finally {
      await removeDir(dir);
    }
  });
});
