import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LazyReplica } from '../../src/replica/lazy';
import type { Tree } from '../../src/engine/entry';
import { Filter } from '../../src/engine/filter';
import type { Replica, ScanOptions } from '../../src/replica/replica';

/** A stand-in peer: only what these tests touch. */
function peer(exists: boolean): Replica {
  return { rootExists: async () => exists, tier: 'helper', hashesWrites: true } as unknown as Replica;
}

describe('LazyReplica.connectEarly', () => {
  test('the first use awaits the early attempt instead of starting another', async () => {
    let opened = 0;
    let finish!: (r: Replica) => void;
    const lazy = new LazyReplica('host:/x', 1000, () => {
      opened++;
      return new Promise<Replica>((resolve) => (finish = resolve));
    });
    assert.equal(lazy.hashesWrites, undefined);
    lazy.connectEarly();
    const used = lazy.rootExists();
    assert.equal(opened, 1);
    finish(peer(true));
    assert.equal(await used, true);
    assert.equal(opened, 1);
    assert.equal(lazy.hashesWrites, true);
    assert.equal(lazy.tier, 'helper');
  });

  test('a failed early attempt is reported to the first use, and the next use tries again', async () => {
    let opened = 0;
    const lazy = new LazyReplica('host:/x', 1000, async () => {
      opened++;
      if (opened === 1) throw new Error('host key refused');
      return peer(false);
    });
    lazy.connectEarly();
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(lazy.rootExists(), /host key refused/);
    assert.equal(opened, 1);
    assert.equal(await lazy.rootExists(), false);
    assert.equal(opened, 2);
  });

  test('a prefetched scan goes to the scan with the very same options, once; any other scan lists afresh', async () => {
    let opened = 0;
    const scans: ScanOptions[] = [];
    const inner = {
      ...peer(true),
      scan: async (options: ScanOptions) => {
        scans.push(options);
        return new Map([['listed-' + scans.length, { kind: 'dir', mtimeMs: 0, mode: 0o755 }]]) as Tree;
      },
    } as unknown as Replica;
    const lazy = new LazyReplica('host:/x', 1000, async () => {
      opened++;
      return inner;
    });
    const filter = new Filter([]);
    const whole: ScanOptions = { filter, symlinks: 'copy', under: '' };
    lazy.connectEarly(whole);
    // A connection failure would be seen by the first use (not a second attempt): one attempt only.
    assert.equal(await lazy.rootExists(), true);
    assert.deepEqual([...(await lazy.scan(whole)).keys()], ['listed-1']);
    assert.equal(scans.length, 1);
    // Taken once: the same options again, or equal ones, are a new listing.
    assert.deepEqual([...(await lazy.scan(whole)).keys()], ['listed-2']);
    lazy.connectEarly({ ...whole });
    assert.deepEqual([...(await lazy.scan({ ...whole })).keys()], ['listed-4']);
    assert.equal(scans.length, 4);
    assert.equal(opened, 1);
  });

  test('a prefetched scan that fails is reported by the scan that takes it', async () => {
    const inner = { ...peer(true), scan: async () => Promise.reject(new Error('cannot list /x')) } as unknown as Replica;
    const lazy = new LazyReplica('host:/x', 1000, async () => inner);
    const whole: ScanOptions = { filter: new Filter([]), symlinks: 'copy' };
    lazy.connectEarly(whole);
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(lazy.scan(whole), /cannot list/);
  });
});

describe('LazyReplica.prepareWrites', () => {
  test('passed on to the peer once it is connected; it never connects by itself', async () => {
    let opened = 0;
    let prepared = 0;
    let finish!: (r: Replica) => void;
    const inner = { ...peer(true), prepareWrites: () => void prepared++ } as unknown as Replica;
    const lazy = new LazyReplica('host:/x', 1000, () => {
      opened++;
      return new Promise<Replica>((resolve) => (finish = resolve));
    });
    lazy.prepareWrites();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(opened, 0, 'prepareWrites connected');
    lazy.connectEarly();
    lazy.prepareWrites();
    assert.equal(prepared, 0);
    finish(inner);
    await lazy.rootExists();
    assert.equal(prepared, 1);
    lazy.prepareWrites();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(prepared, 2);
    assert.equal(opened, 1);
  });

  test('a failed connection is left to the first use to report', async () => {
    const lazy = new LazyReplica('host:/x', 1000, async () => {
      throw new Error('host key refused');
    });
    lazy.connectEarly();
    lazy.prepareWrites();
    await assert.rejects(lazy.rootExists(), /host key refused/);
  });
});
