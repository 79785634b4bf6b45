import type { LaunchSpec } from '../chrome/launch.js';
import { ChromeSessionsError, CreateAbortedError, LaunchError } from '../errors.js';
import type { BrowserState, DispatcherOptions, PoolBrowser, RetireReason } from './types.js';

/** One browser of the pool, with its one state. Counts are derived from these, never kept by hand. */
export class PoolEntry<B extends PoolBrowser> {
  state: BrowserState = 'launching';
  /** Set once launched. */
  browser: B | undefined;
  /** Sessions it has served. */
  sessionsServed = 0;
  /** When it last became idle (a sequence number): the pool lends the most recent first. */
  idleSince = 0;
  /** The create a launch is for; undefined for a warm spare (any create may adopt it). */
  owner: PendingCreate<B> | undefined;

  constructor(
    readonly key: string,
    readonly spec: LaunchSpec,
  ) {}
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

  constructor(
    readonly seq: number,
    readonly priority: number,
    readonly key: string,
    readonly spec: LaunchSpec,
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
  if (!o.reuse) return 'no_reuse';
  if (!b.usable) return 'crashed';
  if (o.maxSessionsPerBrowser > 0 && e.sessionsServed >= o.maxSessionsPerBrowser) return 'max_sessions';
  if (o.maxBrowserAgeMs > 0 && Date.now() - b.startedAt >= o.maxBrowserAgeMs) return 'max_age';
  if (o.maxBrowserRssBytes > 0 && b.rssBytes() > o.maxBrowserRssBytes) return 'max_rss';
  return undefined;
}
