import type { ExitInfo, LaunchSpec } from '../chrome/launch.js';
import type { Clock } from '../clock.js';
import { CreateAbortedError, LaunchError, ManagerClosedError, QueueFullError } from '../errors.js';
import { settleWithin } from '../deadline.js';
import { poolLog, since } from '../log.js';
import { PendingCreate, PoolEntry, abortError, afterRelease, aliveIn, countIn, idleOtherThan, launchError, poolKey, poolStats, slotsTaken, sparesOf, type Lease } from './entries.js';
import type { AcquireOptions, BrowserFactory, DispatcherEvents, DispatcherOptions, PoolBrowser, PoolStats, RetireReason } from './types.js';

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
  readonly #specs = new Map<string, { spec: LaunchSpec; capacity: number | undefined }>();
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
    return poolStats(this.#entries, this.#totals, this.#resetTimes);
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
    const key = poolKey(spec, opts.capacity, opts.flavour);
    // A browser on a named user-data-dir is launched for its create only: no spares of it.
    if (spec.userDataDir === undefined) this.#specs.set(key, { spec, capacity: opts.capacity });
    const req = new PendingCreate<B>(++this.#seq, opts.priority ?? 0, key, spec, opts.capacity);
    let at = this.#pending.findIndex((r) => r.priority < req.priority);
    if (at < 0) at = this.#pending.length;
    this.#pending.splice(at, 0, req);

    req.arm(signal, this.#opts.queueTimeoutMs, this.#clock, (err) => this.#settle(req, err));

    this.dispatch();
    if (!req.settled && !req.launch) {
      const waiting = this.#pending.filter((r) => !r.launch).length;
      if (waiting > this.#opts.maxQueue) this.#settle(req, new QueueFullError(this.#opts.maxQueue));
      else if (slotsTaken(this.#entries) >= this.#opts.maxConcurrent) {
        poolLog('create queued: priority %d, %d pending', req.priority, this.#pending.length);
        queued?.();
      }
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
    if (!e.leases.delete(lease)) return;
    e.sessionsServed++;
    if (e.state === 'retiring') return;
    const next = afterRelease(e, retire, this.#closed, this.#opts);
    if (next === 'retire') this.#retire(e, e.drainReason!);
    else if (next === 'drain') e.state = 'draining';
    else if (next === 'idle') this.#idle(e);
    else if (next === 'reset') this.#reset(e);
    this.dispatch();
  }

  /** Starts `minIdle` spares for `spec` ahead of the first create. */
  warm(spec: LaunchSpec, opts: Pick<AcquireOptions, 'capacity' | 'flavour'> = {}): void {
    this.#specs.set(poolKey(spec, opts.capacity, opts.flavour), { spec, capacity: opts.capacity });
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
    let slots = slotsTaken(this.#entries);
    /** Browsers being reset that earlier creates in this pass will wait for, per key. */
    const claimed = new Map<string, number>();
    for (const req of [...this.#pending]) {
      if (req.launch) {
        // A Grid launch may wait in Grid's queue behind our own idle browsers: take one of those.
        if (this.#opts.abandonLaunches && req.launch.state === 'launching') this.#switchToFree(req);
        continue;
      }
      if (slots >= this.#opts.maxConcurrent) break;
      const free = this.#takeFree(req.key);
      if (free) {
        this.#grant(req, free);
        slots++;
        continue;
      }
      const warm = [...this.#entries].find((e) => e.state === 'launching' && e.free > 0 && e.key === req.key);
      if (warm) {
        this.#own(req, warm);
        slots++;
        continue;
      }
      // A reset takes tens of ms, a launch hundreds and far more CPU: wait for a reset when one
      // is not already promised to an earlier create.
      const resetting = countIn(this.#entries, 'resetting', req.key) - (claimed.get(req.key) ?? 0);
      if (resetting > 0) {
        claimed.set(req.key, (claimed.get(req.key) ?? 0) + 1);
        slots++;
        continue;
      }
      if (aliveIn(this.#entries) >= this.#maxBrowsers && !this.#evictIdleOtherThan(req.key)) break;
      this.#launch(req.key, req.spec, req.capacity, req);
      slots++;
    }
    this.#topUp();
  }

  get #maxBrowsers(): number {
    return this.#opts.maxConcurrent + this.#opts.minIdle;
  }

  /**
   * A browser of `key` that can take a session: a shared one with room first (packing), else the
   * idle one that went idle last (LIFO: it keeps its caches warm; the others age out).
   */
  #takeFree(key: string): PoolEntry<B> | undefined {
    let idle: PoolEntry<B> | undefined;
    for (const e of this.#entries) {
      if (e.key !== key || (e.state !== 'idle' && e.state !== 'busy') || e.free <= 0) continue;
      if (!e.browser!.usable) {
        this.#retire(e, 'crashed');
        continue;
      }
      if (e.state === 'busy') return e;
      if (!idle || e.idleSince > idle.idleSince) idle = e;
    }
    return idle;
  }

  #idle(e: PoolEntry<B>): void {
    e.state = 'idle';
    e.idleSince = ++this.#seq;
  }

  #grant(req: PendingCreate<B>, e: PoolEntry<B>): void {
    const lease: Lease<B> = { browser: e.browser!, entry: e };
    e.state = 'busy';
    e.owners.delete(req);
    e.leases.add(lease);
    req.launch = undefined;
    this.#remove(req);
    poolLog('browser granted: pid %d', lease.browser.pid);
    req.resolve(lease);
  }

  /** Hands `req` a free browser instead of the launch it waits for, which is abandoned if no one else waits for it. */
  #switchToFree(req: PendingCreate<B>): void {
    const free = this.#takeFree(req.key);
    const launch = req.launch;
    if (!free || !launch) return;
    launch.owners.delete(req);
    this.#grant(req, free);
    if (launch.owners.size === 0) launch.abandon(new CreateAbortedError('a browser became free first'));
  }

  #own(req: PendingCreate<B>, e: PoolEntry<B>): void {
    e.owners.add(req);
    req.launch = e;
    req.stopQueueTimer();
  }

  /** Settles a create with an error, once; its launch, if any, carries on as a warm spare. */
  #settle(req: PendingCreate<B>, err: Error): void {
    if (req.settled) return;
    req.launch?.owners.delete(req);
    if (this.#opts.abandonLaunches && req.launch?.state === 'launching' && req.launch.owners.size === 0) req.launch.abandon(err);
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

  #launch(key: string, spec: LaunchSpec, capacity: number | undefined, owner?: PendingCreate<B>): void {
    const e = new PoolEntry<B>(key, spec, capacity);
    this.#entries.add(e);
    if (owner) this.#own(owner, e);
    const t0 = performance.now();
    poolLog('launch started: %s', owner ? 'for a create' : 'spare');
    const ac = new AbortController();
    e.abortLaunch = (reason) => ac.abort(reason);
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
    poolLog('launch finished: pid %d, %d ms', b.pid, Math.round(launchMs));
    this.#events.browserLaunched(b.pid, e.spec, launchMs);
    void b.exited.then((info) => this.#onExit(e, info));
    const owners = [...e.owners].filter((r) => !r.settled);
    e.owners.clear();
    this.#idle(e);
    // A browser on a named user-data-dir whose create gave up serves nobody else.
    if (this.#closed || (owners.length === 0 && e.spec.userDataDir !== undefined)) this.#retire(e, 'surplus', { quiet: true });
    else for (const owner of owners) this.#grant(owner, e);
    this.dispatch();
  }

  #launchFailed(e: PoolEntry<B>, err: unknown): void {
    this.#entries.delete(e);
    poolLog('launch failed: %s', err instanceof Error ? err.message : err);
    const owners = [...e.owners].filter((r) => !r.settled);
    e.owners.clear();
    if (owners.length > 0) {
      for (const owner of owners) this.#settle(owner, this.#closed ? new ManagerClosedError() : launchError(err, e.spec));
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
        (err: unknown) => (poolLog('reset failed: pid %d, %d ms: %s', e.browser!.pid, since(t0), err instanceof Error ? err.message : err), false),
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
          poolLog('reset done: pid %d, %d ms', e.browser!.pid, Math.round(took));
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
    poolLog('retired: pid %d, reason %s', b.pid, reason);
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
    const e = idleOtherThan(this.#entries, key);
    if (e) this.#retire(e, 'surplus');
    return e !== undefined;
  }

  /**
   * Keeps `minIdle` spares per launch configuration in use. A spare launches only while no other
   * launch is in flight: on a few cores, two launches at once slow the one a create waits for.
   */
  #topUp(): void {
    if (this.#opts.minIdle === 0 || Date.now() < this.#warmRetryAt || countIn(this.#entries, 'launching') > 0) return;
    for (const [key, { spec, capacity }] of this.#specs) {
      const waiting = this.#pending.filter((r) => r.key === key && !r.launch).length;
      if (sparesOf(this.#entries, key, capacity) - waiting < this.#opts.minIdle && aliveIn(this.#entries) < this.#maxBrowsers) {
        this.#launch(key, spec, capacity);
        return;
      }
    }
  }

  #track(p: Promise<unknown>): void {
    const tracked = p.finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }
}
