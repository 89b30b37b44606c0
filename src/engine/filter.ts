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
  private readonly rules: { type: FilterRule['type']; dirOnly: boolean; anchored: boolean; matcher: Minimatch }[];

  constructor(rules: readonly FilterRule[]) {
    this.rules = rules.map((rule) => {
      let pattern = rule.pattern.trim();
      if (pattern === '') throw new Error(`empty ${rule.type} pattern`);
      const dirOnly = pattern.endsWith('/');
      if (dirOnly) pattern = pattern.replace(/\/+$/, '');
      const anchored = pattern.includes('/');
      if (pattern.startsWith('/')) pattern = pattern.replace(/^\/+/, '');
      return { type: rule.type, dirOnly, anchored, matcher: new Minimatch(pattern, { dot: true, nocomment: true, nonegate: true }) };
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
      if (rule.matcher.match(subject)) return rule.type === 'exclude';
    }
    return false;
  }

  static none(): Filter {
    return new Filter([]);
  }
}
