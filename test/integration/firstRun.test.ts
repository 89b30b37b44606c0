import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import type { Tree } from '../../src/engine/entry';
import type { Direction } from '../../src/engine/policy';
import { LocalReplica } from '../../src/replica/local/localReplica';
import type { ScanOptions } from '../../src/replica/replica';
import { SyncSession } from '../../src/session/syncSession';
import { folderSession } from '../helpers/sessionConfig';
import { readTree, removeDir, tempDir, writeTree } from '../helpers/tmp';

/*
 * A first run scans the local folder while the peer is reached, and does not list a peer root it has
 * just made: that folder was empty a moment ago. Whatever lands in it meanwhile is still never replaced
 * (the writes expect nothing there, and a write finding something refuses).
 */

const made: string[] = [];
after(async () => {
  for (const dir of made) await removeDir(dir);
});

/** A peer folder that counts its scans, and may have something land in it right after it is made. */
class ObservedPeer extends LocalReplica {
  scans = 0;
  constructor(
    root: string,
    private readonly onCreated?: (root: string) => Promise<void>,
  ) {
    super(root);
  }
  override async scan(options: ScanOptions): Promise<Tree> {
    this.scans++;
    return super.scan(options);
  }
  override async createRoot(): Promise<boolean> {
    const made = await super.createRoot();
    await this.onCreated?.(this.root);
    return made;
  }
}

async function setup(direction: Direction, peerExists: boolean, onCreated?: (root: string) => Promise<void>) {
  const root = await tempDir();
  made.push(root);
  const a = path.join(root, 'a');
  const b = path.join(root, 'deeper', 'b');
  await fs.mkdir(a);
  if (peerExists) await fs.mkdir(b, { recursive: true });
  await writeTree(a, { 'x.txt': 'mine', 'dir/y.txt': 'y', 'dir/sub/z.txt': 'z' });
  const config = folderSession(root, a, b, direction);
  const peer = new ObservedPeer(b, onCreated);
  return { a, b, peer, session: new SyncSession(config, { local: new LocalReplica(a), remote: peer }) };
}

describe('first run', () => {
  for (const direction of ['push', 'bidi'] as const) {
    test(`${direction}: a peer root made by this run is not listed, and gets everything`, async () => {
      const { a, b, peer, session } = await setup(direction, false);
      const summary = await session.run();
      assert.equal(summary.failed + summary.conflicts + summary.problems, 0, JSON.stringify(summary));
      assert.equal(summary.copied, 3);
      assert.equal(peer.scans, 0, 'the new peer root was listed');
      assert.deepEqual(await readTree(b), await readTree(a));
    });

    test(`${direction}: a peer root that was already there is listed`, async () => {
      const { a, b, peer, session } = await setup(direction, true);
      await fs.writeFile(path.join(b, 'x.txt'), 'theirs');
      const summary = await session.run();
      assert.equal(peer.scans, 1);
      if (direction === 'push') {
        assert.equal(summary.failed, 0, JSON.stringify(summary));
        assert.deepEqual(await readTree(b), await readTree(a));
      } else {
        // Both sides hold x.txt with other content and no snapshot: a conflict, both left as they are.
        assert.equal(summary.conflicts, 1, JSON.stringify(summary));
        assert.equal(await fs.readFile(path.join(b, 'x.txt'), 'utf8'), 'theirs');
        assert.equal(await fs.readFile(path.join(a, 'x.txt'), 'utf8'), 'mine');
      }
    });

    test(`${direction}: a file that lands in the new peer root before the writes is not replaced by a write that did not expect it`, async () => {
      const { a, b, peer, session } = await setup(direction, false, (root) => fs.writeFile(path.join(root, 'x.txt'), 'theirs'));
      const summary = await session.run();
      assert.equal(peer.scans, 0);
      assert.equal(await fs.readFile(path.join(b, 'x.txt'), 'utf8'), 'theirs', 'a file that appeared was replaced');
      assert.equal(await fs.readFile(path.join(a, 'x.txt'), 'utf8'), 'mine');
      assert.equal(summary.failed, 1, JSON.stringify(summary));
      assert.equal(await fs.readFile(path.join(b, 'dir/sub/z.txt'), 'utf8'), 'z');
    });
  }

  test('a missing local folder is reported as such, whatever the early local scan found', async () => {
    const root = await tempDir();
    made.push(root);
    const config = folderSession(root, path.join(root, 'nope'), path.join(root, 'b'), 'push');
    const session = new SyncSession(config, { local: new LocalReplica(config.localRoot), remote: new LocalReplica(config.peer) });
    await assert.rejects(session.run(), /the local folder .*nope does not exist or is not a directory/);
    await assert.rejects(fs.stat(config.peer), { code: 'ENOENT' }, 'the peer folder was made for a missing local folder');
  });
});
