/**
 * Named user-data-dirs (a profile's folder, or a session's copy of it) that a Chrome launched by
 * this process is using, from its spawn until it has exited and its process group is gone. Who
 * takes a profile for a session waits here before the next Chrome may use the folder, or before
 * the folder may be copied, released or removed: Chrome's last writes are on disk by then.
 * Per process, so two managers of one process never run two Chromes on one folder.
 */

import fs from 'node:fs';
import { procPids } from '../proc.js';

const users = new Map<string, number>();
const waiters = new Set<() => void>();

/** Marks `dir` in use by one more Chrome; the function returned (idempotent) ends that use. */
export function holdUserDataDir(dir: string): () => void {
  users.set(dir, (users.get(dir) ?? 0) + 1);
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    const n = (users.get(dir) ?? 1) - 1;
    if (n > 0) users.set(dir, n);
    else users.delete(dir);
    for (const check of [...waiters]) check();
  };
}

/** True while a Chrome of this process uses `dir`. */
export function userDataDirInUse(dir: string): boolean {
  return users.has(dir);
}

/** Resolves once no Chrome of this process uses `dir` (at once when none does). */
export function userDataDirFree(dir: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (users.has(dir)) return;
      waiters.delete(check);
      resolve();
    };
    waiters.add(check);
    check();
  });
}

/**
 * Pids of live processes (of any owner) started with `--user-data-dir=<dir>`, from /proc: a
 * Chrome on a profile whose owner died and that nothing has killed yet.
 */
export function pidsOnUserDataDir(dir: string): number[] {
  const arg = `--user-data-dir=${dir}`;
  const pids: number[] = [];
  for (const pid of procPids()) {
    if (pid === process.pid) continue;
    try {
      // A zombie's command line is empty.
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(arg)) pids.push(pid);
    } catch {
      // gone while we read
    }
  }
  return pids;
}
