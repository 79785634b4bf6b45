/**
 * The dispatcher's shared browsers (several sessions per Chrome, each in a context of its own)
 * with fake browsers, in milliseconds: packing up to capacity, spares, never resetting, recycle
 * rules that drain, and a crash that frees every slot at once. The real-Chrome versions are in
 * isolation-modes.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { SPEC, fakeDispatcher, flush } from './fakes.js';

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
