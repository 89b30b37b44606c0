/**
 * Relative paths inside a session root.
 *
 * Invariant: a RelPath is '/'-separated, NFC-normalised, has no empty, '.' or '..' segment, no NUL and
 * no leading '/'. '' is the root. Anything a listing gives that is not of this shape is rejected, so no
 * path built from a RelPath can leave the root.
 */
export type RelPath = string;

export const ROOT: RelPath = '';

/** Returns the reason a name from a listing is unusable, or undefined when it is a valid segment. */
export function invalidSegment(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name === '.' || name === '..') return `reserved name '${name}'`;
  if (name.includes('/')) return "name contains '/'";
  if (name.includes('\0')) return 'name contains NUL';
  return undefined;
}

/** Validates and normalises a relative path; throws on anything that could escape the root. */
export function toRelPath(raw: string): RelPath {
  if (raw === '') return ROOT;
  if (raw.startsWith('/')) throw new Error(`absolute path '${raw}' is not a relative path`);
  const segments = raw.split('/');
  for (const segment of segments) {
    const problem = invalidSegment(segment);
    if (problem) throw new Error(`invalid path '${raw}': ${problem}`);
  }
  return raw.normalize('NFC');
}

export function join(parent: RelPath, name: string): RelPath {
  return parent === ROOT ? name : `${parent}/${name}`;
}

export function parentOf(path: RelPath): RelPath {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? ROOT : path.slice(0, slash);
}

export function baseName(path: RelPath): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function depth(path: RelPath): number {
  if (path === ROOT) return 0;
  let n = 1;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

/** True when `path` is `ancestor` or lies below it. */
export function isWithin(path: RelPath, ancestor: RelPath): boolean {
  return ancestor === ROOT || path === ancestor || path.startsWith(ancestor + '/');
}

/** Every proper ancestor of a path, nearest last: 'a/b/c' -> ['a', 'a/b']. */
export function ancestors(path: RelPath): RelPath[] {
  const out: RelPath[] = [];
  let i = path.indexOf('/');
  while (i >= 0) {
    out.push(path.slice(0, i));
    i = path.indexOf('/', i + 1);
  }
  return out;
}

/** Orders paths so that a parent comes before its children (and siblings by name). */
export function compareParentFirst(a: RelPath, b: RelPath): number {
  const sa = a.split('/');
  const sb = b.split('/');
  const n = Math.min(sa.length, sb.length);
  for (let i = 0; i < n; i++) {
    if (sa[i] !== sb[i]) return sa[i] < sb[i] ? -1 : 1;
  }
  return sa.length - sb.length;
}
