import { invalidSegment, join, type RelPath } from '../engine/path';

/**
 * One name from a directory listing, admitted or not. Every side validates listings the same way:
 * a name that could leave the root ('..', '/', NUL, empty) or that the side cannot carry is a problem at
 * its path, and two names in one directory that are the same after NFC normalisation are both
 * reported (rather than silently merged).
 */
export type ListedName =
  | { readonly ok: true; readonly path: RelPath; /** The on-disk name is not the NFC form. */ readonly renamed: boolean }
  | { readonly ok: false; readonly path: RelPath; readonly problem: string };

export function admitName(dir: RelPath, name: string, seen: Set<RelPath>, notCarried?: (name: string) => string | undefined): ListedName {
  const nfc = name.normalize('NFC');
  const path = join(dir, nfc);
  const invalid = invalidSegment(name) ?? notCarried?.(name);
  if (invalid) return { ok: false, path, problem: invalid };
  if (seen.has(path)) return { ok: false, path, problem: 'two names here differ only in Unicode normalisation (NFC/NFD); rename one' };
  seen.add(path);
  return { ok: true, path, renamed: nfc !== name };
}
