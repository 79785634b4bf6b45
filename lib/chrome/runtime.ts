import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Where a manager keeps what it launches, and how nothing outlives it.
 *
 * Layout: `<runtimeDir>/<run>/owner.json` (the owning Node process), `b-N/` (one browser's
 * profile), `b-N.json` (that browser's pid and start time), `tmp/` (Chrome's TMPDIR, so its
 * `org.chromium.Chromium.*` singleton folders stay with us).
 *
 * Three layers make sure no Chrome outlives its owner:
 * 1. `close()` and the `exit` hook kill every process group synchronously;
 * 2. a tiny watchdog shell blocks on a pipe from the owner; when the owner dies by any means,
 *    even SIGKILL, the pipe closes and the watchdog kills the recorded groups and removes the run;
 * 3. a new manager reaps runs whose owner is dead (in case the watchdog died too).
 */

/** State letter (field 3) and start time in clock ticks since boot (field 22) of /proc/PID/stat. */
function readStat(pid: number): { state: string; startTicks: string | undefined } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', startTicks: fields[19] };
  } catch {
    return undefined;
  }
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or undefined when gone. */
export function processStartTicks(pid: number): string | undefined {
  return readStat(pid)?.startTicks;
}

interface ProcessRecord {
  readonly pid: number;
  readonly startTicks: string | undefined;
}

function writeRecord(file: string, record: ProcessRecord): void {
  fs.writeFileSync(file, JSON.stringify(record));
}

function readRecord(file: string): ProcessRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as ProcessRecord;
    return Number.isInteger(r.pid) ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when the recorded process still exists and is the same one (not a reused pid). A zombie
 * has exited: it counts only with `zombies` (a dead browser leader whose group may live on).
 */
function isSameProcess(r: ProcessRecord, opts: { zombies: boolean }): boolean {
  const stat = readStat(r.pid);
  if (stat === undefined || (stat.state === 'Z' && !opts.zombies)) return false;
  return r.startTicks === undefined || stat.startTicks === r.startTicks;
}

/** SIGKILLs a process group; a group that is gone already is fine. */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: already gone.
  }
}

/** Removes a folder we created, retrying while Chrome's last writes settle. */
export function removeDirSync(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  } catch {
    // Best effort: a later reap removes what is left.
  }
}

/** Async variant of {@link removeDirSync}. */
export async function removeDir(dir: string): Promise<void> {
  await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }).catch(() => {});
}

const WATCHDOG_SCRIPT = [
  'cat >/dev/null', // returns when the owner's end of the pipe closes: the owner exited or died
  'for f in "$1"/b-*.json; do',
  '  [ -f "$f" ] || continue',
  '  pid=$(sed -n \'s/.*"pid":\\([0-9]*\\).*/\\1/p\' "$f")',
  // No `--` before the negative pid: dash's kill builtin rejects it ("Illegal number: -").
  '  [ -n "$pid" ] && kill -KILL "-$pid" 2>/dev/null',
  'done',
  // A Chrome still dying may add a file while rm runs ("Directory not empty"): try again.
  'n=0',
  'while [ -e "$1" ] && [ $n -lt 20 ]; do rm -rf "$1" 2>/dev/null || sleep 0.1; n=$((n+1)); done',
].join('\n');

const liveRuns = new Set<RunDir>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const run of liveRuns) run.destroySync();
  });
}

/** One manager's folder of browsers, with its watchdog and launch records. */
export class RunDir {
  /** Absolute path of this run's folder. */
  readonly dir: string;
  /** Chrome's TMPDIR. */
  readonly tmpDir: string;
  #watchdog: ChildProcess | undefined;
  #next = 0;
  readonly #browsers = new Map<number, string>();

  constructor(runtimeDir: string) {
    fs.mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
    this.dir = fs.mkdtempSync(path.join(runtimeDir, `run-${process.pid}-`));
    this.tmpDir = path.join(this.dir, 'tmp');
    fs.mkdirSync(this.tmpDir);
    writeRecord(path.join(this.dir, 'owner.json'), { pid: process.pid, startTicks: processStartTicks(process.pid) });
    liveRuns.add(this);
    installExitHook();
  }

  /**
   * Starts the watchdog with the first browser rather than with the run: spawning the shell takes
   * a couple of ms, which then overlap the first Chrome's startup instead of adding to the first
   * session's cold start. Before any browser there is nothing for it to kill; an owner killed in
   * between leaves only this folder, which the next manager reaps.
   */
  #startWatchdog(): void {
    if (this.#watchdog || !liveRuns.has(this)) return;
    this.#watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'chrome-sessions-watchdog', this.dir], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    this.#watchdog.on('error', () => {}); // no /bin/sh: layers 1 and 3 still hold
    this.#watchdog.unref();
    (this.#watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }

  /** A fresh profile folder for one browser. */
  newProfileDir(): string {
    const dir = path.join(this.dir, `b-${++this.#next}-${crypto.randomBytes(3).toString('hex')}`);
    fs.mkdirSync(dir);
    return dir;
  }

  /** Records a launched browser so that the watchdog and later reaps can kill it. */
  recordBrowser(pid: number, profileDir: string): void {
    this.#browsers.set(pid, profileDir);
    writeRecord(`${profileDir}.json`, { pid, startTicks: processStartTicks(pid) });
    this.#startWatchdog();
  }

  /** Forgets a browser that has exited. */
  forgetBrowser(pid: number): void {
    const profileDir = this.#browsers.get(pid);
    if (profileDir === undefined) return;
    this.#browsers.delete(pid);
    fs.rmSync(`${profileDir}.json`, { force: true });
  }

  /** Kills every recorded browser and removes the folder, synchronously (for `exit` and signals). */
  destroySync(): void {
    if (!liveRuns.delete(this)) return;
    for (const pid of this.#browsers.keys()) killGroup(pid);
    this.#browsers.clear();
    removeDirSync(this.dir);
    this.#stopWatchdog();
  }

  /** Removes the folder after every browser has been closed the polite way. */
  async destroy(): Promise<void> {
    if (!liveRuns.delete(this)) return;
    for (const pid of this.#browsers.keys()) killGroup(pid);
    this.#browsers.clear();
    await removeDir(this.dir);
    this.#stopWatchdog();
  }

  #stopWatchdog(): void {
    try {
      this.#watchdog?.kill('SIGKILL');
    } catch {
      // already gone
    }
    this.#watchdog = undefined;
  }
}

/**
 * Kills the browsers of runs whose owner process is dead and removes those runs. Runs of a live
 * owner (another manager, maybe in another process) are left alone. Returns how many were reaped.
 */
export function reapOrphans(runtimeDir: string): number {
  let entries: string[];
  try {
    entries = fs.readdirSync(runtimeDir);
  } catch {
    return 0;
  }
  let reaped = 0;
  for (const name of entries) {
    if (!name.startsWith('run-')) continue;
    const dir = path.join(runtimeDir, name);
    const owner = readRecord(path.join(dir, 'owner.json'));
    if (owner === undefined) {
      // A run being created right now has no owner.json for a moment: only reap old ones.
      const age = Date.now() - (fs.statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age < 60_000) continue;
    } else if (isSameProcess(owner, { zombies: false })) {
      continue;
    }
    for (const file of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!file.isFile() || !/^b-.*\.json$/.test(file.name)) continue;
      const r = readRecord(path.join(dir, file.name));
      if (r && isSameProcess(r, { zombies: true })) killGroup(r.pid);
    }
    removeDirSync(dir);
    reaped++;
  }
  return reaped;
}
