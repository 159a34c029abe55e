// A folder in memory (tmpfs) for tests' throwaway files, when the machine has one with room: fsync
// and durability mean nothing for them, and on a disk the kernel's side of their writes (journal,
// block layer, discards on unlink) is CPU that no test looks at.
import { accessSync, constants, statfsSync } from 'node:fs';

const SHM = '/dev/shm';
/** statfs's f_type of tmpfs. */
const TMPFS_MAGIC = 0x01021994;

/**
 * /dev/shm when it is a writable tmpfs with at least `minFreeBytes` free, else undefined (not Linux,
 * or a container's 64 MB /dev/shm, which the tests would fill).
 */
export function memoryDir(minFreeBytes: number): string | undefined {
  try {
    accessSync(SHM, constants.W_OK);
    const fs = statfsSync(SHM);
    if (fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= minFreeBytes) return SHM;
  } catch {
    // No /dev/shm: the disk it is.
  }
  return undefined;
}
