import fs from 'node:fs';
import { PooledBrowser } from './browser.js';
import { launchChrome, launchKey, type LaunchSpec } from './chrome/launch.js';
import type { RunDir } from './chrome/runtime.js';
import type { BrowserExitedEvent, BrowserLaunchedEvent, BrowserRecycledEvent, BrowserResetEvent } from './events.js';
import { ManagerClosedError } from './errors.js';
import { resetBrowser } from './reset.js';

/** Pool settings (a subset of the manager's options). */
export interface PoolOptions {
  readonly launchTimeoutMs: number;
  readonly minIdle: number;
  readonly reuse: boolean;
  readonly maxSessionsPerBrowser: number;
  readonly maxBrowserAgeMs: number;
  readonly maxBrowserRssBytes: number;
  readonly resetTimeoutMs: number;
  /** Most browsers alive at once (busy, resetting, idle and launching). */
  readonly maxBrowsers: number;
}

/** What the pool reports to the manager. */
export interface PoolEvents {
  browserLaunched(e: BrowserLaunchedEvent): void;
  browserExited(e: BrowserExitedEvent): void;
  browserReset(e: BrowserResetEvent): void;
  browserRecycled(e: BrowserRecycledEvent): void;
}

/** Counters of {@link BrowserPool}. */
export interface PoolStats {
  idle: number;
  busy: number;
  resetting: number;
  launching: number;
  launches: number;
  resets: number;
  recycles: number;
  resetMsP50: number | undefined;
}

function count(map: Map<string, number>, key: string): number {
  return map.get(key) ?? 0;
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = count(map, key) + by;
  if (n === 0) map.delete(key);
  else map.set(key, n);
}

/** Sum of RSS over a browser's process group, from /proc. */
export function processGroupRssBytes(pgid: number): number {
  let total = 0;
  const page = 4096;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields after the name: [0]=state [2]=pgrp ... [21]=rss (pages)
      if (Number(f[2]) === pgid) total += Number(f[21]) * page;
    } catch {
      // process ended while we read
    }
  }
  return total;
}

/**
 * Warm Chrome processes, keyed by launch configuration. A session borrows one with `acquire`;
 * `release` resets it in the background and puts it back (or retires it). Idle browsers of one
 * key never serve another, so per-session launch settings (proxy, profile, flags) can share the
 * pool later. The manager's p-queue bounds sessions; the pool bounds browsers.
 */
export class BrowserPool {
  readonly #opts: PoolOptions;
  readonly #run: RunDir;
  readonly #events: PoolEvents;
  readonly #idle = new Map<string, PooledBrowser[]>();
  readonly #all = new Set<PooledBrowser>();
  /** Closes of retired browsers still under way; `close()` waits for them. */
  readonly #retiring = new Set<Promise<void>>();
  #launching = 0;
  #warming = 0;
  /** Browsers being reset, and creates waiting for one of them, per launch key. */
  readonly #resetting = new Map<string, number>();
  readonly #resetWaiters = new Map<string, number>();
  #closed = false;
  readonly #waiters: (() => void)[] = [];
  readonly #resetTimes: number[] = [];
  readonly #counts = { launches: 0, resets: 0, recycles: 0 };
  readonly #warmSpecs = new Map<string, LaunchSpec>();

  constructor(opts: PoolOptions, run: RunDir, events: PoolEvents) {
    this.#opts = opts;
    this.#run = run;
    this.#events = events;
  }

