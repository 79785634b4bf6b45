import type { ExitInfo } from '../chrome/launch.js';

/**
 * The browser a {@link PooledBrowser} wraps, wherever it runs: a local Chrome process
 * (`ChromeProcess`) or a remote Selenium Grid session (`GridSession`). Everything above it (the
 * pool, the endpoint, the runtime, the reset) speaks CDP to `wsEndpoint` and needs nothing else.
 */
export interface BrowserProcess {
  /** Pid of the browser process (on a Grid node: the node's, from `goog:processID`; 0 when unknown). */
  readonly pid: number;
  /** A CDP websocket URL to the whole browser (Chrome's own, or a Grid session's `se:cdp`). */
  readonly wsEndpoint: string;
  /** The binary it runs, or where it runs (errors name it). */
  readonly executablePath: string;
  /** When it became usable (ms since epoch). */
  readonly startedAt: number;
  /** Resolves (never rejects) once the browser is gone, whatever the cause. */
  readonly exited: Promise<ExitInfo>;
  /** True until `exited` resolves. */
  readonly alive: boolean;
  /** The last words of the browser (Chrome's stderr, or why a Grid session ended). */
  readonly stderrTail: string;
  /** False for a Chrome on a folder it must not remove (a profile's), which gets longer to flush it on close. */
  readonly ownsUserDataDir?: boolean;
  /** True for a browser on another machine (a Grid node): its files and processes are not this machine's. */
  readonly remote?: boolean;
  /** The Grid's id of the session, for a remote browser. */
  readonly gridSessionId?: string | undefined;
  /** Closes it (`polite` first where that means something), then by force; never rejects. */
  close(opts: { graceMs: number; polite?: (() => Promise<unknown>) | undefined }): Promise<void>;
  /** Ends it at once, without waiting (a hung or unreachable browser). */
  kill(): void;
  /** RSS in bytes, for a browser this machine cannot see in /proc (0: unknown). Absent: its local process group is measured. */
  rssBytes?(): number;
  /** Asks whoever runs it whether it still lives; `exited` resolves when not. Bounded, never rejects. */
  probe?(): Promise<void>;
}
