import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { isSyncable } from '../engine/entry';
import type { Direction } from '../engine/policy';
import { SyncError } from '../errors';
import type { Replica } from '../replica/replica';

/**
 * Each root carries a small marker naming the sessions that write into it and where their data comes
 * from. It is how multi-directional setups (one folder synced with several peers) refuse to close a
 * loop: a session may not write into a root that its own source is fed from, directly or through a
 * chain. The marker is never synced itself (a built-in exclude).
 */
export const MARKER_NAME = '.ssh-sync-marker.json';

export interface RootMarker {
  /** A random identity of this root, made the first time a session sees it. */
  readonly id: string;
  readonly writers: Writer[];
}

export interface Writer {
  /** The session writing into this root. */
  readonly session: string;
  /** The root it copies from, and a description a person can recognise. */
  readonly from: string;
  readonly fromDescription: string;
  /** Every root upstream of `from`, as far as the markers tell. */
  readonly upstream: string[];
  readonly updatedAt: number;
}

/**
 * Checks that the session (`session`, writing in `direction`) closes no loop, then records it in the
 * marker of each root it writes into. Throws a SyncError naming the session that closes the loop.
 */
export async function registerSession(session: string, direction: Direction, local: Replica, remote: Replica): Promise<void> {
  const sides = { local, remote };
  // Both roots need an identity first (sessions of the same root may race to make it: one wins).
  const markers = { local: await updateMarker(local, (m) => m), remote: await updateMarker(remote, (m) => m) };
  if (markers.local.id === markers.remote.id) {
    // One root is a copy of the other made with its marker (cp -a, rsync, an unpacked backup): the copy
    // is a root of its own, written by nobody yet. Left alike, each would look fed by itself. Or both
    // sides are one folder: then the new identity shows on the local side too.
    const own: RootMarker = { id: randomUUID(), writers: [] };
    markers.remote = await updateMarker(remote, () => own);
    if ((await readMarker(local)).marker.id === own.id) {
      throw new SyncError('Refused', `refusing to sync: ${local.description} and ${remote.description} are the same folder`);
    }
  }
  const flows: { into: 'local' | 'remote'; from: 'local' | 'remote' }[] = [];
  if (direction !== 'pull') flows.push({ into: 'remote', from: 'local' });
  if (direction !== 'push') flows.push({ into: 'local', from: 'remote' });
  for (const { into, from } of flows) {
    const target = markers[into];
    for (const writer of markers[from].writers) {
      if (writer.session === session) continue;
      if (writer.from === target.id || writer.upstream.includes(target.id)) {
        throw new SyncError(
          'Refused',
          `refusing to sync: ${sides[into].description} already feeds ${sides[from].description} (through the session that copies from ${writer.fromDescription}); writing back into it would close a loop. Stop that session, or remove it from ${MARKER_NAME} in ${sides[from].description} if it no longer exists`,
        );
      }
    }
  }
  for (const { into, from } of flows) {
    const source = markers[from];
    const upstream = [...new Set(source.writers.filter((w) => w.session !== session).flatMap((w) => [w.from, ...w.upstream]))];
    const writer: Writer = { session, from: source.id, fromDescription: sides[from].description, upstream, updatedAt: Date.now() };
    await updateMarker(sides[into], (m) => {
      // Unchanged registration: leave the marker alone (a run with nothing to do writes nothing).
      const known = m.writers.find((w) => w.session === session);
      if (known && known.from === writer.from && known.fromDescription === writer.fromDescription && known.upstream.join() === writer.upstream.join()) return m;
      return { ...m, writers: [...m.writers.filter((w) => w.session !== session), writer] };
    });
  }
}

/**
 * Reads the marker (making one if there is none), applies `change`, and writes it back when it
 * changed. Another session writing at the same moment makes the write fail its check: read again.
 */
async function updateMarker(replica: Replica, change: (marker: RootMarker) => RootMarker): Promise<RootMarker> {
  for (let attempt = 0; ; attempt++) {
    const loaded = await readMarker(replica);
    const next = change(loaded.marker);
    if (!loaded.changed && JSON.stringify(next) === JSON.stringify(loaded.marker)) return next;
    try {
      await writeMarker(replica, next, loaded.entry);
      return next;
    } catch (err) {
      if ((err as SyncError).code !== 'Changed' || attempt >= 5) throw err;
    }
  }
}

interface Loaded {
  readonly marker: RootMarker;
  readonly entry: Awaited<ReturnType<Replica['stat']>>;
  readonly changed: boolean;
}

async function readMarker(replica: Replica): Promise<Loaded> {
  const entry = await replica.stat(MARKER_NAME);
  if (entry?.kind === 'file') {
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await replica.read(MARKER_NAME)) chunks.push(chunk as Buffer);
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RootMarker;
      if (typeof parsed.id === 'string' && Array.isArray(parsed.writers)) return { marker: parsed, entry, changed: false };
    } catch {
      // An unreadable marker is replaced by a fresh one: it only ever guards against loops.
    }
  }
  return { marker: { id: randomUUID(), writers: [] }, entry: isSyncable(entry) ? entry : undefined, changed: true };
}

async function writeMarker(replica: Replica, marker: RootMarker, expect: Loaded['entry']): Promise<void> {
  const data = Readable.from([Buffer.from(JSON.stringify(marker, null, 1) + '\n')]);
  await replica.writeFile(MARKER_NAME, data, { mode: 0o644 }, isSyncable(expect) ? expect : undefined);
}
