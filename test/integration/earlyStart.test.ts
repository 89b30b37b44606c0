import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { LocalReplica } from '../../src/replica/local/localReplica';
import { SyncSession } from '../../src/session/syncSession';
import { folderSession } from '../helpers/sessionConfig';
import { removeDir, tempDir, writeTree } from '../helpers/tmp';

/*
 * While a push scans, the first local change lets the peer start connecting; the first recorded file
 * whose content changed also starts the peer's write stream (a command on an SSH server). A run with
 * nothing to do starts neither, and a rename alone (new paths, no file to send) starts no write stream,
 * which would only delay the end of the run.
 */

const made: string[] = [];
after(async () => {
  for (const dir of made) await removeDir(dir);
});

class CountingPeer extends LocalReplica {
  connects = 0;
  prepares = 0;
  connectEarly(): void {
    this.connects++;
  }
  prepareWrites(): void {
    this.prepares++;
  }
}

async function synced() {
  const root = await tempDir();
  made.push(root);
  const a = path.join(root, 'a');
  const b = path.join(root, 'b');
  await fs.mkdir(a);
  await writeTree(a, { 'f.txt': 'one', 'dir/x.txt': 'x', 'dir/y.txt': 'y' });
  // Old enough that no record is racy (a racy one needs a hash to tell, and counts as no sure change).
  const when = Date.now() / 1000 - 60;
  for (const p of ['f.txt', 'dir/x.txt', 'dir/y.txt', 'dir']) await fs.utimes(path.join(a, p), when, when);
  const config = folderSession(root, a, b, 'push');
  const peer = new CountingPeer(b);
  const session = new SyncSession(config, { local: new LocalReplica(a), remote: peer });
  await session.run();
  peer.connects = peer.prepares = 0;
  return { a, b, peer, session };
}

describe('early start of the peer during a push scan', () => {
  test('nothing changed: neither', async () => {
    const { peer, session } = await synced();
    await session.run();
    assert.deepEqual([peer.connects, peer.prepares], [0, 0]);
  });

  test('a file changed: the connection and the write stream', async () => {
    const { a, peer, session } = await synced();
    await fs.writeFile(path.join(a, 'f.txt'), 'two!');
    await session.run();
    assert.deepEqual([peer.connects, peer.prepares], [1, 1]);
  });

  test('a directory renamed: the connection only', async () => {
    const { a, b, peer, session } = await synced();
    await fs.rename(path.join(a, 'dir'), path.join(a, 'renamed'));
    const summary = await session.run();
    assert.equal(summary.renamed, 1, JSON.stringify(summary));
    assert.deepEqual([peer.connects, peer.prepares], [1, 0]);
    assert.equal(await fs.readFile(path.join(b, 'renamed/x.txt'), 'utf8'), 'x');
  });
});
