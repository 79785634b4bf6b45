import { launchKey, type LaunchSpec } from '../chrome/launch.js';
import type { Clock } from '../clock.js';
import { ChromeSessionsError, CreateAbortedError, LaunchError, QueueTimeoutError } from '../errors.js';
import type { BrowserState, DispatcherOptions, PoolBrowser, PoolStats, RetireReason } from './types.js';

/** One browser of the pool, with its one state. Counts are derived from these, never kept by hand. */
export class PoolEntry<B extends PoolBrowser> {
  state: BrowserState = 'launching';
  /** Set once launched. */
  browser: B | undefined;
  /** Sessions it has served. */
  sessionsServed = 0;
  /** The sessions holding it now (one, or up to `capacity` for a shared browser). */
  readonly leases = new Set<Lease<B>>();
  /** Creates waiting for this launch; none for a warm spare (any create may adopt it). */
  readonly owners = new Set<PendingCreate<B>>();
  /** Why a draining browser retires once its last session ends. */
  drainReason: RetireReason | undefined;
  /** When it last became idle (a sequence number): the pool lends the most recent first. */
  idleSince = 0;
  /** Aborts its launch while it is launching. */
  abortLaunch: ((reason: Error) => void) | undefined;
  /** Its launch was aborted because no create waited for it any more: it takes no new ones. */
  abandoned = false;

  constructor(
    readonly key: string,
    readonly spec: LaunchSpec,
    /** Sessions it may hold at once, each in a context of its own; undefined: one, lent whole and reset after. */
    capacityOrWhole: number | undefined,
  ) {
    this.shared = capacityOrWhole !== undefined;
    this.capacity = capacityOrWhole ?? 1;
  }

  /** Lent to sessions in contexts of their own: never reset, idle again once they have ended. */
  readonly shared: boolean;
  /** Sessions it may hold at once. */
  readonly capacity: number;

  /** Aborts its launch, which no create waits for any more (`abandonLaunches`). */
  abandon(reason: Error): void {
    this.abandoned = true;
    this.abortLaunch?.(reason);
  }

  /** Sessions it can still take, counting creates already waiting for its launch. */
  get free(): number {
    if (this.abandoned) return 0;
    return this.capacity - this.leases.size - this.owners.size;
  }
}

/** A browser lent to one session; give it back with {@link Dispatcher.release}. */
export interface Lease<B extends PoolBrowser> {
  readonly browser: B;
  readonly entry: PoolEntry<B>;
}

/** A create waiting for a browser (tarn's `PendingOperation`): a promise, a deadline, an abort. */
export class PendingCreate<B extends PoolBrowser> {
  /** Its own launch, once one is started for it (or a warm one it adopted). */
  launch: PoolEntry<B> | undefined;
  settled = false;
  readonly promise: Promise<Lease<B>>;
  resolve!: (lease: Lease<B>) => void;
  reject!: (err: Error) => void;
  /** Clears the queue timer and the abort listener. */
  cleanup: () => void = () => {};
  /** Clears the queue timer only (its launch has started: `launchTimeoutMs` bounds it now). */
  stopQueueTimer: () => void = () => {};

