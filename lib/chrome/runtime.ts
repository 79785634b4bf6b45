import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runtimeLog } from '../log.js';
import { procStats } from '../proc.js';
import { isOwnDir, isOwnFile, lstat, prepareRuntimeDir, replacementDirs } from './private-dir.js';
import { Watchdog, type WatchdogRestartEvent } from './watchdog.js';

/**
 * Where a manager keeps what it launches, and how nothing outlives it.
 *
 * Layout: `<runtimeDir>/<run>/owner.json` (the owning Node process), `b-N-xxx/` (one browser's
 * profile), `b-N-xxx.json` (that browser's pid and start time), `b-N-ext.json` (the same for a
 * browser on a named profile, plus that profile folder, which lives outside and is never removed
 * with the run), `tmp/` (Chrome's TMPDIR, so its `org.chromium.Chromium.*` singleton folders
 * stay with us). Folders are 0700 and files 0600, in a runtime folder that must be ours alone
 * (lib/chrome/private-dir.ts).
 *
 * Three layers make sure no Chrome outlives its owner:
 * 1. `close()` and the `exit` hook kill every process group synchronously;
 * 2. a tiny watchdog shell (lib/chrome/watchdog.ts) reads the browsers' pids from a pipe from the
 *    owner; when the owner dies by any means, even SIGKILL, the pipe closes and the watchdog kills
 *    those groups and removes the run. A watchdog that dies is replaced;
 * 3. a new manager reaps runs whose owner is dead (in case the watchdog died too).
 *
 * Layers 2 and 3 kill only a process that is provably a browser of ours: the same start time as
 * recorded, and for the reaper also `--user-data-dir=<its profile folder>` on its command line,
 * read from records in folders and files we own.
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
  /** A browser's profile folder when it is not the record's namesake in the run (a named profile's). */
  readonly userDataDir?: string;
}

function writeRecord(file: string, record: ProcessRecord): void {
  // 'wx': a new file, never through something already at that path.
  fs.writeFileSync(file, JSON.stringify(record), { mode: 0o600, flag: 'wx' });
}

