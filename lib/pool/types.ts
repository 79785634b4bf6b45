import type { ExitInfo, LaunchSpec } from '../chrome/launch.js';
import type { BrowserRecycledEvent } from '../events.js';

/**
 * What the dispatcher needs of a browser. {@link PooledBrowser} is the real one (a Chrome process
 * and the manager's CDP connection to it); unit tests pass fakes, so every race of the pool can
 * be reached in milliseconds without Chrome.
 */
export interface PoolBrowser {
  /** Pid of the browser process. */
  readonly pid: number;
  /** When it became usable, ms since the epoch (drives `maxBrowserAgeMs`). */
  readonly startedAt: number;
  /** Resolves (never rejects) once the process has exited, whatever the cause. */
  readonly exited: Promise<ExitInfo>;
  /** True while the process runs and the manager's connection to it is open. */
  readonly usable: boolean;
  /** Makes the browser clean for the next session; rejects when it cannot. The caller bounds it. */
  reset(timeoutMs: number): Promise<void>;
  /** Closes the browser (politely, then by force) and removes its profile; never rejects. */
  close(): Promise<void>;
  /** RSS of its process tree in bytes (for `maxBrowserRssBytes`). */
  rssBytes(): number;
}

/** Launches browsers for the dispatcher (tarn's `create`). */
export interface BrowserFactory<B extends PoolBrowser> {
  /**
   * Launches and attaches one browser. Must reject with a `ChromeSessionsError` (`LaunchError`,
   * `CreateAbortedError` once `signal` aborts) and leave nothing running when it fails. The
   * dispatcher bounds it with `launchTimeoutMs` and aborts `signal` when that runs out.
   */
  launch(spec: LaunchSpec, signal: AbortSignal): Promise<B>;
}

/** Why a browser left the pool. */
export type RetireReason = BrowserRecycledEvent['reason'];

/**
 * A pooled browser's one state (generic-pool's `PooledResourceStateEnum`). `draining`: a shared
 * browser that a recycle rule retires once its last session ends; it takes no new sessions.
 */
export type BrowserState = 'launching' | 'idle' | 'busy' | 'draining' | 'resetting' | 'retiring';

/** Settings of the dispatcher (a subset of the manager's options). */
export interface DispatcherOptions {
  /** Most sessions holding a browser at once. */
  readonly maxConcurrent: number;
  /** Warm spare browsers kept per launch configuration in use. */
  readonly minIdle: number;
  /** Most waiting creates (beyond those served at once). */
  readonly maxQueue: number;
  /** A create waiting for a slot rejects after this long; `0`: never. */
  readonly queueTimeoutMs: number;
  /** Launch and attach of one browser must finish within this. */
  readonly launchTimeoutMs: number;
  readonly maxSessionsPerBrowser: number;
  readonly maxBrowserAgeMs: number;
  readonly maxBrowserRssBytes: number;
  readonly resetTimeoutMs: number;
  /** How long `close()` gives one browser to exit before it stops waiting for it. */
  readonly closeTimeoutMs?: number;
  /** A launch whose creates all gave up is aborted instead of kept as a spare (a Grid session holds a slot). @default false */
  readonly abandonLaunches?: boolean;
}

/** Counters of the pool, derived from its browsers' states (plus running totals). */
export interface PoolStats {
  idle: number;
  busy: number;
  resetting: number;
  launching: number;
  /** Browsers launched so far. */
  launches: number;
  /** Resets that returned a browser to the pool. */
  resets: number;
  /** Browsers retired (any reason). */
  recycles: number;
  resetMsP50: number | undefined;
}

/** What the dispatcher reports (the manager turns these into its events). */
export interface DispatcherEvents {
  browserLaunched(pid: number, spec: LaunchSpec, launchMs: number): void;
  browserExited(pid: number, info: ExitInfo, expected: boolean): void;
  browserReset(pid: number, ms: number): void;
  browserRecycled(pid: number, reason: RetireReason): void;
}

/** Options of one {@link Dispatcher.acquire}. */
export interface AcquireOptions {
  /** Higher is served first; FIFO within a priority. @default 0 */
  readonly priority?: number;
  /**
   * Given: the browser is shared by up to this many sessions at once, each in a context of its
   * own, and needs no reset. Absent: it is lent whole and reset after. Browsers of the two kinds
   * are pooled apart.
   */
  readonly capacity?: number;
  /** Pools apart browsers launched alike but used differently (e.g. never reused). @default '' */
  readonly flavour?: string;
  /** Cancels the wait (rejects with its reason if that is one of ours, else `CreateAbortedError`). */
  readonly signal?: AbortSignal;
}
