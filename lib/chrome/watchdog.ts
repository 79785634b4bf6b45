import { spawn, type ChildProcess } from 'node:child_process';
import { runtimeLog } from '../log.js';

/**
 * The watchdog: a tiny POSIX shell (dash is enough) that outlives its owner by design. The owner
 * hands it the browsers recorded so far as arguments (`PID:STARTTICKS`, so a watchdog started in
 * place of a dead one knows them even if the owner dies a moment later, before a pipe write could
 * be flushed), then tells it about each later one on its stdin, `+PID STARTTICKS` when recorded
 * and `-PID` when forgotten. It reads nothing else: no file an attacker could plant decides what it kills. When
 * the owner's end of the pipe closes (the owner exited or died, even by SIGKILL), it kills the
 * process group of each pid still listed whose start time in /proc/PID/stat still matches (so a
 * reused pid is spared), then removes the run folder ($1).
 */
export const WATCHDOG_SCRIPT = `set -f
dir=$1
shift
list=''
for e in "$@"; do
  case $e in ''|*[!0-9:]*) ;; *) list="$list $e" ;; esac
done
while IFS= read -r line; do
  case $line in
    +*)
      pid=\${line#+}; ticks=\${pid#* }; pid=\${pid%% *}
      case $pid$ticks in ''|*[!0-9]*) continue ;; esac
      list="$list $pid:$ticks" ;;
    -*)
      pid=\${line#-}; keep=''
      for e in $list; do [ "\${e%%:*}" = "$pid" ] || keep="$keep $e"; done
      list=$keep ;;
  esac
done
for e in $list; do
  pid=\${e%%:*}; ticks=\${e#*:}
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
  # Fields after the command name, which may hold spaces and parentheses; start time is field 22.
  set -- \${stat##*)}
  [ $# -ge 20 ] || continue
  shift 19
  # No -- before the negative pid: dash's kill builtin rejects it ("Illegal number: -").
  [ "$1" = "$ticks" ] && kill -KILL "-$pid" 2>/dev/null
done
# A Chrome still dying may add a file while rm runs ("Directory not empty"): try again.
n=0
while [ -e "$dir" ] && [ $n -lt 20 ]; do rm -rf "$dir" 2>/dev/null || sleep 0.1; n=$((n+1)); done
`;

/** What {@link WatchdogOptions.onRestart} is told when a watchdog died and another was started. */
export interface WatchdogRestartEvent {
  /** Pid of the new watchdog; `undefined` when `gaveUp`. */
  readonly pid: number | undefined;
  /** Pid of the watchdog that died. */
  readonly previousPid: number;
  /** Its exit code, `null` when killed by a signal. */
  readonly code: number | null;
  /** The signal that killed it, if any. */
  readonly signal: string | null;
  /**
   * True when the watchdog died too often ({@link MAX_RESTARTS} within {@link RESTART_WINDOW_MS})
   * and no other is started: the `exit` hook and the next manager's reap still clean up.
   */
  readonly gaveUp: boolean;
}

/** Options of {@link Watchdog}. */
export interface WatchdogOptions {
  /** Told each time a watchdog that died is replaced (or, with `gaveUp`, is not). @default none */
  readonly onRestart?: ((e: WatchdogRestartEvent) => void) | undefined;
}

/** Most restarts within {@link RESTART_WINDOW_MS}; one more death gives up. */
export const MAX_RESTARTS = 5;
/** The window over which restarts are counted. */
export const RESTART_WINDOW_MS = 60_000;

/** A watchdog for one run folder, restarted when it dies until {@link Watchdog.stop}. */
export class Watchdog {
  readonly #dir: string;
  readonly #onRestart: ((e: WatchdogRestartEvent) => void) | undefined;
  /** Browsers the watchdog must kill if the owner dies: pid to start ticks. */
  readonly #listed = new Map<number, string>();
  #child: ChildProcess | undefined;
  #stopped = false;
  #gaveUp = false;
  readonly #restarts: number[] = [];

  constructor(runDir: string, opts: WatchdogOptions = {}) {
    this.#dir = runDir;
    this.#onRestart = opts.onRestart;
  }

  /** Pid of the running watchdog shell, if any. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Lists a browser (starting the watchdog if needed). */
  add(pid: number, startTicks: string): void {
    this.#listed.set(pid, startTicks);
    if (!this.#child) this.#spawn();
    else this.#send(`+${pid} ${startTicks}\n`);
  }

  /** Unlists a browser that has exited or been killed. */
  remove(pid: number): void {
    if (this.#listed.delete(pid)) this.#send(`-${pid}\n`);
  }

  /** Kills the watchdog for good (the owner cleans up itself); it is not restarted. */
  stop(): void {
    this.#stopped = true;
    this.#listed.clear();
    const child = this.#child;
    this.#child = undefined;
    try {
      child?.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  #spawn(): ChildProcess | undefined {
    if (this.#stopped || this.#gaveUp) return undefined;
    const known = [...this.#listed].map(([pid, ticks]) => `${pid}:${ticks}`);
    const child = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'chrome-sessions-watchdog', this.#dir, ...known], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    this.#child = child;
    // No /bin/sh (spawn 'error', no 'exit'): the exit hook and the next reap still hold.
    child.on('error', () => {
      if (this.#child !== child) return;
      this.#child = undefined;
      this.#gaveUp = true;
    });
    // A write to a watchdog that just died fails with EPIPE; its 'exit' restarts it.
    child.stdin?.on('error', () => {});
    child.once('exit', (code, signal) => this.#onExit(child, code, signal));
    child.unref();
    runtimeLog('watchdog started: pid %s, %d browser(s) listed', child.pid, this.#listed.size);
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return child;
  }

  #send(line: string): void {
    const stdin = this.#child?.stdin;
    if (stdin && !stdin.destroyed) stdin.write(line);
  }

  #onExit(child: ChildProcess, code: number | null, signal: string | null): void {
    if (this.#child !== child || this.#stopped || child.pid === undefined) return;
    this.#child = undefined;
    const now = Date.now();
    while (this.#restarts.length > 0 && now - this.#restarts[0]! > RESTART_WINDOW_MS) this.#restarts.shift();
    runtimeLog('watchdog pid %d died (code %s, signal %s)', child.pid, code, signal);
    if (this.#restarts.length >= MAX_RESTARTS) {
      this.#gaveUp = true;
      runtimeLog('watchdog died too often (%d restarts within %d ms): not restarted', MAX_RESTARTS, RESTART_WINDOW_MS);
      this.#notify({ pid: undefined, previousPid: child.pid, code, signal, gaveUp: true });
      return;
    }
    this.#restarts.push(now);
    const next = this.#spawn();
    this.#notify({ pid: next?.pid, previousPid: child.pid, code, signal, gaveUp: next?.pid === undefined });
  }

  #notify(e: WatchdogRestartEvent): void {
    try {
      this.#onRestart?.(e);
    } catch {
      // A throwing callback must not stop the owner from cleaning up.
    }
  }
}