/** Reads a record file, if it is a regular file of ours (no symbolic link). */
function readRecord(file: string): ProcessRecord | undefined {
  if (!isOwnFile(lstat(file))) return undefined;
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as ProcessRecord;
    if (r.userDataDir !== undefined && (typeof r.userDataDir !== 'string' || !path.isAbsolute(r.userDataDir))) return undefined;
    return Number.isInteger(r.pid) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** True when the recorded process is alive (not a zombie) and the same one (not a reused pid). */
export function isSameProcess(r: { readonly pid: number; readonly startTicks: string | undefined }): boolean {
  const stat = readStat(r.pid);
  if (stat === undefined || stat.state === 'Z') return false;
  return r.startTicks === undefined || stat.startTicks === r.startTicks;
}

/**
 * True when the recorded process is the browser we launched with `profileDir`: the same start
 * time, and `--user-data-dir=<profileDir>` among its arguments. A record without a start time,
 * or a zombie (its command line is empty), does not qualify: the reaper then kills nothing.
 */
function isOurBrowser(r: ProcessRecord, profileDir: string): boolean {
  if (r.startTicks === undefined || readStat(r.pid)?.startTicks !== r.startTicks) return false;
  let argv: string[];
  try {
    argv = fs.readFileSync(`/proc/${r.pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  // Read the start time again: the pid might have been reused while we read its arguments.
  return argv.includes(`--user-data-dir=${profileDir}`) && readStat(r.pid)?.startTicks === r.startTicks;
}

/** SIGKILLs a process group; a group that is gone already is fine. */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: already gone.
  }
}

/** True while a live (non-zombie) process is in process group `pgid`, from /proc. */
function groupAlive(pgid: number): boolean {
  for (const { f } of procStats()) if (Number(f[2]) === pgid && f[0] !== 'Z') return true;
  return false;
}

/**
 * Resolves once no process of group `pgid` is alive (a killed group takes a moment to go), or
 * after `timeoutMs`. A browser's helpers (its network service writes the cookie store) must be
 * gone before another Chrome may use its profile folder.
 */
export async function waitForGroupExit(pgid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
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

const liveRuns = new Set<RunDir>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const run of liveRuns) run.destroySync();
  });
}

/** Options of {@link RunDir}. */
export interface RunDirOptions {
  /**
   * The runtime folder is the default one: if it fails the checks (see lib/chrome/private-dir.ts),
   * use a fresh private folder instead of throwing a {@link RuntimeDirError}. @default false
   */
  readonly replaceIfUnsafe?: boolean;
  /** Told when the watchdog died and another was started (or, with `gaveUp`, not). @default none */
  readonly onWatchdogRestart?: ((e: WatchdogRestartEvent) => void) | undefined;
}

/** One manager's folder of browsers, with its watchdog and launch records. */
export class RunDir {
  /** The runtime folder in use: the one asked for, or its private replacement. */
  readonly runtimeDir: string;
  /** The runtime folder asked for. */
  readonly requestedRuntimeDir: string;
  /** Absolute path of this run's folder. */
  readonly dir: string;
  /** Chrome's TMPDIR. */
  readonly tmpDir: string;
  readonly #watchdog: Watchdog;
  readonly #replaceIfUnsafe: boolean;
  #next = 0;
  readonly #browsers = new Map<number, string>();

  /** Checks (or replaces) the runtime folder and makes a run folder in it; throws {@link RuntimeDirError}. */
  constructor(runtimeDir: string, opts: RunDirOptions = {}) {
    this.requestedRuntimeDir = runtimeDir;
    this.#replaceIfUnsafe = opts.replaceIfUnsafe ?? false;
    this.runtimeDir = prepareRuntimeDir(runtimeDir, { replaceIfUnsafe: this.#replaceIfUnsafe }).dir;
    // mkdtemp makes the folder 0700 with a name nobody can take first.
    this.dir = fs.mkdtempSync(path.join(this.runtimeDir, `run-${process.pid}-`));
    this.tmpDir = path.join(this.dir, 'tmp');
    fs.mkdirSync(this.tmpDir, { mode: 0o700 });
    writeRecord(path.join(this.dir, 'owner.json'), { pid: process.pid, startTicks: processStartTicks(process.pid) });
    this.#watchdog = new Watchdog(this.dir, { onRestart: opts.onWatchdogRestart });
    runtimeLog('run folder %s', this.dir);
    liveRuns.add(this);
    installExitHook();
  }

  /** Pid of the watchdog shell, once a browser has been recorded. */
  get watchdogPid(): number | undefined {
    return this.#watchdog.pid;
  }

  /**
   * Reaps orphaned runs in the runtime folder and, for a default folder, in the private
   * replacements earlier managers made (removing those left empty). Returns how many runs.
   */
  reapOrphans(): number {
    let reaped = reapOrphans(this.runtimeDir);
    if (!this.#replaceIfUnsafe) return reaped;
    for (const dir of replacementDirs(this.requestedRuntimeDir)) {
      if (dir === this.runtimeDir) continue;
      reaped += reapOrphans(dir);
      // A manager creating its run in there right now has a fresh folder: only drop old ones.
      const age = Date.now() - (lstat(dir)?.mtimeMs ?? Date.now());
      if (age < 60_000) continue;
      try {
        fs.rmdirSync(dir);
      } catch {
        // not empty: a live owner's run
      }
    }
    return reaped;
  }

  /** A fresh profile folder for one browser, private to us (0700). */
  newProfileDir(): string {
    const dir = path.join(this.dir, `b-${++this.#next}-${crypto.randomBytes(3).toString('hex')}`);
    fs.mkdirSync(dir, { mode: 0o700 });
    return dir;
  }

  /**
   * Records a launched browser so that the watchdog and later reaps can kill it. The watchdog
   * starts with the first browser rather than with the run: spawning the shell takes a couple of
   * ms, which then overlap the first Chrome's startup instead of adding to the first session's
   * cold start. Before any browser there is nothing for it to kill.
   */
  recordBrowser(pid: number, profileDir: string): void {
    // A profile folder outside the run (a named profile's) gets a record of its own name here
    // that names the folder: the reaper checks the command line against it, and removes only the run.
    const inRun = path.dirname(profileDir) === this.dir;
    const record = inRun ? profileDir : path.join(this.dir, `b-${++this.#next}-ext`);
    this.#browsers.set(pid, record);
    const startTicks = processStartTicks(pid);
    writeRecord(`${record}.json`, inRun ? { pid, startTicks } : { pid, startTicks, userDataDir: profileDir });
    // A browser already gone has no start time to match: nothing for the watchdog to kill.
    if (startTicks !== undefined) this.#watchdog.add(pid, startTicks);
  }

  /** Forgets a browser that has exited. */
  forgetBrowser(pid: number): void {
    const record = this.#browsers.get(pid);
    if (record === undefined) return;
    this.#browsers.delete(pid);
    this.#watchdog.remove(pid);
    fs.rmSync(`${record}.json`, { force: true });
  }

  /** Kills every recorded browser and removes the folder, synchronously (for `exit` and signals). */
  destroySync(): void {
    if (!liveRuns.delete(this)) return;
    for (const pid of this.#browsers.keys()) killGroup(pid);
    this.#browsers.clear();
    removeDirSync(this.dir);
    this.#watchdog.stop();
  }

  /** Removes the folder after every browser has been closed the polite way. */
  async destroy(): Promise<void> {
    if (!liveRuns.delete(this)) return;
    for (const pid of this.#browsers.keys()) killGroup(pid);
    this.#browsers.clear();
    // Stopped first: a watchdog dying while the folder goes must not be restarted.
    this.#watchdog.stop();
    await removeDir(this.dir);
  }
}

/**
 * Kills the browsers of runs whose owner process is dead and removes those runs. Runs of a live
 * owner (another manager, maybe in another process) are left alone, and so is anything that is
 * not ours (another uid, a symbolic link): we neither read it nor remove it. Within a run of
 * ours, a process is killed only when {@link isOurBrowser} says so. Returns how many runs were reaped.
 */
export function reapOrphans(runtimeDir: string): number {
  if (!isOwnDir(lstat(runtimeDir))) return 0;
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
    const st = lstat(dir);
    if (!isOwnDir(st)) continue;
    const owner = readRecord(path.join(dir, 'owner.json'));
    if (owner === undefined) {
      // A run being created right now has no owner.json for a moment: only reap old ones.
      if (Date.now() - st.mtimeMs < 60_000) continue;
    } else if (isSameProcess(owner)) {
      continue;
    }
    let files: fs.Dirent[];
    try {
      files = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const file of files) {
      if (!file.isFile() || !/^b-.*\.json$/.test(file.name)) continue;
      const r = readRecord(path.join(dir, file.name));
      if (r && isOurBrowser(r, r.userDataDir ?? path.join(dir, file.name.slice(0, -'.json'.length)))) killGroup(r.pid);
    }
    removeDirSync(dir);
    runtimeLog('reaped orphaned run %s (owner pid %s)', dir, owner?.pid ?? 'unknown');
    reaped++;
  }
  return reaped;
}
