import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { probeCaseInsensitive, type ProbeOps } from '../../src/replica/caseProbe';

/** A root as a set of stored names, looked up with or without case. */
function root(names: string[], ignoresCase: boolean): ProbeOps & { writes: string[]; names: Set<string> } {
  const stored = new Set(names);
  const writes: string[] = [];
  const find = (name: string) => [...stored].some((n) => (ignoresCase ? n.toLowerCase() === name.toLowerCase() : n === name));
  return {
    names: stored,
    writes,
    list: async () => [...stored],
    exists: async (name) => find(name),
    create: async (name) => {
      if (find(name)) throw new Error('exists');
      writes.push(name);
      stored.add(name);
    },
    remove: async (name) => void stored.delete(name),
  };
}

describe('probeCaseInsensitive', () => {
  test('looks up a name already in the root in the other case, writing nothing', async () => {
    for (const ignoresCase of [true, false]) {
      const r = root(['.ssh-sync-marker.json', 'src'], ignoresCase);
      assert.equal(await probeCaseInsensitive(r), ignoresCase);
      assert.deepEqual(r.writes, []);
    }
  });

  test('two names differing only in case, both stored: case matters here', async () => {
    const r = root(['readme', 'README'], false);
    assert.equal(await probeCaseInsensitive(r), false);
  });

  test('skips temp files and names without a plain letter; an empty root gets a temp file, removed after', async () => {
    for (const ignoresCase of [true, false]) {
      const r = root(['123', 'ü', '.ssh-sync-tmp.1.ab.x'], ignoresCase);
      assert.equal(await probeCaseInsensitive(r), ignoresCase);
      assert.equal(r.writes.length, 1);
      assert.match(r.writes[0], /^\.ssh-sync-tmp\.\d+\.[0-9a-f]+\.case-probe$/);
      assert.deepEqual([...r.names].sort(), ['.ssh-sync-tmp.1.ab.x', '123', 'ü']);
    }
  });
});
