import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SyncError } from '../../src/errors';
import { LocalReplica } from '../../src/replica/local/localReplica';
import { removeDir, tempDir } from '../helpers/tmp';

/**
 * A local folder hashes what is asked at once on worker threads (a first bidi run asks for every
 * file), and a few requests on the calling thread: both must give every file's SHA-256, and the
 * same errors.
 */
let root: string;
const contents = new Map<string, Buffer>();
before(async () => {
  root = await tempDir();
  await fs.mkdir(path.join(root, 'd'), { recursive: true });
  for (let i = 0; i < 700; i++) contents.set(`d/f${i}`, i === 0 ? Buffer.alloc(0) : randomBytes(i * 37));
  contents.set('big.bin', randomBytes(3 * 1024 * 1024 + 5)); // more than one read
  for (const [p, data] of contents) await fs.writeFile(path.join(root, p), data);
  execFileSync('mkfifo', [path.join(root, 'pipe')]); // where a file was when the scan saw it
});
after(async () => {
  await removeDir(root);
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('local hashing', () => {
  for (const many of [true, false]) {
    test(`${many ? '700+ requests at once (worker threads)' : 'a few requests (this thread)'}: every hash right, a missing file NotFound, a directory or a FIFO an error`, async () => {
      const replica = new LocalReplica(root);
      const paths = many ? [...contents.keys()] : ['d/f0', 'd/f1', 'd/f699', 'big.bin'];
      const [hashes, missing, directory, fifo] = await Promise.all([
        Promise.all(paths.map((p) => replica.hash(p))),
        replica.hash('d/missing').then(() => undefined, (err: SyncError) => err),
        replica.hash('d').then(() => undefined, (err: SyncError) => err),
        replica.hash('pipe').then(() => undefined, (err: SyncError) => err), // never waits for a writer
      ]);
      assert.deepEqual(hashes, paths.map((p) => sha(contents.get(p) as Buffer)));
      assert.equal(missing?.code, 'NotFound');
      assert.equal(missing?.path, 'd/missing');
      assert.equal(directory?.code, 'Io');
      assert.match(directory?.message ?? '', /cannot read d: not a regular file/);
      assert.equal(fifo?.code, 'Io');
      assert.match(fifo?.message ?? '', /cannot read pipe: not a regular file/);
    });
  }

  test('many tiny files asked at once (worker threads, batches of a few bytes): every file its own bytes', async () => {
    const tiny = path.join(root, 'tiny');
    await fs.mkdir(tiny);
    const names = Array.from({ length: 300 }, (_, i) => `tiny/t${i}`);
    for (const [i, name] of names.entries()) await fs.writeFile(path.join(root, name), `file ${i}`);
    const replica = new LocalReplica(root);
    const read = await Promise.all(names.map((name) => replica.readSmall(name, 1 << 20)));
    assert.deepEqual(
      read.map((b) => b?.data.toString()),
      names.map((_, i) => `file ${i}`),
    );
    assert.deepEqual(
      read.map((b) => b?.sha256),
      names.map((_, i) => sha(Buffer.from(`file ${i}`))),
    );
  });
});

describe('local whole reads', () => {
  for (const many of [true, false]) {
    test(`${many ? '700+ asked at once (worker threads)' : 'a few (this thread)'}: every file's bytes, undefined over the limit, a missing file NotFound, a directory or a FIFO an error`, async () => {
      const replica = new LocalReplica(root);
      const limit = 1 << 20;
      const paths = many ? [...contents.keys()] : ['d/f0', 'd/f1', 'd/f699', 'big.bin'];
      const [read, missing, directory, fifo] = await Promise.all([
        Promise.all(paths.map((p) => replica.readSmall(p, limit))),
        replica.readSmall('d/missing', limit).then(() => undefined, (err: SyncError) => err),
        replica.readSmall('d', limit).then(() => undefined, (err: SyncError) => err),
        replica.readSmall('pipe', limit).then(() => undefined, (err: SyncError) => err), // never waits for a writer
      ]);
      paths.forEach((p, i) => {
        const expected = contents.get(p) as Buffer;
        if (expected.length > limit) assert.equal(read[i], undefined, `${p} is over the limit`);
        else {
          assert.ok(read[i]?.data.equals(expected), `${p}: other bytes`);
          // Read on a worker: the hash taken there comes along, for the writer's end-to-end check.
          assert.equal(read[i]?.sha256, many ? sha(expected) : undefined, `${p}: sha256`);
        }
      });
      assert.equal(missing?.code, 'NotFound');
      assert.equal(missing?.path, 'd/missing');
      assert.match(directory?.message ?? '', /cannot read d: not a regular file/);
      assert.equal(fifo?.code, 'Io');
      assert.match(fifo?.message ?? '', /cannot read pipe: not a regular file/);
    });
  }
});
