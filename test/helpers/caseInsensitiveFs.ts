import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { removeDir, tempDir } from './tmp';

/**
 * A real case-insensitive (and case-preserving) file system for tests: a small exFAT image on a loop
 * device, mounted through FUSE (exfat-fuse). This machine's kernel has neither vfat/exfat nor tmpfs
 * casefold, and ciopfs is not packaged for Debian 12; exfat-fuse is. Needs root (losetup, mount),
 * /dev/fuse, a free loop device and the Debian packages exfat-fuse and exfatprogs.
 */
export interface CaseInsensitiveMount {
  /** The mounted folder: names here ignore case. */
  readonly dir: string;
  unmount(): Promise<void>;
}

const TOOLS = ['/usr/sbin/mkfs.exfat', '/usr/sbin/mount.exfat-fuse', '/usr/sbin/losetup'];

/** Why such a mount cannot be made here, or undefined when it probably can. */
export function caseInsensitiveFsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux (a loop device and FUSE)';
  if (process.getuid?.() !== 0) return 'needs root (losetup and mount)';
  if (!existsSync('/dev/fuse')) return 'needs /dev/fuse';
  const missing = TOOLS.filter((t) => !existsSync(t));
  if (missing.length) return `needs ${missing.join(', ')} (Debian packages exfat-fuse and exfatprogs)`;
  return undefined;
}

/** Mounts a fresh exFAT file system; throws with the reason when it cannot. */
export async function mountCaseInsensitive(sizeMiB = 32): Promise<CaseInsensitiveMount> {
  const work = await tempDir('ssh-sync-exfat-');
  const image = path.join(work, 'image');
  const dir = path.join(work, 'mnt');
  await fs.mkdir(dir);
  let device: string | undefined;
  let mounted = false;
  const unmount = async () => {
    if (mounted) {
      for (let i = 0; ; i++) {
        try {
          execFileSync('umount', [dir], { stdio: 'pipe' });
          break;
        } catch (err) {
          if (i >= 20) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      mounted = false;
    }
    if (device) {
      execFileSync('/usr/sbin/losetup', ['-d', device], { stdio: 'pipe' });
      device = undefined;
    }
    await removeDir(work);
  };
  try {
    const handle = await fs.open(image, 'w');
    await handle.truncate(sizeMiB * 1024 * 1024);
    await handle.close();
    execFileSync('/usr/sbin/mkfs.exfat', [image], { stdio: 'pipe' });
    device = execFileSync('/usr/sbin/losetup', ['-f', '--show', image], { stdio: 'pipe' }).toString().trim();
    execFileSync('/usr/sbin/mount.exfat-fuse', [device, dir], { stdio: 'pipe', timeout: 20_000 });
    mounted = true;
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    await unmount().catch(() => undefined);
    throw new Error(`cannot mount an exFAT image through FUSE: ${stderr || (err as Error).message}`);
  }
  return { dir, unmount };
}
