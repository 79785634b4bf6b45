/**
 * The dispatcher's browsers with fake browsers, in milliseconds: launches that hang or fail, a
 * browser that dies or fails while it is being reset, crashes of idle and busy browsers, the
 * recycle rules, and close(). The real-Chrome versions of the same faults are in faults.test.ts
 * and chaos.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CreateAbortedError, LaunchError, ManagerClosedError } from '../lib/index.js';
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
