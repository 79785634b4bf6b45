import { launchKey, type ExitInfo, type LaunchSpec } from '../chrome/launch.js';
import type { Clock } from '../clock.js';
import { LaunchError, ManagerClosedError, QueueFullError, QueueTimeoutError } from '../errors.js';
import { settleWithin } from '../deadline.js';
import { PendingCreate, PoolEntry, abortError, launchError, recycleReason, type Lease } from './entries.js';
import type { AcquireOptions, BrowserFactory, BrowserState, DispatcherEvents, DispatcherOptions, PoolBrowser, PoolStats, RetireReason } from './types.js';

export type { AcquireOptions, DispatcherEvents, Lease, PoolEntry };

/** A wait for a warm launch that failed before the pool tries another. */
const WARM_RETRY_MS = 1000;

/**
 * Pending creates and pooled browsers, and the one place that hands browsers to creates
 * ({@link Dispatcher.dispatch}, run after every state change, as tarn's `_tryAcquireOrCreate`
 * and generic-pool's `_dispense`). At most `maxConcurrent` creates hold or await a browser of
 * their own; at most `maxConcurrent + minIdle` browsers are alive. A create prefers an idle
 * browser of its launch configuration, then a warm launch in flight, then a browser being reset
 * (tens of ms), and launches only when none of those is there.
 */
export class Dispatcher<B extends PoolBrowser> {
  readonly #opts: DispatcherOptions;
  readonly #factory: BrowserFactory<B>;
  readonly #events: DispatcherEvents;
  readonly #clock: Clock;
  readonly #entries = new Set<PoolEntry<B>>();
  /** Waiting creates, best first: priority descending, then arrival. */
  readonly #pending: PendingCreate<B>[] = [];
  /** Launch configurations that creates have asked for: the spares follow them. */
  readonly #specs = new Map<string, LaunchSpec>();
  /** Work that `close()` awaits: launches and closes in flight. */
  readonly #inFlight = new Set<Promise<unknown>>();
  /** Aborts the launches in flight at `close()`. */
  readonly #closeLaunches = new AbortController();
  readonly #resetTimes: number[] = [];
  readonly #totals = { launches: 0, resets: 0, recycles: 0 };
  #seq = 0;
  #closed = false;
  #dispatching = false;
  #again = false;
  #warmRetryAt = 0;
  #warmRetryTimer: NodeJS.Timeout | undefined;

  constructor(opts: DispatcherOptions, factory: BrowserFactory<B>, events: DispatcherEvents, clock: Clock) {
    this.#opts = opts;
    this.#factory = factory;
    this.#events = events;
    this.#clock = clock;
  }