  /** Arms the abort listener and the queue deadline, each failing the create through `fail`. */
  arm(signal: AbortSignal | undefined, queueTimeoutMs: number, clock: Clock, fail: (err: Error) => void): void {
    const onAbort = () => fail(abortError(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer = queueTimeoutMs > 0 ? clock.setTimeout(() => fail(new QueueTimeoutError(queueTimeoutMs)), queueTimeoutMs) : undefined;
    this.stopQueueTimer = () => {
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
    };
    this.cleanup = () => {
      signal?.removeEventListener('abort', onAbort);
      this.stopQueueTimer();
    };
  }

  constructor(
    readonly seq: number,
    readonly priority: number,
    readonly key: string,
    readonly spec: LaunchSpec,
    readonly capacity: number | undefined,
  ) {
    this.promise = new Promise<Lease<B>>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/** The error a create gets when its signal aborts: the reason when it is one of ours. */
export function abortError(reason: unknown): Error {
  if (reason instanceof ChromeSessionsError) return reason;
  return new CreateAbortedError('signal aborted', { cause: reason });
}

/** A launch failure as a typed error. */
export function launchError(err: unknown, spec: LaunchSpec): Error {
  if (err instanceof ChromeSessionsError) return err;
  return new LaunchError(`Could not attach to Chrome: ${(err as Error)?.message ?? String(err)}`, spec.executablePath, '', { cause: err });
}

/** The recycle rule that retires a browser after a session, if any. */
export function recycleReason<B extends PoolBrowser>(e: PoolEntry<B>, o: DispatcherOptions): RetireReason | undefined {
  const b = e.browser!;
  if (!b.usable) return 'crashed';
  if (o.maxSessionsPerBrowser > 0 && e.sessionsServed >= o.maxSessionsPerBrowser) return 'max_sessions';
  if (o.maxBrowserAgeMs > 0 && Date.now() - b.startedAt >= o.maxBrowserAgeMs) return 'max_age';
  if (o.maxBrowserRssBytes > 0 && b.rssBytes() > o.maxBrowserRssBytes) return 'max_rss';
  return undefined;
}

/** Browsers launched alike but lent differently (whole or shared, reused or not) are pooled apart. */
export function poolKey(spec: LaunchSpec, capacity: number | undefined, flavour = ''): string {
  return `${launchKey(spec)}#${capacity !== undefined ? 'shared' : 'whole'}${flavour ? `#${flavour}` : ''}`;
}

/** The pool's counters: browsers by state, and running totals. */
export function poolStats<B extends PoolBrowser>(entries: Iterable<PoolEntry<B>>, totals: { launches: number; resets: number; recycles: number }, resetTimes: readonly number[]): PoolStats {
  const count: Record<BrowserState, number> = { launching: 0, idle: 0, busy: 0, draining: 0, resetting: 0, retiring: 0 };
  for (const e of entries) count[e.state]++;
  const sorted = [...resetTimes].sort((a, b) => a - b);
  return {
    idle: count.idle,
    busy: count.busy + count.draining,
    resetting: count.resetting,
    launching: count.launching,
    ...totals,
    resetMsP50: sorted.length ? sorted[Math.floor(sorted.length / 2)] : undefined,
  };
}

/** Slots held by sessions or promised to creates whose browser is launching. */
export function slotsTaken<B extends PoolBrowser>(entries: Iterable<PoolEntry<B>>): number {
  let n = 0;
  // A retired browser's sessions are ending (it crashed or hung): their slots are free already.
  for (const e of entries) if (e.state !== 'retiring') n += e.leases.size + e.owners.size;
  return n;
}

/** Browsers in `state` (of pool key `key`, when given). */
export function countIn<B extends PoolBrowser>(entries: Iterable<PoolEntry<B>>, state: BrowserState, key?: string): number {
  let n = 0;
  for (const e of entries) if (e.state === state && (key === undefined || e.key === key)) n++;
  return n;
}

/** Browsers alive or launching; a retiring one has left the budget already. */
export function aliveIn<B extends PoolBrowser>(entries: Iterable<PoolEntry<B>>): number {
  let n = 0;
  for (const e of entries) if (e.state !== 'retiring') n++;
  return n;
}

/** Sessions the shared browsers of `key` can still take (their free places), for the spares rule. */
export function roomIn<B extends PoolBrowser>(entries: Iterable<PoolEntry<B>>, key: string): number {
  let n = 0;
  for (const e of entries) if (e.key === key && (e.state === 'idle' || e.state === 'busy')) n += Math.max(0, e.free);
  return n;
}

/** An idle browser of another launch configuration than `key` (one to retire to make room). */
export function idleOtherThan<B extends PoolBrowser>(entries: Iterable<PoolEntry<B>>, key: string): PoolEntry<B> | undefined {
  for (const e of entries) if (e.state === 'idle' && e.key !== key) return e;
  return undefined;
}

/**
 * Spares of `key`: idle or resetting whole browsers, or, for shared browsers (`capacity` given),
 * the room left in them (a context opens in ms, so room for one more session is a spare already).
 */
export function sparesOf<B extends PoolBrowser>(entries: Iterable<PoolEntry<B>>, key: string, capacity: number | undefined): number {
  return capacity === undefined ? countIn(entries, 'idle', key) + countIn(entries, 'resetting', key) : roomIn(entries, key);
}

/**
 * A browser's next step once a lease comes back: `retire` now (a crash ends it for every session
 * it holds), `drain` (a shared browser still serving others waits for them under a recycle
 * rule), `keep` serving, `idle` (a shared browser: its sessions' contexts are gone, nothing to
 * reset) or `reset`. Sets `drainReason` to the retire reason.
 */
export function afterRelease<B extends PoolBrowser>(e: PoolEntry<B>, retire: RetireReason | undefined, closed: boolean, opts: DispatcherOptions): 'retire' | 'drain' | 'keep' | 'idle' | 'reset' {
  if (retire === 'crashed' || retire === 'unresponsive') {
    e.drainReason = retire;
    return 'retire';
  }
  const reason = retire ?? (closed ? 'surplus' : recycleReason(e, opts));
  if (reason) e.drainReason ??= reason;
  if (e.leases.size > 0) return e.drainReason ? 'drain' : 'keep';
  if (e.drainReason) return 'retire';
  return e.shared ? 'idle' : 'reset';
}
