import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir, tempFilesUnder } from '../helpers/tmp';

/*
 * A file changing while it is being sent. The source grows in a loop (appends) and is now and then
 * rewritten in place, chunk by chunk, with a new generation byte (a torn copy would mix generations
 * or stop mid-chunk). While syncs run, the target is read continuously: every observation must be
 * one whole version. Once the writer stops, the next run sends the final version.
 */

const CHUNK = 256 * 1024;

/** A version is `n` whole chunks of one generation byte. */
function checkVersion(data: Buffer, what: string): void {
  assert.equal(data.length % CHUNK, 0, `${what}: ${data.length} bytes is not a whole number of chunks (torn)`);
  if (data.length === 0) return;
  const g = data[0];
  const bad = data.findIndex((x) => x !== g);
  assert.equal(bad, -1, `${what}: generation ${g} mixed with ${data[bad]} at byte ${bad} (torn)`);
}

describe('a file changing while it is sent', () => {
  let work: string;
  before(async () => {
    work = await tempDir('ssh-sync-growing-');
  });
  after(async () => {
    if (work) await removeDir(work);
  });

  test('the target never holds a torn version; the next run sends the final one', { timeout: 5 * 60_000 }, async () => {
    const a = nodePath.join(work, 'a');
    const b = nodePath.join(work, 'b');
    const state = nodePath.join(work, 'state');
    await fs.mkdir(a, { recursive: true });
    const src = nodePath.join(a, 'big.bin');
    const dst = nodePath.join(b, 'big.bin');
    let generation = 65;
    await fs.writeFile(src, Buffer.alloc(CHUNK * 4, generation));
    const sync = () => runCli(['sync', a, b, '--state-dir', state, '--json']);
    let r = await sync();
    assert.equal(r.code, 0, r.stdout + r.stderr);

    let writing = true;
    let steps = 0;
    const writer = (async () => {
      const fh = await fs.open(src, 'r+');
      try {
        while (writing) {
          const { size } = await fh.stat();
          if (++steps % 5 === 0 && size < 80 * CHUNK) {
            generation = generation === 90 ? 65 : generation + 1;
            for (let off = 0; off < size; off += CHUNK) await fh.write(Buffer.alloc(CHUNK, generation), 0, CHUNK, off);
          } else if (size < 80 * CHUNK) {
            await fh.write(Buffer.alloc(CHUNK, generation), 0, CHUNK, size);
          } else {
            await fh.truncate(CHUNK * 4);
          }
        }
      } finally {
        await fh.close();
      }
    })();

    let observations = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        let data: Buffer | undefined;
        try {
          data = await fs.readFile(dst);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
        if (data) {
          checkVersion(data, `observation ${++observations} of the target`);
        }
        await new Promise((res) => setImmediate(res));
      }
    })();

    const codes: (number | null)[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        r = await sync();
        codes.push(r.code);
        // Exit 1 is expected here: the copy is refused because its source changed while being read.
        assert.ok(r.code === 0 || r.code === 1, `run ${i}: exit ${r.code}\n${r.stdout.slice(-2000)}${r.stderr}`);
        if (r.code === 1) assert.match(r.stdout + r.stderr, /changed while it was being copied|changed since it was scanned/, `run ${i}: unexpected failure\n${r.stdout.slice(-2000)}${r.stderr}`);
        assert.deepEqual(await tempFilesUnder(b), [], `run ${i}: temp files left behind`);
      }
    } finally {
      writing = false;
      await writer;
      watching = false;
      await watcher;
    }
    console.log(`[growing] writer steps ${steps}, target observed ${observations} times, run exits ${codes.join(',')}`);

    r = await sync();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [s, d] = [await fs.readFile(src), await fs.readFile(dst)];
    checkVersion(d, 'final target');
    assert.ok(s.equals(d), 'the run after the writer stopped did not send the final version');
    assert.deepEqual(await tempFilesUnder(b), []);
    assert.deepEqual(await tempFilesUnder(a), []);
  });
});
