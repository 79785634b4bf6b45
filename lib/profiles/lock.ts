/**
 * One holder at a time per profile: a session that runs on it (`persistChanges: true`), a copy
 * being taken (`persistChanges: false`), or a delete.
 *
 * The lock is a file `<profile>/.lock` created with `O_EXCL` that names its holder (pid, start
 * time, session), so a process of another manager sees it too. A lock whose process is gone
 * (a crash, a SIGKILL) is stale and taken over. Waiters of this process queue here (priority,
 * then arrival), are bounded and cancellable, and are woken when a holder of this process
 * releases; a holder in another process is polled for. Chrome itself does not lock a
 * user-data-dir in headless-shell (no SingletonLock there), so this lock is what keeps two
 * Chromes off one profile.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isSameProcess, processStartTicks } from '../chrome/runtime.js';
import { pidsOnUserDataDir } from '../chrome/user-data-dirs.js';
import type { Clock } from '../clock.js';
import { ProfileNotFoundError, QueueTimeoutError } from '../errors.js';
import { abortError } from '../pool/entries.js';

const LOCK_FILE = '.lock';
/** How often a waiter looks again at a lock held by another process. */
const POLL_MS = 250;
/** A lock file still empty or half-written after this long is a crash's leftover. */
const UNREADABLE_STALE_MS = 5_000;

/** Chrome's user-data-dir in a profile folder (the layout is lib/profiles/store.ts's). */
export function userDataDirOf(folder: string): string {
  return path.join(folder, 'data');
}

/** A held profile lock. */
export interface ProfileLock {
  readonly profileId: string;
  /** Gives the lock up (idempotent) and wakes the next waiter. */
  release(): void;
}

interface LockRecord {
  readonly pid: number;
  readonly startTicks: string | undefined;
  readonly holder: string;
  readonly token: string;
}

/** One attempt: the lock, who holds it, or no such profile. */
export type LockAttempt = { readonly lock: ProfileLock } | { readonly heldBy: string } | { readonly gone: true };

/** Lock files held by this process: path to token. */
const held = new Map<string, string>();

interface Waiter {
  readonly priority: number;
  readonly seq: number;
  attempt(): void;
}
/** Waiters of this process, best first, per lock file. */
const queues = new Map<string, Waiter[]>();
let seq = 0;

function readRecord(file: string): LockRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as LockRecord;
    return Number.isInteger(r.pid) && typeof r.token === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Who holds the lock file, or undefined when it is free or stale. A stale lock still counts as
 * held while a process runs on the profile's folder (a dead owner's Chrome that its watchdog
 * or a reaper has not killed yet): waiters poll until it is gone.
 */
function liveHolder(file: string): string | undefined {
  const by = recordedHolder(file);
  if (by !== undefined || !fs.existsSync(file)) return by;
  const pids = pidsOnUserDataDir(userDataDirOf(path.dirname(file)));
  return pids.length > 0 ? `process ${pids.join(', ')} still running on it` : undefined;
}