  /** Browsers alive or being launched. */
  get #total(): number {
    return this.#all.size + this.#launching;
  }

  /** Counters for `SessionManager.stats()`. */
  stats(busy: number): PoolStats {
    let idle = 0;
    for (const list of this.#idle.values()) idle += list.length;
    const sorted = [...this.#resetTimes].sort((a, b) => a - b);
    return {
      idle,
      busy,
      resetting: [...this.#resetting.values()].reduce((a, b) => a + b, 0),
      launching: this.#launching,
      ...this.#counts,
      resetMsP50: sorted.length ? sorted[Math.floor(sorted.length / 2)] : undefined,
    };
  }

  /**
   * A browser for `spec`: an idle warm one if there is one, else a new launch when the browser
   * budget allows, else the next browser that becomes free. Rejects when `signal` aborts.
   */
  async acquire(spec: LaunchSpec, signal?: AbortSignal): Promise<PooledBrowser> {
    const key = launchKey(spec);
    this.#warmSpecs.set(key, spec);
    for (;;) {
      signal?.throwIfAborted();
      if (this.#closed) throw new ManagerClosedError();
      const idle = this.#idle.get(key);
      while (idle?.length) {
        const b = idle.pop()!;
        if (b.usable) {
          this.#topUp();
          return b;
        }
        this.#discard(b, 'surplus');
      }
      // A reset takes tens of ms, a launch hundreds and far more CPU: wait for a resetting
      // browser when one is not already promised to an earlier waiter.
      if (count(this.#resetting, key) > count(this.#resetWaiters, key)) {
        bump(this.#resetWaiters, key, 1);
        try {
          await this.#waitForChange(signal);
        } finally {
          bump(this.#resetWaiters, key, -1);
        }
        continue;
      }
      if (this.#total < this.#opts.maxBrowsers) {
        const b = await this.#launch(spec, key, signal);
        this.#topUp();
        return b;
      }
      if (!this.#evictIdleOfOtherKey(key)) await this.#waitForChange(signal);
    }
  }

  /**
   * Takes a browser back after its session. `healthy: false` (crash, hang) retires it. Otherwise
   * it is reset in the background and returns to the idle list, unless a recycle rule says no.
   */
  release(b: PooledBrowser, healthy: boolean): void {
    b.sessionsServed++;
    const reason = !healthy ? 'reset_failed' : this.#recycleReason(b);
    if (reason || this.#closed) {
      this.#discard(b, reason ?? 'surplus');
      return;
    }
    bump(this.#resetting, b.key, 1);
    const started = performance.now();
    void this.#resetWithDeadline(b).then((ok) => {
      bump(this.#resetting, b.key, -1);
      if (!ok || this.#closed) {
        this.#discard(b, 'reset_failed');
        return;
      }
      const ms = performance.now() - started;
      this.#counts.resets++;
      this.#resetTimes.push(ms);
      if (this.#resetTimes.length > 1000) this.#resetTimes.shift();
      this.#events.browserReset({ pid: b.pid, ms });
      this.#putIdle(b);
    });
  }

  /** Closes every browser, idle or not, and waits for them to exit. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake();
    const all = [...this.#all];
    this.#idle.clear();
    await Promise.all([...all.map((b) => b.close()), ...this.#retiring]);
  }

  async #resetWithDeadline(b: PooledBrowser): Promise<boolean> {
    const deadline = this.#opts.resetTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        resetBrowser(b.cdp, deadline, { windowBounds: b.windowBounds }).then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), deadline);
        }),
      ]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  #recycleReason(b: PooledBrowser): BrowserRecycledEvent['reason'] | undefined {
    const o = this.#opts;
    if (!o.reuse) return 'no_reuse';
    if (!b.usable) return 'reset_failed';
    if (o.maxSessionsPerBrowser > 0 && b.sessionsServed >= o.maxSessionsPerBrowser) return 'max_sessions';
    if (o.maxBrowserAgeMs > 0 && Date.now() - b.process.startedAt >= o.maxBrowserAgeMs) return 'max_age';
    if (o.maxBrowserRssBytes > 0 && processGroupRssBytes(b.pid) > o.maxBrowserRssBytes) return 'max_rss';
    return undefined;
  }

  #putIdle(b: PooledBrowser): void {
    let list = this.#idle.get(b.key);
    if (!list) this.#idle.set(b.key, (list = []));
    list.push(b);
    this.#wake();
  }

  #discard(b: PooledBrowser, reason: BrowserRecycledEvent['reason']): void {
    const list = this.#idle.get(b.key);
    const i = list?.indexOf(b) ?? -1;
    if (i >= 0) list!.splice(i, 1);
    // Already retired: a crash reaches here twice (the pool's exit listener, then the session's release).
    if (!this.#all.has(b) || b.closing) return;
    this.#counts.recycles++;
    this.#events.browserRecycled({ pid: b.pid, reason });
    // A retiring browser leaves the budget at once: its close (a grace period, the profile's
    // removal) must not hold up the launch of its replacement.
    this.#all.delete(b);
    const closing = b.close();
    this.#retiring.add(closing);
    void closing.then(() => this.#retiring.delete(closing));
    this.#wake();
    this.#topUp();
  }

  /** Makes room for `key` by retiring an idle browser of another launch configuration. */
  #evictIdleOfOtherKey(key: string): boolean {
    for (const [k, list] of this.#idle) {
      if (k !== key && list.length) {
        this.#discard(list[0]!, 'surplus');
        return true;
      }
    }
    return false;
  }

  async #launch(spec: LaunchSpec, key: string, signal?: AbortSignal): Promise<PooledBrowser> {
    this.#launching++;
    const t0 = performance.now();
    try {
      const proc = await launchChrome(spec, this.#run, { timeoutMs: this.#opts.launchTimeoutMs, signal });
      const b = await PooledBrowser.attach(proc, key, this.#opts.launchTimeoutMs);
      this.#counts.launches++;
      this.#all.add(b);
      b.once('exit', (info) => {
        this.#events.browserExited({ pid: b.pid, code: info.code, signal: info.signal, expected: b.closing });
        if (!b.closing) this.#discard(b, 'reset_failed');
      });
      this.#events.browserLaunched({ pid: b.pid, executablePath: spec.executablePath, headless: spec.headless, launchMs: performance.now() - t0 });
      return b;
    } finally {
      this.#launching--;
      this.#wake();
    }
  }

  /** Keeps `minIdle` spare browsers of each key in use, one background launch at a time. */
  #topUp(): void {
    if (this.#closed || this.#warming > 0) return;
    for (const [key, spec] of this.#warmSpecs) {
      const idle = this.#idle.get(key)?.length ?? 0;
      if (idle + count(this.#resetting, key) < this.#opts.minIdle && this.#total < this.#opts.maxBrowsers) {
        this.#warming++;
        void this.#launch(spec, key)
          .then((b) => (this.#closed ? this.#discard(b, 'surplus') : this.#putIdle(b)))
          .catch(() => {})
          .finally(() => {
            this.#warming--;
            this.#topUp();
          });
        return;
      }
    }
  }

  /** Starts `minIdle` browsers for `spec` ahead of the first `create()`. */
  warm(spec: LaunchSpec): void {
    this.#warmSpecs.set(launchKey(spec), spec);
    this.#topUp();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  #waitForChange(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiters.indexOf(done);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal!.reason);
      };
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(done);
    });
  }
}
