import { Minimatch } from 'minimatch';
import { baseName, type RelPath } from './path';

export interface FilterRule {
  readonly type: 'include' | 'exclude';
  readonly pattern: string;
}

/**
 * Ordered include/exclude rules with rsync/Aspera semantics:
 * - the first rule that matches a path decides; a path no rule matches is included;
 * - a pattern without '/' matches the name at any depth (`*.log`, `node_modules`);
 * - a pattern with '/' is anchored at the session root (a leading '/' only anchors);
 * - a trailing '/' matches directories only;
 * - an excluded directory prunes its whole subtree (scans do not descend into it), and excluded paths
 *   are never deleted on the target.
 */
export class Filter {
  private readonly rules: { type: FilterRule['type']; dirOnly: boolean; anchored: boolean; matches: (subject: string) => boolean }[];

  constructor(rules: readonly FilterRule[]) {
    this.rules = rules.map((rule) => {
      let pattern = rule.pattern.trim();
      if (pattern === '') throw new Error(`empty ${rule.type} pattern`);
      const dirOnly = pattern.endsWith('/');
      if (dirOnly) pattern = pattern.replace(/\/+$/, '');
      const anchored = pattern.includes('/');
      if (pattern.startsWith('/')) pattern = pattern.replace(/^\/+/, '');
      return { type: rule.type, dirOnly, anchored, matches: matcherFor(pattern) };
    });
  }

  get isEmpty(): boolean {
    return this.rules.length === 0;
  }

  /** True when the path itself is excluded (its ancestors are the scanner's business). */
  excludes(path: RelPath, isDir: boolean): boolean {
    for (const rule of this.rules) {
      if (rule.dirOnly && !isDir) continue;
      const subject = rule.anchored ? path : baseName(path);
      if (rule.matches(subject)) return rule.type === 'exclude';
    }
    return false;
  }

  static none(): Filter {
    return new Filter([]);
  }
}

/**
 * A test for one pattern, as cheap as it can be: every path of a scan goes through every rule (the
 * session's own marker rule included), 200,000 calls for a bidi run over 100,000 files. A pattern
 * without glob magic is compared as a string, most others through the one regular expression minimatch
 * compiles for it (splitting each path into segments, as `match` does, costs several times more).
 */
function matcherFor(pattern: string): (subject: string) => boolean {
  const matcher = new Minimatch(pattern, { dot: true, nocomment: true, nonegate: true });
  if (!matcher.hasMagic()) {
    const literal = matcher.set.length === 1 ? matcher.set[0].join('/') : undefined;
    if (literal === pattern) return (subject) => subject === literal;
  }
  // minimatch's expression for a globstar is looser than its matching (`docs/**` would take `docs`).
  const re = pattern.includes('**') ? false : matcher.makeRe();
  return re ? (subject) => re.test(subject) : (subject) => matcher.match(subject);
}
