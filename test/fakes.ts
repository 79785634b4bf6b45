/**
 * Fakes for the dispatcher's unit tests, in addition to the real-Chrome tests: a browser whose
 * reset, death and close the test decides, a factory whose launches the test settles, and a
 * clock the test moves.
 */
import type { ExitInfo, LaunchSpec } from '../lib/chrome/launch.js';
import type { Clock } from '../lib/clock.js';
import { Dispatcher, type DispatcherEvents } from '../lib/pool/dispatcher.js';
import type { BrowserFactory, DispatcherOptions, PoolBrowser, RetireReason } from '../lib/pool/types.js';

/** A promise with its resolve and reject in hand. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

let nextPid = 10_000;

/** A browser the test drives: `reset` answers as `resetWith` says, `die()` is a crash. */
export class FakeBrowser implements PoolBrowser {
  readonly pid = nextPid++;
  readonly startedAt = Date.now();
  readonly exited: Promise<ExitInfo>;
  alive = true;
  closes = 0;
  resets = 0;
  /** What the next resets do; default: succeed at once. */
  resetWith: () => Promise<void> = () => Promise.resolve();
  /** What close does; default: the process exits at once. */
  closeWith: () => Promise<void> = () => {
    this.die({ code: 0, signal: null });
    return Promise.resolve();
  };
  rss = 0;
  #exit!: (info: ExitInfo) => void;

  constructor() {
    this.exited = new Promise((resolve) => {
      this.#exit = resolve;
    });
  }

  get usable(): boolean {
    return this.alive;
  }

  reset(): Promise<void> {
    this.resets++;
    return this.resetWith();
  }

  close(): Promise<void> {
    this.closes++;
    return this.closeWith();
  }

  rssBytes(): number {
    return this.rss;
  }

  /** The process exits (a crash unless the pool was closing it). */
  die(info: ExitInfo = { code: null, signal: 'SIGKILL' }): void {
    if (!this.alive) return;
    this.alive = false;
    this.#exit(info);
  }
}

/** One launch the factory was asked for; the test settles it. */
export interface FakeLaunch {
  readonly spec: LaunchSpec;
  readonly signal: AbortSignal;
  readonly result: Deferred<FakeBrowser>;
  /** Settles the launch with a new browser, and returns it. */
  succeed(): FakeBrowser;
}

/** A factory whose launches wait for the test, or settle at once with `auto`. */
export class FakeFactory implements BrowserFactory<FakeBrowser> {
  readonly launches: FakeLaunch[] = [];
  /** Settle every launch with a new browser as soon as it is asked for. */
  auto = false;

  launch(spec: LaunchSpec, signal: AbortSignal): Promise<FakeBrowser> {
    const result = deferred<FakeBrowser>();
    const launch: FakeLaunch = {
      spec,
      signal,
      result,
      succeed: () => {
        const b = new FakeBrowser();
        result.resolve(b);
        return b;
      },
    };
    this.launches.push(launch);
    if (this.auto) launch.succeed();
    return result.promise;
  }
}

/** A clock that moves only when the test says so. */
export class FakeClock implements Clock {
  #now = 1_700_000_000_000;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Moves time forward, running every timer that falls due, in order. */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      const due = [...this.#timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = until;
  }
}

export const SPEC: LaunchSpec = { executablePath: '/fake/chrome', headless: 'shell', args: [], env: {} };

/** Everything the dispatcher reported, in order. */
export interface Reported {
  launched: number[];
  exited: { pid: number; expected: boolean }[];
  reset: number[];
  recycled: { pid: number; reason: RetireReason }[];
}

export const DEFAULTS: DispatcherOptions = {
  maxConcurrent: 1,
  minIdle: 0,
  maxQueue: Infinity,
  queueTimeoutMs: 0,
  launchTimeoutMs: 5_000,
  maxSessionsPerBrowser: 0,
  maxBrowserAgeMs: 0,
  maxBrowserRssBytes: 0,
  resetTimeoutMs: 5_000,
  closeTimeoutMs: 1_000,
};

/** A dispatcher over fakes, with what it reports. */
export function fakeDispatcher(opts: Partial<DispatcherOptions> = {}): { d: Dispatcher<FakeBrowser>; factory: FakeFactory; clock: FakeClock; reported: Reported } {
  const factory = new FakeFactory();
  const clock = new FakeClock();
  const reported: Reported = { launched: [], exited: [], reset: [], recycled: [] };
  const events: DispatcherEvents = {
    browserLaunched: (pid) => reported.launched.push(pid),
    browserExited: (pid, _info, expected) => reported.exited.push({ pid, expected }),
    browserReset: (pid) => reported.reset.push(pid),
    browserRecycled: (pid, reason) => reported.recycled.push({ pid, reason }),
  };
  const d = new Dispatcher<FakeBrowser>({ ...DEFAULTS, ...opts }, factory, events, clock);
  return { d, factory, clock, reported };
}

/** Lets pending promise callbacks run. */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** How a promise ended, without throwing: 'pending' if it has not settled after a flush. */
export async function outcome<T>(p: Promise<T>): Promise<{ state: 'fulfilled'; value: T } | { state: 'rejected'; error: unknown } | { state: 'pending' }> {
  let result: { state: 'fulfilled'; value: T } | { state: 'rejected'; error: unknown } | { state: 'pending' } = { state: 'pending' };
  p.then(
    (value) => (result = { state: 'fulfilled', value }),
    (error: unknown) => (result = { state: 'rejected', error }),
  );
  await flush();
  return result;
}
