import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LazyReplica } from '../../src/replica/lazy';
import type { Replica } from '../../src/replica/replica';

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
});