/** The holder the lock file names, if that process is alive (or is this process's holder). */
function recordedHolder(file: string): string | undefined {
  const r = readRecord(file);
  if (r === undefined) {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    return Date.now() - st.mtimeMs < UNREADABLE_STALE_MS ? 'a lock being written' : undefined;
  }
  if (r.pid === process.pid) return held.get(file) === r.token ? r.holder : undefined;
  // No /proc where it was written: whether the pid lives is all there is to go by.
  if (r.startTicks === undefined) return pidExists(r.pid) ? `${r.holder} of process ${r.pid}` : undefined;
  return isSameProcess(r) ? `${r.holder} of process ${r.pid}` : undefined;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Moves a stale lock file aside and removes it; puts back a live one that replaced it meanwhile. */
function removeStale(file: string): void {
  const before = fs.readFileSync(file, 'utf8');
  const aside = `${file}.stale-${crypto.randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch {
    return; // someone else took it over first
  }
  if (fs.readFileSync(aside, 'utf8') !== before) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // a newer lock is there already
    }
  }
  fs.rmSync(aside, { force: true });
}

/** Who holds the lock of the profile in `dir`, if anyone (this process or a live other one). */
export function lockHolder(dir: string): string | undefined {
  return liveHolder(path.join(dir, LOCK_FILE));
}

/** Takes the lock of the profile in `dir` for `holder` if it is free (or stale). */
export function tryLock(dir: string, profileId: string, holder: string): LockAttempt {
  const file = path.join(dir, LOCK_FILE);
  for (let i = 0; i < 2; i++) {
    const record: LockRecord = { pid: process.pid, startTicks: processStartTicks(process.pid), holder, token: crypto.randomBytes(12).toString('hex') };
    try {
      fs.writeFileSync(file, JSON.stringify(record), { flag: 'wx', mode: 0o600 });
      held.set(file, record.token);
      return { lock: lockOf(file, profileId, record.token) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { gone: true };
      if (code !== 'EEXIST') throw err;
    }
    const by = liveHolder(file);
    if (by !== undefined) return { heldBy: by };
    try {
      removeStale(file);
    } catch {
      // gone meanwhile: try again
    }
  }
  return { heldBy: 'another process' };
}

function lockOf(file: string, profileId: string, token: string): ProfileLock {
  return {
    profileId,
    release() {
      if (held.get(file) !== token) return;
      held.delete(file);
      // Only our own file: a delete may have moved it away with its folder.
      if (readRecord(file)?.token === token) fs.rmSync(file, { force: true });
      queueMicrotask(() => pump(file));
    },
  };
}

/** Lets the first waiter for `file` try. */
function pump(file: string): void {
  queues.get(file)?.[0]?.attempt();
}

/** Options of {@link waitForLock}. */
export interface WaitForLockOptions {
  /** Names the holder in the lock file and in errors, e.g. `session <id>`. */
  readonly holder: string;
  /** Higher is served first; arrival order within a priority. */
  readonly priority: number;
  readonly signal: AbortSignal | undefined;
  /** Gives up with `QueueTimeoutError` after this long; `0`: never. */
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** Called once if the lock is not free at once. */
  readonly onWait?: () => void;
}

/**
 * The lock of the profile in `dir`, as soon as it is free. Rejects with `ProfileNotFoundError`
 * when the profile is gone (deleted while waiting), `QueueTimeoutError`, or the signal's reason
 * (`CreateAbortedError` unless it is one of ours). Always settles, once.
 */
export function waitForLock(dir: string, profileId: string, opts: WaitForLockOptions): Promise<ProfileLock> {
  const file = path.join(dir, LOCK_FILE);
  return new Promise<ProfileLock>((resolve, reject) => {
    let done = false;
    let timer: unknown;
    let poll: NodeJS.Timeout | undefined;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      const q = queues.get(file) ?? [];
      const i = q.indexOf(waiter);
      if (i >= 0) q.splice(i, 1);
      if (q.length === 0) queues.delete(file);
      if (timer !== undefined) opts.clock.clearTimeout(timer);
      clearInterval(poll);
      opts.signal?.removeEventListener('abort', onAbort);
      settle();
      // The next waiter may be able to go now (this one left the head, or failed).
      pump(file);
    };
    const waiter: Waiter = {
      priority: opts.priority,
      seq: ++seq,
      attempt: () => {
        if (done || queues.get(file)?.[0] !== waiter) return;
        let r: LockAttempt;
        try {
          r = tryLock(dir, profileId, opts.holder);
        } catch (err) {
          finish(() => reject(err));
          return;
        }
        if ('lock' in r) finish(() => resolve(r.lock));
        else if ('gone' in r) finish(() => reject(new ProfileNotFoundError(profileId)));
      },
    };
    const onAbort = () => finish(() => reject(abortError(opts.signal!.reason)));
    if (opts.signal?.aborted) return onAbort();
    const q = queues.get(file) ?? [];
    let at = q.findIndex((w) => w.priority < waiter.priority);
    if (at < 0) at = q.length;
    q.splice(at, 0, waiter);
    queues.set(file, q);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    poll = setInterval(() => pump(file), POLL_MS);
    if (opts.timeoutMs > 0) timer = opts.clock.setTimeout(() => finish(() => reject(new QueueTimeoutError(opts.timeoutMs, `profile ${profileId}`))), opts.timeoutMs);
    waiter.attempt();
    if (!done) opts.onWait?.();
  });
}
