import { isTempName, tempNameFor } from './tempName';

/** The few operations on names in a side's root that the probe needs. */
export interface ProbeOps {
  /** The names in the root. */
  list(): Promise<string[]>;
  /** True when a lookup of this name in the root finds something. */
  exists(name: string): Promise<boolean>;
  /** Creates an empty file with this name in the root; fails if one exists. */
  create(name: string): Promise<void>;
  remove(name: string): Promise<void>;
}

/**
 * Whether a side's names ignore case (macOS and Windows by default, exFAT/FAT, ext4 with casefold).
 *
 * Without writing where it can: a name already in the root (plain ASCII, with a letter) is looked up
 * in the other case; it is found there only where case is ignored (unless both are stored, which
 * settles it the other way). In a root with no such name (a new, empty target) a uniquely named temp
 * file is made, looked up in upper case and removed; the temp-name convention means a probe cut short
 * is cleaned up by the next full scan, which a target with no files gets anyway.
 *
 * Only the root is probed: a folder inside it on another file system (or with ext4's per-directory
 * casefold flag) may differ. Names colliding there are still never merged — every write re-checks its
 * target and refuses — only the message is less clear.
 */
export async function probeCaseInsensitive(ops: ProbeOps): Promise<boolean> {
  const names = await ops.list();
  const present = new Set(names);
  for (const name of names) {
    if (isTempName(name) || !/^[\x20-\x7e]*[A-Za-z][\x20-\x7e]*$/.test(name)) continue;
    const other = name.toUpperCase() !== name ? name.toUpperCase() : name.toLowerCase();
    if (present.has(other)) return false;
    return ops.exists(other);
  }
  const name = tempNameFor('case-probe');
  await ops.create(name);
  try {
    return await ops.exists(name.toUpperCase());
  } finally {
    await ops.remove(name).catch(() => undefined);
  }
}
