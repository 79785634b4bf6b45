import { spawn, type ChildProcess } from 'node:child_process';
import { CreateAbortedError, LaunchError } from '../errors.js';
import type { HeadlessMode } from '../options.js';
import { chromeArgs } from './flags.js';
import { killGroup, removeDir, waitForGroupExit, type RunDir } from './runtime.js';
import { holdUserDataDir } from './user-data-dirs.js';

/** What one browser is launched with. The pool keys idle browsers by this (see `launchKey`). */
export interface LaunchSpec {
  readonly executablePath: string;
  readonly headless: HeadlessMode;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /**
   * A user-data-dir of the caller's (a profile's, lib/session/profile.ts) instead of a fresh one
   * in the run folder. It is never removed here; the caller makes sure one Chrome at a time uses it.
   */
  readonly userDataDir?: string;
}

/** A stable string identifying a launch configuration: browsers with equal keys are interchangeable. */
export function launchKey(spec: LaunchSpec): string {
  const key = [spec.executablePath, spec.headless, spec.args, Object.entries(spec.env).sort()];
  return JSON.stringify(spec.userDataDir === undefined ? key : [...key, spec.userDataDir]);
}

/** How a browser process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const STDERR_TAIL = 4096;
/** How long a killed group on a named user-data-dir may take to be gone before the folder counts as free anyway. */
const GROUP_EXIT_MS = 3_000;
const ENDPOINT_RE = /^DevTools listening on (ws:\/\/\S+)\s*$/m;

/** A running Chrome: its own process group, profile folder and DevTools endpoint. */
export class ChromeProcess {
  /** Pid of the browser process, which is also its process group id. */
  readonly pid: number;
  /** Chrome's own DevTools websocket URL (`ws://127.0.0.1:PORT/devtools/browser/GUID`). */
  readonly wsEndpoint: string;
  /** The build it is: headless-shell or full Chrome in new headless mode. */
  readonly headless: HeadlessMode;
  /** The binary it runs. */
  readonly executablePath: string;
  /** The profile folder; removed when the process is closed unless the spec named it. */
  readonly userDataDir: string;
  /** False when the spec named the profile folder: it outlives the process. */
  readonly ownsUserDataDir: boolean;
  /** When the endpoint became usable (ms since epoch). */
  readonly startedAt: number;
  /** Resolves when the browser process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  #exit: ExitInfo | undefined;
  readonly #run: RunDir;
  readonly #freeDir: () => void;
  #stderrTail: string;

  /** @internal Use {@link launchChrome}. */
  constructor(child: ChildProcess, spec: LaunchSpec, wsEndpoint: string, userDataDir: string, run: RunDir, exited: Promise<ExitInfo>, stderrTail: string, freeDir: () => void) {
    this.pid = child.pid!;
    this.headless = spec.headless;
    this.executablePath = spec.executablePath;
    this.wsEndpoint = wsEndpoint;
    this.userDataDir = userDataDir;
    this.ownsUserDataDir = spec.userDataDir === undefined;
    this.startedAt = Date.now();
    this.#run = run;
    this.#freeDir = freeDir;
    this.#stderrTail = stderrTail;
    this.exited = exited.then((info) => {
      this.#exit = info;
      return info;
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderrTail = (this.#stderrTail + chunk.toString()).slice(-STDERR_TAIL);
    });
  }

  /** True until the browser process exits. */
  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** The last few KiB Chrome wrote to stderr. */
  get stderrTail(): string {
    return this.#stderrTail;
  }

  /**
   * Closes the browser: `polite()` (CDP `Browser.close`) first, SIGKILL of the whole process
   * group after `graceMs`, then the group again (stray helpers such as crashpad) and the profile.
   */
  async close(opts: { graceMs: number; polite?: (() => Promise<unknown>) | undefined }): Promise<void> {
    if (this.alive && opts.polite) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, opts.graceMs);
      });
      await Promise.race([Promise.all([opts.polite().catch(() => {}), this.exited]), grace]);
      clearTimeout(timer);
    }
    this.kill();
    await this.exited;
    this.#run.forgetBrowser(this.pid);
    if (this.ownsUserDataDir) await removeDir(this.userDataDir);
    else await waitForGroupExit(this.pid, GROUP_EXIT_MS);
    this.#freeDir();
  }

  /** SIGKILLs the browser's process group at once (also used on crash and by `exit` hooks). */
  kill(): void {
    killGroup(this.pid);
  }
}

/**
 * Spawns Chrome in its own process group with a fresh profile (or `spec.userDataDir`) and waits for the
 * "DevTools listening on ws://…" line on stderr (no port polling). On any failure, nothing is
 * left running and the profile is removed; the error is a {@link LaunchError} with Chrome's
 * stderr tail, or a {@link CreateAbortedError} when `signal` fired.
 */
export async function launchChrome(
  spec: LaunchSpec,
  run: RunDir,
  opts: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<ChromeProcess> {
  opts.signal?.throwIfAborted();
  const userDataDir = spec.userDataDir ?? run.newProfileDir();
  // A named folder is in use from the spawn until the group is gone (lib/chrome/user-data-dirs.ts).
  const freeDir = spec.userDataDir === undefined ? () => {} : holdUserDataDir(userDataDir);
  const removeOwnDir = async (pgid?: number) => {
    if (spec.userDataDir === undefined) await removeDir(userDataDir);
    else if (pgid !== undefined) await waitForGroupExit(pgid, GROUP_EXIT_MS);
    freeDir();
  };
  let child: ChildProcess;
  try {
    child = spawn(spec.executablePath, chromeArgs({ headless: spec.headless, userDataDir, userArgs: spec.args }), {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...spec.env, TMPDIR: run.tmpDir },
    });
  } catch (err) {
    await removeOwnDir();
    throw new LaunchError(`Could not spawn Chrome: ${(err as Error).message}`, spec.executablePath, '', { cause: err });
  }
  child.unref();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // spawn errors (ENOENT, EACCES) emit 'error' and no 'exit'.
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  if (child.pid !== undefined) run.recordBrowser(child.pid, userDataDir);

  let tail = '';
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  try {
    const wsEndpoint = await new Promise<string>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        child.stderr?.off('data', onData);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const onData = (chunk: Buffer) => {
        tail = (tail + chunk.toString()).slice(-STDERR_TAIL);
        const m = ENDPOINT_RE.exec(tail);
        if (m) {
          cleanup();
          resolve(m[1]!);
        }
      };
      const onAbort = () => {
        cleanup();
        reject(new CreateAbortedError('signal aborted during launch', { cause: opts.signal?.reason }));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new LaunchError(`Chrome did not print its DevTools endpoint within ${opts.timeoutMs} ms`, spec.executablePath, tail));
      }, opts.timeoutMs);
      child.stderr?.on('data', onData);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      void exited.then((info) => {
        cleanup();
        const why = spawnError ? `Could not start Chrome: ${spawnError.message}` : `Chrome exited during launch (code ${info.code}, signal ${info.signal})`;
        reject(new LaunchError(why, spec.executablePath, tail, { cause: spawnError }));
      });
    });
    return new ChromeProcess(child, spec, wsEndpoint, userDataDir, run, exited, tail, freeDir);
  } catch (err) {
    if (child.pid !== undefined) {
      killGroup(child.pid);
      await exited;
      run.forgetBrowser(child.pid);
    }
    await removeOwnDir(child.pid);
    throw err;
  }
}