  /** Counters derived from the browsers' states. */
  stats(): PoolStats {
    const sorted = [...this.#resetTimes].sort((a, b) => a - b);
    return {
      idle: this.#count('idle'),
      busy: this.#count('busy'),
      resetting: this.#count('resetting'),
      launching: this.#count('launching'),
      ...this.#totals,
      resetMsP50: sorted.length ? sorted[Math.floor(sorted.length / 2)] : undefined,
    };
  }

  /** Creates waiting for a slot or a browser. */
  get pending(): number {
    return this.#pending.length;
  }

  /**
   * A browser for `spec`. Settles once: with a lease, or with `QueueFullError`,
   * `QueueTimeoutError`, `CreateAbortedError` (or the signal's own typed reason), `LaunchError`
   * or `ManagerClosedError`. `queued()` is called when it has to wait for a slot.
   */
  acquire(spec: LaunchSpec, opts: AcquireOptions = {}, queued?: () => void): Promise<Lease<B>> {
    if (this.#closed) return Promise.reject(new ManagerClosedError());
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    const key = launchKey(spec);
    this.#specs.set(key, spec);
    const req = new PendingCreate<B>(++this.#seq, opts.priority ?? 0, key, spec);
    let at = this.#pending.findIndex((r) => r.priority < req.priority);
    if (at < 0) at = this.#pending.length;
    this.#pending.splice(at, 0, req);

    const onAbort = () => this.#settle(req, abortError(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer = this.#opts.queueTimeoutMs > 0 ? this.#clock.setTimeout(() => this.#settle(req, new QueueTimeoutError(this.#opts.queueTimeoutMs)), this.#opts.queueTimeoutMs) : undefined;
    req.stopQueueTimer = () => {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      timer = undefined;
    };
    req.cleanup = () => {
      signal?.removeEventListener('abort', onAbort);
      req.stopQueueTimer();
    };

    this.dispatch();
    if (!req.settled && !req.launch) {
      const waiting = this.#pending.filter((r) => !r.launch).length;
      if (waiting > this.#opts.maxQueue) this.#settle(req, new QueueFullError(this.#opts.maxQueue));
      else if (this.#slotsTaken() >= this.#opts.maxConcurrent) queued?.();
    }
    return req.promise;
  }

  /**
   * Takes a browser back after its session. `retire` (a crash, a hang) retires it; otherwise it
   * is reset in the background and returns to the pool, unless a recycle rule retires it.
   * Idempotent: a lease whose browser already left the pool is ignored.
   */
  release(lease: Lease<B>, retire?: RetireReason): void {
    const e = lease.entry;
    if (e.state !== 'busy') return;
    e.sessionsServed++;
    const reason = retire ?? (this.#closed ? 'surplus' : recycleReason(e, this.#opts));
    if (reason) this.#retire(e, reason);
    else this.#reset(e);
    this.dispatch();
  }

  /** Starts `minIdle` spares for `spec` ahead of the first create. */
  warm(spec: LaunchSpec): void {
    this.#specs.set(launchKey(spec), spec);
    this.dispatch();
  }

  /**
   * Rejects every waiting create with `ManagerClosedError`, aborts launches in flight, closes
   * every browser, and resolves once they are gone (each close bounded by `closeTimeoutMs`).
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      clearTimeout(this.#warmRetryTimer);
      for (const req of [...this.#pending]) this.#settle(req, new ManagerClosedError());
      this.#closeLaunches.abort(new ManagerClosedError());
      for (const e of [...this.#entries]) if (e.state !== 'launching' && e.state !== 'retiring') this.#retire(e, 'surplus', { quiet: true });
    }
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** Hands browsers to waiting creates; runs after every state change (re-entrant calls loop). */
  dispatch(): void {
    if (this.#dispatching) {
      this.#again = true;
      return;
    }
    this.#dispatching = true;
    try {
      do {
        this.#again = false;
        this.#dispatchOnce();
      } while (this.#again);
    } finally {
      this.#dispatching = false;
    }
  }

  #dispatchOnce(): void {
    if (this.#closed) return;
    let slots = this.#slotsTaken();
    /** Browsers being reset that earlier creates in this pass will wait for, per key. */
    const claimed = new Map<string, number>();
    for (const req of [...this.#pending]) {
      if (req.launch) continue;
      if (slots >= this.#opts.maxConcurrent) break;
      const idle = this.#takeIdle(req.key);
      if (idle) {
        this.#grant(req, idle);
        slots++;
        continue;
      }
      const warm = [...this.#entries].find((e) => e.state === 'launching' && !e.owner && e.key === req.key);
      if (warm) {
        this.#own(req, warm);
        slots++;
        continue;
      }
      // A reset takes tens of ms, a launch hundreds and far more CPU: wait for a reset when one
      // is not already promised to an earlier create.
      const resetting = this.#count('resetting', req.key) - (claimed.get(req.key) ?? 0);
      if (resetting > 0) {
        claimed.set(req.key, (claimed.get(req.key) ?? 0) + 1);
        slots++;
        continue;
      }
      if (this.#alive() >= this.#maxBrowsers && !this.#evictIdleOtherThan(req.key)) break;
      this.#launch(req.key, req.spec, req);
      slots++;
    }
    this.#topUp();
  }

  get #maxBrowsers(): number {
    return this.#opts.maxConcurrent + this.#opts.minIdle;
  }

  /** Slots held by sessions or promised to creates whose browser is launching. */
  #slotsTaken(): number {
    let n = 0;
    for (const e of this.#entries) if (e.state === 'busy' || (e.state === 'launching' && e.owner)) n++;
    return n;
  }

  #count(state: BrowserState, key?: string): number {
    let n = 0;
    for (const e of this.#entries) if (e.state === state && (key === undefined || e.key === key)) n++;
    return n;
  }

  /** Browsers alive or launching; a retiring one has left the budget already. */
  #alive(): number {
    let n = 0;
    for (const e of this.#entries) if (e.state !== 'retiring') n++;
    return n;
  }

  /** The idle browser of `key` that went idle last (LIFO: it keeps its caches warm; the others age out). */
  #takeIdle(key: string): PoolEntry<B> | undefined {
    let best: PoolEntry<B> | undefined;
    for (const e of this.#entries) {
      if (e.state !== 'idle' || e.key !== key) continue;
      if (!e.browser!.usable) this.#retire(e, 'crashed');
      else if (!best || e.idleSince > best.idleSince) best = e;
    }
    return best;
  }

  #idle(e: PoolEntry<B>): void {
    e.state = 'idle';
    e.idleSince = ++this.#seq;
  }

  #grant(req: PendingCreate<B>, e: PoolEntry<B>): void {
    e.state = 'busy';
    e.owner = undefined;
    req.launch = undefined;
    this.#remove(req);
    req.resolve({ browser: e.browser!, entry: e });
  }

  #own(req: PendingCreate<B>, e: PoolEntry<B>): void {
    e.owner = req;
    req.launch = e;
    req.stopQueueTimer();
  }

  /** Settles a create with an error, once; its launch, if any, carries on as a warm spare. */
  #settle(req: PendingCreate<B>, err: Error): void {
    if (req.settled) return;
    if (req.launch?.owner === req) req.launch.owner = undefined;
    req.launch = undefined;
    this.#remove(req);
    req.reject(err);
    this.dispatch();
  }

  #remove(req: PendingCreate<B>): void {
    req.settled = true;
    req.cleanup();
    const i = this.#pending.indexOf(req);
    if (i >= 0) this.#pending.splice(i, 1);
  }

  #launch(key: string, spec: LaunchSpec, owner?: PendingCreate<B>): void {
    const e = new PoolEntry<B>(key, spec);
    this.#entries.add(e);
    if (owner) this.#own(owner, e);
    const t0 = performance.now();
    const ac = new AbortController();
    const onClose = () => ac.abort(this.#closeLaunches.signal.reason);
    this.#closeLaunches.signal.addEventListener('abort', onClose, { once: true });
    const launching = this.#factory.launch(spec, ac.signal);
    const ms = this.#opts.launchTimeoutMs;
    const bounded = settleWithin(launching, ms, () => {
      const err = new LaunchError(`Chrome was not launched and attached within ${ms} ms`, spec.executablePath, '');
      ac.abort(err);
      return err;
    });
    // A launch that the deadline gave up on may still come back: close what it brings.
    launching.then((b) => (bounded.timedOut() ? b.close() : undefined), () => {});
    const done = bounded.promise.then(
      (b) => this.#launched(e, b, performance.now() - t0),
      (err: unknown) => this.#launchFailed(e, err),
    );
    this.#track(done.finally(() => this.#closeLaunches.signal.removeEventListener('abort', onClose)));
  }

  #launched(e: PoolEntry<B>, b: B, launchMs: number): void {
    e.browser = b;
    this.#totals.launches++;
    this.#warmRetryAt = 0;
    this.#events.browserLaunched(b.pid, e.spec, launchMs);
    void b.exited.then((info) => this.#onExit(e, info));
    const owner = e.owner;
    e.owner = undefined;
    this.#idle(e);
    if (this.#closed) this.#retire(e, 'surplus', { quiet: true });
    else if (owner && !owner.settled) this.#grant(owner, e);
    this.dispatch();
  }

  #launchFailed(e: PoolEntry<B>, err: unknown): void {
    this.#entries.delete(e);
    const owner = e.owner;
    e.owner = undefined;
    if (owner && !owner.settled) {
      this.#settle(owner, this.#closed ? new ManagerClosedError() : launchError(err, e.spec));
    } else if (!this.#closed) {
      // A spare that failed: wait a little before the next, so a broken binary does not spin.
      this.#warmRetryAt = Date.now() + WARM_RETRY_MS;
      clearTimeout(this.#warmRetryTimer);
      this.#warmRetryTimer = setTimeout(() => this.dispatch(), WARM_RETRY_MS);
      this.#warmRetryTimer.unref();
    }
    this.dispatch();
  }

  #onExit(e: PoolEntry<B>, info: ExitInfo): void {
    const expected = e.state === 'retiring';
    this.#events.browserExited(e.browser!.pid, info, expected);
    if (!expected) this.#retire(e, 'crashed');
    this.dispatch();
  }

  #reset(e: PoolEntry<B>): void {
    e.state = 'resetting';
    const t0 = performance.now();
    const ms = this.#opts.resetTimeoutMs;
    const reset = settleWithin(e.browser!.reset(ms), ms, () => new Error(`reset took over ${ms} ms`));
    this.#track(
      reset.promise.then(
        () => true,
        () => false,
      ).then((ok) => {
        if (e.state !== 'resetting') return; // it died meanwhile and was retired
        if (!ok || this.#closed) {
          // A reset that failed because the browser died is a crash, not a failed reset.
          const reason = this.#closed ? 'surplus' : e.browser!.usable ? 'reset_failed' : 'crashed';
          this.#retire(e, reason, { quiet: this.#closed });
        } else {
          const took = performance.now() - t0;
          this.#totals.resets++;
          this.#resetTimes.push(took);
          if (this.#resetTimes.length > 1000) this.#resetTimes.shift();
          this.#idle(e);
          this.#events.browserReset(e.browser!.pid, took);
        }
        this.dispatch();
      }),
    );
  }

  #retire(e: PoolEntry<B>, reason: RetireReason, opts: { quiet?: boolean } = {}): void {
    if (e.state === 'retiring' || e.state === 'launching') return;
    e.state = 'retiring';
    const b = e.browser!;
    if (!opts.quiet) {
      this.#totals.recycles++;
      this.#events.browserRecycled(b.pid, reason);
    }
    const closeMs = this.#opts.closeTimeoutMs ?? 10_000;
    this.#track(settleWithin(b.close(), closeMs, () => new Error('close timed out')).promise.catch(() => {}).finally(() => this.#entries.delete(e)));
    this.dispatch();
  }

  /** Makes room for `key` by retiring an idle browser of another launch configuration. */
  #evictIdleOtherThan(key: string): boolean {
    for (const e of this.#entries) {
      if (e.state === 'idle' && e.key !== key) {
        this.#retire(e, 'surplus');
        return true;
      }
    }
    return false;
  }

  /**
   * Keeps `minIdle` spares per launch configuration in use. A spare launches only while no other
   * launch is in flight: on a few cores, two launches at once slow the one a create waits for.
   */
  #topUp(): void {
    if (this.#opts.minIdle === 0 || Date.now() < this.#warmRetryAt) return;
    if (this.#count('launching') > 0) return;
    for (const [key, spec] of this.#specs) {
      const waiting = this.#pending.filter((r) => r.key === key && !r.launch).length;
      const spare = this.#count('idle', key) + this.#count('resetting', key) - waiting;
      if (spare < this.#opts.minIdle && this.#alive() < this.#maxBrowsers) {
        this.#launch(key, spec);
        return;
      }
    }
  }

  #track(p: Promise<unknown>): void {
    const tracked = p.finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }
}
