import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FileEntry } from '../../src/engine/entry';
import { LocalReplica } from '../../src/replica/local/localReplica';
import type { Replica } from '../../src/replica/replica';
import { execute, type ActionOutcome } from '../../src/session/executor';
import { removeDir, tempDir } from '../helpers/tmp';

/*
 * A file rewritten in place at the same size within one tick of its file system's clock keeps its size
 * and mtime: only its content tells. Here the read is made to return the old bytes after the file was
 * rewritten with the same size and mtime (what a read racing the writer sees), on real folders.
 */
describe('a source rewritten in place while it is read', () => {
  let work: string;
  before(async () => {
    work = await tempDir('ssh-sync-torn-');
  });
  after(async () => {
    if (work) await removeDir(work);
  });

  for (const size of [4096, 3 << 20]) {
    test(`${size} bytes: the copy is refused (Changed) and nothing lands on the target`, async () => {
      const a = path.join(work, `a-${size}`);
      const b = path.join(work, `b-${size}`);
      await fs.mkdir(a, { recursive: true });
      await fs.mkdir(b, { recursive: true });
      const file = path.join(a, 'f.bin');
      await fs.writeFile(file, Buffer.alloc(size, 0x41));
      // A whole second (exactly representable), and recent: within the last second.
      const second = Math.floor(Date.now() / 1000);
      await fs.utimes(file, second, second);
      const source = new LocalReplica(a, a);
      const scanned = (await source.stat('f.bin')) as FileEntry;
      const oldBytes = await fs.readFile(file);
      // Rewritten meanwhile: same size, same mtime.
      await fs.writeFile(file, Buffer.concat([Buffer.alloc(size >> 1, 0x42), Buffer.alloc(size - (size >> 1), 0x41)]));
      await fs.utimes(file, second, second);
      const now = (await source.stat('f.bin')) as FileEntry;
      assert.equal(now.mtimeMs, scanned.mtimeMs);
      assert.equal(now.size, scanned.size);
      // The read still sees the old bytes (it started before the rewrite).
      const racing = Object.create(source) as Replica;
      racing.readSmall = async () => ({ data: oldBytes });
      racing.read = async () => Readable.from([oldBytes]);
      const outcome = await copyOnce(racing, 'f.bin', scanned, b);
      assert.equal(outcome.ok, false, 'the copy of a torn read went through');
      if (!outcome.ok) assert.equal(outcome.error.code, 'Changed');
      assert.deepEqual(await fs.readdir(b), []);
    });
  }
});

/*
 * Bytes read on a worker thread come with the SHA-256 taken there. Bytes mixed up on their way to the
 * writer (once: a wrong slice of a shared buffer) must not land; here the read hands over other bytes of
 * the same length than those its hash was taken of.
 */
describe('bytes that are not the bytes read', () => {
  let work: string;
  before(async () => {
    work = await tempDir('ssh-sync-mixup-');
  });
  after(async () => {
    if (work) await removeDir(work);
  });

  test('the copy is refused (Io) and nothing lands on the target', async () => {
    const a = path.join(work, 'a');
    const b = path.join(work, 'b');
    await fs.mkdir(a, { recursive: true });
    await fs.mkdir(b, { recursive: true });
    await fs.writeFile(path.join(a, 'f.txt'), 'the right bytes');
    // Not modified lately: nothing else reads the source again to compare.
    await fs.utimes(path.join(a, 'f.txt'), 1_600_000_000, 1_600_000_000);
    const source = new LocalReplica(a, a);
    const scanned = (await source.stat('f.txt')) as FileEntry;
    const hashRead = createHash('sha256').update('the right bytes').digest('hex');
    const reading = (bytes: string): Replica => {
      const replica = Object.create(source) as Replica;
      replica.readSmall = async () => ({ data: Buffer.from(bytes), sha256: hashRead });
      return replica;
    };
    const outcome = await copyOnce(reading('the wrong bytes'), 'f.txt', scanned, b);
    assert.equal(outcome.ok, false, 'mixed-up bytes were written');
    if (!outcome.ok) {
      assert.equal(outcome.error.code, 'Io');
      assert.match(outcome.error.message, /not the bytes read/);
    }
    assert.deepEqual(await fs.readdir(b), []);
    // The same read with its own bytes goes through.
    const done = await copyOnce(reading('the right bytes'), 'f.txt', scanned, b);
    assert.equal(done.ok, true);
    assert.equal(await fs.readFile(path.join(b, 'f.txt'), 'utf8'), 'the right bytes');
  });
});

/** Copies `file`, as scanned, from `source` to the local folder `target`: the one outcome. */
async function copyOnce(source: Replica, file: string, scanned: FileEntry, target: string): Promise<ActionOutcome> {
  const outcomes = await execute([{ kind: 'copy', path: file, to: 'remote', source: scanned, expect: undefined }], { local: source, remote: new LocalReplica(target, target) }, {
    preserve: { times: true, mode: true, owner: false },
    followSymlinks: false,
    concurrency: 1,
  });
  assert.equal(outcomes.length, 1);
  return outcomes[0];
}
