/**
 * The dispatcher with fake browsers: every race of the pool in milliseconds. The real-Chrome
 * versions of the same faults are in faults.test.ts and chaos.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CreateAbortedError, LaunchError, ManagerClosedError, QueueFullError, QueueTimeoutError, SessionNotFoundError } from '../lib/index.js';
import { SPEC, deferred, fakeDispatcher, flush, outcome } from './fakes.js';

describe('a browser that dies while it is being reset', () => {
  it('wakes the create waiting for it, which launches instead of hanging', async () => {
    const { d, factory, reported } = fakeDispatcher({ maxConcurrent: 1 });
    const first = d.acquire(SPEC);
    const b1 = factory.launches[0]!.succeed();
    const lease = await first;
    b1.resetWith = () => new Promise(() => {}); // a reset that never ends on its own
    d.release(lease);
    expect(d.stats()).toMatchObject({ resetting: 1, busy: 0 });

    const second = d.acquire(SPEC);
    await flush();
    // It waits for the reset (cheaper than a launch) instead of launching.
    expect(factory.launches).toHaveLength(1);
    expect((await outcome(second)).state).toBe('pending');

    b1.die();
    await flush();
    expect(reported.recycled).toEqual([{ pid: b1.pid, reason: 'crashed' }]);
    expect(reported.exited).toEqual([{ pid: b1.pid, expected: false }]);
    expect(factory.launches).toHaveLength(2);
    const b2 = factory.launches[1]!.succeed();
    expect((await second).browser).toBe(b2);
  });

  it('a reset that fails retires the browser and the waiting create launches', async () => {
    const { d, factory, reported } = fakeDispatcher({ maxConcurrent: 1 });
    factory.auto = true;
    const lease = await d.acquire(SPEC);
    const reset = deferred<void>();
    lease.browser.resetWith = () => reset.promise;
    d.release(lease);
    const second = d.acquire(SPEC);
    reset.reject(new Error('Storage.clearDataForOrigin: Internal error'));
    const next = await second;
    expect(next.browser).not.toBe(lease.browser);
    expect(reported.recycled).toEqual([{ pid: lease.browser.pid, reason: 'reset_failed' }]);
    expect(lease.browser.closes).toBe(1);
  });

  it('a reset past resetTimeoutMs retires the browser (reset_failed)', async () => {
    const { d, factory, reported } = fakeDispatcher({ maxConcurrent: 1, resetTimeoutMs: 20 });
    factory.auto = true;
    const lease = await d.acquire(SPEC);
    lease.browser.resetWith = () => new Promise(() => {});
    d.release(lease);
    const next = await d.acquire(SPEC);
    expect(next.browser).not.toBe(lease.browser);
    expect(reported.recycled).toEqual([{ pid: lease.browser.pid, reason: 'reset_failed' }]);
  });
});

describe('launches', () => {
  it('a launch that hangs is bounded by launchTimeoutMs: LaunchError, the launch is aborted, a late browser is closed', async () => {
    const { d, factory } = fakeDispatcher({ launchTimeoutMs: 30 });
    const err = await d.acquire(SPEC).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).code).toBe('ERR_LAUNCH');
    expect(factory.launches[0]!.signal.aborted).toBe(true);
    // The factory ignored the abort and brings a browser after all: it is closed, not leaked.
    const late = factory.launches[0]!.succeed();
    await flush();
    expect(late.closes).toBe(1);
    expect(d.stats()).toMatchObject({ idle: 0, busy: 0, launching: 0 });
  });

  it('an attach that fails with a raw error rejects with LaunchError (cause kept) and frees the slot', async () => {
    const { d, factory } = fakeDispatcher({ maxConcurrent: 1 });
    const first = d.acquire(SPEC);
    const queued = d.acquire(SPEC);
    const raw = new Error('socket hang up');
    factory.launches[0]!.result.reject(raw);
    const err = await first.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).cause).toBe(raw);
    // The failure is not cached: the next create launches again.
    await flush();
    expect(factory.launches).toHaveLength(2);
    factory.launches[1]!.succeed();
    expect((await queued).browser.pid).toBeGreaterThan(0);
  });

  it('a create adopts a warm launch in flight instead of starting a second one', async () => {
    const { d, factory } = fakeDispatcher({ maxConcurrent: 2, minIdle: 1 });
    d.warm(SPEC);
    expect(factory.launches).toHaveLength(1);
    const lease = d.acquire(SPEC);
    expect(factory.launches).toHaveLength(1);
    const b = factory.launches[0]!.succeed();
    expect((await lease).browser).toBe(b);
    // The pool tops its spare up again.
    await flush();
    expect(factory.launches).toHaveLength(2);
  });

  it('a failing warm launch does not spin: the next try waits', async () => {
    const { d, factory } = fakeDispatcher({ maxConcurrent: 1, minIdle: 1 });
    d.warm(SPEC);
    factory.launches[0]!.result.reject(new LaunchError('boom', '/fake/chrome', ''));
    await flush();
    expect(factory.launches).toHaveLength(1);
    await d.close();
  });
});

describe('aborts at every stage', () => {
  it('an already aborted signal rejects with CreateAbortedError, not a DOMException', async () => {
    const { d, factory } = fakeDispatcher();
    const err = await d.acquire(SPEC, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CreateAbortedError);
    expect(factory.launches).toHaveLength(0);
  });

  it('while waiting for a slot: rejects, and leaves nothing pending', async () => {
    const { d, factory } = fakeDispatcher();
    factory.auto = true;
    await d.acquire(SPEC);
    const ac = new AbortController();
    const waiting = d.acquire(SPEC, { signal: ac.signal });
    expect(d.pending).toBe(1);
    ac.abort(new Error('user gave up'));
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CreateAbortedError);
    expect((err as CreateAbortedError).cause).toEqual(new Error('user gave up'));
    expect(d.pending).toBe(0);
  });

  it('while waiting for a reset: rejects; the reset browser goes idle', async () => {
    const { d, factory } = fakeDispatcher();
    factory.auto = true;
    const lease = await d.acquire(SPEC);
    const reset = deferred<void>();
    lease.browser.resetWith = () => reset.promise;
    d.release(lease);
    const ac = new AbortController();
    const waiting = d.acquire(SPEC, { signal: ac.signal });
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(CreateAbortedError);
    reset.resolve();
    await flush();
    expect(d.stats()).toMatchObject({ idle: 1, resetting: 0, busy: 0 });
  });

  it('while its browser launches: rejects at once; the launch becomes a spare the next create takes', async () => {
    const { d, factory } = fakeDispatcher();
    const ac = new AbortController();
    const first = d.acquire(SPEC, { signal: ac.signal });
    ac.abort();
    await expect(first).rejects.toBeInstanceOf(CreateAbortedError);
    const b = factory.launches[0]!.succeed();
    await flush();
    expect(d.stats()).toMatchObject({ idle: 1, launching: 0 });
    expect((await d.acquire(SPEC)).browser).toBe(b);
    expect(factory.launches).toHaveLength(1);
  });

  it("a signal whose reason is one of our errors rejects with that error", async () => {
    const { d, factory } = fakeDispatcher();
    factory.auto = true;
    await d.acquire(SPEC);
    const ac = new AbortController();
    const waiting = d.acquire(SPEC, { signal: ac.signal });
    const reason = new SessionNotFoundError('x');
    ac.abort(reason);
    await expect(waiting).rejects.toBe(reason);
  });
});

describe('the queue', () => {
  it('queueTimeoutMs: a create waiting for a slot rejects with QueueTimeoutError (fake clock)', async () => {
    const { d, factory, clock } = fakeDispatcher({ queueTimeoutMs: 1_000 });
    factory.auto = true;
    await d.acquire(SPEC);
    const waiting = d.acquire(SPEC);
    clock.advance(999);
    expect((await outcome(waiting)).state).toBe('pending');
    clock.advance(1);
    await expect(waiting).rejects.toBeInstanceOf(QueueTimeoutError);
    expect(d.pending).toBe(0);
  });

  it('the queue deadline stops once the create launches (launchTimeoutMs applies then)', async () => {
    const { d, factory, clock } = fakeDispatcher({ queueTimeoutMs: 100 });
    const create = d.acquire(SPEC);
    clock.advance(1_000);
    factory.launches[0]!.succeed();
    expect((await outcome(create)).state).toBe('fulfilled');
  });

  it('maxQueue: a create beyond it rejects with QueueFullError; one served at once never counts', async () => {
    const { d, factory } = fakeDispatcher({ maxQueue: 1 });
    factory.auto = true;
    const lease = await d.acquire(SPEC);
    const waiting = d.acquire(SPEC);
    await expect(d.acquire(SPEC)).rejects.toBeInstanceOf(QueueFullError);
    d.release(lease);
    await expect(waiting).resolves.toMatchObject({ browser: lease.browser });
  });

  it('serves higher priority first, FIFO within a priority, and reports a wait for a slot', async () => {
    const { d, factory } = fakeDispatcher();
    factory.auto = true;
    const lease = await d.acquire(SPEC);
    const order: string[] = [];
    const queued: string[] = [];
    const take = (name: string, priority: number) =>
      d.acquire(SPEC, { priority }, () => queued.push(name)).then((l) => {
        order.push(name);
        d.release(l);
      });
    const all = [take('low-1', 0), take('low-2', 0), take('high', 5), take('low-3', 0)];
    expect(queued).toEqual(['low-1', 'low-2', 'high', 'low-3']);
    d.release(lease);
    await Promise.all(all);
    expect(order).toEqual(['high', 'low-1', 'low-2', 'low-3']);
  });
});

describe('close()', () => {
  it('rejects waiting creates, aborts launches and closes browsers, even one whose close hangs', async () => {
    const { d, factory } = fakeDispatcher({ maxConcurrent: 2, closeTimeoutMs: 50 });
    factory.auto = true;
    const held = await d.acquire(SPEC);
    held.browser.closeWith = () => new Promise(() => {}); // a browser that never finishes closing
    factory.auto = false;
    const launching = d.acquire(SPEC);
    const waiting = d.acquire(SPEC);
    expect(factory.launches).toHaveLength(2);
    const closed = d.close();
    await expect(launching).rejects.toBeInstanceOf(ManagerClosedError);
    await expect(waiting).rejects.toBeInstanceOf(ManagerClosedError);
    expect(factory.launches[1]!.signal.aborted).toBe(true);
    factory.launches[1]!.result.reject(new CreateAbortedError('aborted'));
    await closed;
    expect(held.browser.closes).toBe(1);
    await expect(d.acquire(SPEC)).rejects.toBeInstanceOf(ManagerClosedError);
  });

  it('a launch in flight at close() is aborted and its create rejects with ManagerClosedError', async () => {
    const { d, factory } = fakeDispatcher();
    const create = d.acquire(SPEC);
    const closed = d.close();
    await expect(create).rejects.toBeInstanceOf(ManagerClosedError);
    expect(factory.launches[0]!.signal.aborted).toBe(true);
    factory.launches[0]!.result.reject(new CreateAbortedError('aborted'));
    await closed;
  });
});

describe('browser states', () => {
  it('an idle browser that crashed is retired as crashed and never handed out', async () => {
    const { d, factory, reported } = fakeDispatcher();
    factory.auto = true;
    const lease = await d.acquire(SPEC);
    d.release(lease);
    await flush();
    lease.browser.die();
    await flush();
    expect(reported.recycled).toEqual([{ pid: lease.browser.pid, reason: 'crashed' }]);
    expect((await d.acquire(SPEC)).browser).not.toBe(lease.browser);
  });

  it('a busy browser that crashed leaves the pool at once; the late release is a no-op', async () => {
    const { d, factory, reported } = fakeDispatcher();
    factory.auto = true;
    const lease = await d.acquire(SPEC);
    const waiting = d.acquire(SPEC);
    lease.browser.die();
    await flush();
    expect((await waiting).browser).not.toBe(lease.browser);
    d.release(lease);
    expect(reported.recycled).toEqual([{ pid: lease.browser.pid, reason: 'crashed' }]);
    expect(lease.browser.resets).toBe(0);
  });

  it('recycle rules: reuse false, max sessions, max age, max RSS, and an explicit retire reason', async () => {
    for (const [opts, reason] of [
      [{ maxSessionsPerBrowser: 1 }, 'max_sessions'],
      [{ maxBrowserAgeMs: 1 }, 'max_age'],
      [{ maxBrowserRssBytes: 10 }, 'max_rss'],
    ] as const) {
      const { d, factory, reported } = fakeDispatcher(opts);
      factory.auto = true;
      const lease = await d.acquire(SPEC);
      lease.browser.rss = 100;
      await new Promise((r) => setTimeout(r, 2));
      d.release(lease);
      expect(reported.recycled).toEqual([{ pid: lease.browser.pid, reason }]);
      await d.close();
    }
    const { d, factory, reported } = fakeDispatcher();
    factory.auto = true;
    const lease = await d.acquire(SPEC);
    d.release(lease, 'unresponsive');
    const fresh = await d.acquire(SPEC, { flavour: 'fresh' });
    expect(fresh.browser).not.toBe(lease.browser);
    d.release(fresh, 'no_reuse');
    expect(reported.recycled).toEqual([
      { pid: lease.browser.pid, reason: 'unresponsive' },
      { pid: fresh.browser.pid, reason: 'no_reuse' },
    ]);
  });
});

describe('shared browsers (several sessions per Chrome, each in a context of its own)', () => {
  it('creates share one launch up to its capacity; one more launches a second browser', async () => {
    const { d, factory } = fakeDispatcher({ maxConcurrent: 4 });
    const leases = [1, 2, 3, 4].map(() => d.acquire(SPEC, { capacity: 3 }));
    expect(factory.launches).toHaveLength(2);
    const b1 = factory.launches[0]!.succeed();
    const b2 = factory.launches[1]!.succeed();
    const got = await Promise.all(leases);
    expect(got.map((l) => l.browser)).toEqual([b1, b1, b1, b2]);
    expect(d.stats()).toMatchObject({ busy: 2, idle: 0 });
  });

  it('packs a new session into a browser with room, is never reset, and goes idle when its last session ends', async () => {
    const { d, factory } = fakeDispatcher({ maxConcurrent: 3 });
    factory.auto = true;
    const a = await d.acquire(SPEC, { capacity: 3 });
    const b = await d.acquire(SPEC, { capacity: 3 });
    expect(b.browser).toBe(a.browser);
    d.release(a);
    expect(d.stats()).toMatchObject({ busy: 1, idle: 0 });
    const c = await d.acquire(SPEC, { capacity: 3 });
    expect(c.browser).toBe(a.browser);
    d.release(b);
    d.release(c);
    expect(d.stats()).toMatchObject({ busy: 0, idle: 1, resetting: 0 });
    expect(a.browser.resets).toBe(0);
    expect(factory.launches).toHaveLength(1);
  });

  it('a shared browser with room counts as the spare: no other browser is launched for minIdle', async () => {
    const { d, factory } = fakeDispatcher({ maxConcurrent: 4, minIdle: 1 });
    factory.auto = true;
    await d.acquire(SPEC, { capacity: 3 });
    await flush();
    expect(factory.launches).toHaveLength(1);
    await d.acquire(SPEC, { capacity: 3 });
    await d.acquire(SPEC, { capacity: 3 });
    await flush();
    // Full now: a spare is launched for the next one.
    expect(factory.launches).toHaveLength(2);
  });

  it('a shared browser of capacity 1 is never reset either: its one session had a context of its own', async () => {
    const { d, factory } = fakeDispatcher({ maxConcurrent: 1 });
    factory.auto = true;
    const a = await d.acquire(SPEC, { capacity: 1 });
    d.release(a);
    expect(d.stats()).toMatchObject({ idle: 1, resetting: 0 });
    expect(a.browser.resets).toBe(0);
    const whole = await d.acquire(SPEC);
    expect(whole.browser).not.toBe(a.browser);
    d.release(whole);
    expect(whole.browser.resets).toBe(1);
  });

  it('whole and shared browsers of the same launch settings are pooled apart', async () => {
    const { d, factory } = fakeDispatcher({ maxConcurrent: 2 });
    factory.auto = true;
    const shared = await d.acquire(SPEC, { capacity: 4 });
    const whole = await d.acquire(SPEC);
    expect(whole.browser).not.toBe(shared.browser);
  });

  it('a recycle rule drains a shared browser: no new sessions, retired once its last one ends', async () => {
    const { d, factory, reported } = fakeDispatcher({ maxConcurrent: 4, maxSessionsPerBrowser: 2 });
    factory.auto = true;
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => d.acquire(SPEC, { capacity: 3 })));
    d.release(a!);
    d.release(b!); // served 2: max_sessions, but c still runs in it
    expect(reported.recycled).toEqual([]);
    const next = await d.acquire(SPEC, { capacity: 3 });
    expect(next.browser).not.toBe(c!.browser);
    d.release(c!);
    expect(reported.recycled).toEqual([{ pid: c!.browser.pid, reason: 'max_sessions' }]);
  });

  it('a shared browser that crashes frees every slot it held at once', async () => {
    const { d, factory, reported } = fakeDispatcher({ maxConcurrent: 2 });
    factory.auto = true;
    const [a, b] = await Promise.all([d.acquire(SPEC, { capacity: 2 }), d.acquire(SPEC, { capacity: 2 })]);
    expect(a!.browser).toBe(b!.browser);
    const waiting = d.acquire(SPEC, { capacity: 2 });
    a!.browser.die();
    const next = await waiting;
    expect(next.browser).not.toBe(a!.browser);
    d.release(a!);
    d.release(b!, 'crashed');
    expect(reported.recycled).toEqual([{ pid: a!.browser.pid, reason: 'crashed' }]);
  });
});

/** A small seeded generator (mulberry32), so a failing sequence can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('random interleavings (seeded)', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: every create settles, the bounds hold, close leaves nothing', async (seed) => {
    const rand = rng(seed);
    const maxConcurrent = 1 + Math.floor(rand() * 3);
    const minIdle = Math.floor(rand() * 2);
    const { d, factory, clock } = fakeDispatcher({ maxConcurrent, minIdle, queueTimeoutMs: rand() < 0.5 ? 50 : 0, launchTimeoutMs: 200, resetTimeoutMs: 100, maxSessionsPerBrowser: 3 });
    const creates: Promise<unknown>[] = [];
    const leases: { browser: { die(): void }; release: () => void }[] = [];
    for (let step = 0; step < 300; step++) {
      const r = rand();
      if (r < 0.3) {
        const ac = new AbortController();
        const p = d.acquire(SPEC, { signal: ac.signal, priority: Math.floor(rand() * 3), capacity: rand() < 0.4 ? 3 : 1 });
        creates.push(p.then((l) => leases.push({ browser: l.browser, release: () => d.release(l, rand() < 0.1 ? 'unresponsive' : undefined) }), () => {}));
        if (rand() < 0.2) setTimeout(() => ac.abort(), Math.floor(rand() * 5));
      } else if (r < 0.5) {
        const open = factory.launches.filter((l) => !settledLaunches.has(l));
        const l = open[Math.floor(rand() * open.length)];
        if (l) {
          settledLaunches.add(l);
          if (rand() < 0.8) {
            const b = l.succeed();
            if (rand() < 0.2) b.resetWith = () => (rand() < 0.5 ? Promise.reject(new Error('reset failed')) : new Promise(() => {}));
          } else l.result.reject(new Error('attach failed'));
        }
      } else if (r < 0.75) {
        leases.splice(Math.floor(rand() * leases.length), 1)[0]?.release();
      } else if (r < 0.85) {
        leases[Math.floor(rand() * leases.length)]?.browser.die();
      } else {
        clock.advance(Math.floor(rand() * 30));
      }
      await flush(1);
      const s = d.stats();
      expect(s.busy).toBeLessThanOrEqual(maxConcurrent);
      expect(s.busy + s.idle + s.resetting + s.launching).toBeLessThanOrEqual(maxConcurrent + minIdle);
    }
    // Let every launch come back, free every lease: every create settles.
    factory.auto = true;
    for (const l of factory.launches) if (!settledLaunches.has(l)) l.succeed();
    for (const l of leases.splice(0)) l.release();
    await d.close();
    await Promise.race([Promise.all(creates), new Promise((_, rej) => setTimeout(() => rej(new Error('a create never settled')), 2_000))]);
    expect(d.pending).toBe(0);
    expect(d.stats()).toMatchObject({ busy: 0, idle: 0, resetting: 0, launching: 0 });
  });
});

const settledLaunches = new WeakSet<object>();
