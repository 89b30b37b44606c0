import type { Tree } from './entry';
import type { Plan } from './plan';
import type { Side } from './policy';

export interface GuardOptions {
  /** Most files one run may delete on a side; undefined: 50 % of that side's files when it has over 100. */
  readonly maxDelete?: number;
  /**
   * Files on each side when `trees` hold only part of it (a sync of a few changed paths): the limits
   * are about the whole side, never about the part that was looked at.
   */
  readonly sideFiles?: Record<Side, number>;
}

export interface GuardVerdict {
  readonly halt: boolean;
  readonly reason?: string;
}

/**
 * The mass-delete guard: before anything destructive, halt a plan that would empty a side's root or
 * delete more files than the threshold. A source folder that vanished or was unmounted looks exactly
 * like a user deleting everything; only a person can tell them apart.
 */
export function guard(plan: Plan, trees: Record<Side, Tree>, options: GuardOptions): GuardVerdict {
  for (const side of ['local', 'remote'] as const) {
    const files = options.sideFiles?.[side] ?? countFiles(trees[side]);
    const deletes = plan.actions.filter((a) => a.kind === 'delete' && a.to === side && !a.replaced && a.expect.kind !== 'dir').length;
    if (deletes === 0) continue;
    const creates = plan.actions.some((a) => a.to === side && (a.kind === 'copy' || a.kind === 'mkdir'));
    if (files > 1 && deletes >= files && !creates) {
      return { halt: true, reason: `the plan would delete all ${files} files on the ${side} side and leave it empty (was the other side's folder removed or unmounted?)` };
    }
    const limit = options.maxDelete ?? (files > 100 ? Math.floor(files / 2) : Infinity);
    if (deletes > limit) {
      return { halt: true, reason: `the plan would delete ${deletes} of ${files} files on the ${side} side, more than the limit of ${limit} (--max-delete)` };
    }
  }
  return { halt: false };
}

export function countFiles(tree: Tree): number {
  let n = 0;
  for (const e of tree.values()) if (e.kind === 'file' || e.kind === 'symlink') n++;
  return n;
}
